package main

import (
	"encoding/binary"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// BinaryContentType is the media type of /v1/embed's binary reply, sent
// when the request's Accept header asks for it. The body is the vectors as
// little-endian float32, no padding: with pooling "none", instances x
// fields x dim values (fields in the order of the X-Embtab-Fields header);
// pooled, instances x dim. Headers X-Embtab-Model, X-Embtab-Dim,
// X-Embtab-Fields (comma-separated) and X-Embtab-Pooling describe it.
// Formatting ~400 floats as JSON text costs more CPU than the lookup
// itself; clients that care about throughput ask for this.
const BinaryContentType = "application/x-embtab-f32"

// wantsBinary reports whether the Accept header lists BinaryContentType.
func wantsBinary(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == BinaryContentType {
			return true
		}
	}
	return false
}

// writeBinaryEmbed writes the vectors of q (vecs: instances x fields x
// dim) in the binary format, pooling them first if q asks for it.
func writeBinaryEmbed(w http.ResponseWriter, m *model, q *embedQuery, vecs []float32) error {
	d, nq := m.dim, len(q.Fields)
	names := make([]string, nq)
	for k, f := range q.Fields {
		names[k] = m.schema.input(f)
	}
	out := vecs
	if q.Pooling != poolNone {
		out = poolVectors(q, vecs, d, nq)
	}
	buf := make([]byte, 4*len(out))
	for i, v := range out {
		binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(v))
	}
	h := w.Header()
	h.Set("Content-Type", BinaryContentType)
	h.Set("Content-Length", strconv.Itoa(len(buf)))
	h.Set("X-Embtab-Model", m.id())
	h.Set("X-Embtab-Dim", strconv.Itoa(d))
	h.Set("X-Embtab-Fields", strings.Join(names, ","))
	h.Set("X-Embtab-Pooling", q.Pooling)
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(buf)
	return err
}
