package main

import (
	"math"
	"net/http"
	"strconv"
	"sync"
)

// The /v1/embed and /v1/score replies are written by hand into a pooled
// buffer: the same JSON encoding/json would produce for embedResponse and
// scoreResponse (same numbers, byte for byte; object keys in field order
// rather than sorted), without reflection, map building and key sorting,
// and sent with a Content-Length in one write. At 26 fields × 16 floats
// per instance, encoding/json's reflection and maps were ~10% of the
// server's CPU and the float formatting ~18%.

var replyPool = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// appendFloat32 appends x as encoding/json formats a float32: the
// shortest representation, 'f' format for 1e-6 <= |x| < 1e21, else 'e'
// with a two-digit exponent trimmed to one ("1e-07" becomes "1e-7").
func appendFloat32(b []byte, x float32) []byte {
	f := float64(x)
	abs := math.Abs(f)
	fmt := byte('f')
	if abs != 0 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
		fmt = 'e'
	}
	b = strconv.AppendFloat(b, f, fmt, -1, 32)
	if fmt == 'e' {
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

func appendFloats(b []byte, xs []float32) []byte {
	b = append(b, '[')
	for i, x := range xs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendFloat32(b, x)
	}
	return append(b, ']')
}

// appendString appends s as a JSON string (strconv.AppendQuote's escapes
// are Go's, not JSON's, so this escapes by hand: quotes, backslashes,
// control characters, and <, >, & as encoding/json does).
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20 || c == '<' || c == '>' || c == '&':
			switch c {
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// writeReply sends body (a complete JSON value) with a Content-Length and
// returns the buffer to the pool.
func writeReply(w http.ResponseWriter, bp *[]byte, body []byte) error {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(body)
	if cap(body) <= 1<<20 { // do not pin huge batch replies in the pool
		*bp = body[:0]
		replyPool.Put(bp)
	}
	return err
}

// writeEmbedJSON writes the /v1/embed reply of q: per-field vectors
// (pooling none) or one pooled vector per instance (pooled: q.N x dim).
func writeEmbedJSON(w http.ResponseWriter, m *model, q *embedQuery, names []string, vecs, pooled []float32) error {
	bp := replyPool.Get().(*[]byte)
	b := append((*bp)[:0], `{"model":`...)
	b = appendString(b, m.id())
	b = append(b, `,"dim":`...)
	b = strconv.AppendInt(b, int64(m.dim), 10)
	b = append(b, `,"fields":[`...)
	for k, name := range names {
		if k > 0 {
			b = append(b, ',')
		}
		b = appendString(b, name)
	}
	b = append(b, `],"pooling":`...)
	b = appendString(b, q.Pooling)
	d, nq := m.dim, len(names)
	if pooled == nil {
		b = append(b, `,"embeddings":[`...)
		for i := range q.N {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '{')
			for k, name := range names {
				if k > 0 {
					b = append(b, ',')
				}
				b = appendString(b, name)
				b = append(b, ':')
				o := (i*nq + k) * d
				b = appendFloats(b, vecs[o:o+d])
			}
			b = append(b, '}')
		}
	} else {
		b = append(b, `,"pooled":[`...)
		for i := range q.N {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendFloats(b, pooled[i*d:(i+1)*d])
		}
	}
	b = append(b, "]}\n"...)
	return writeReply(w, bp, b)
}

// writeScoreJSON writes the /v1/score reply.
func writeScoreJSON(w http.ResponseWriter, m *model, p []float32) error {
	bp := replyPool.Get().(*[]byte)
	b := append((*bp)[:0], `{"model":`...)
	b = appendString(b, m.id())
	b = append(b, `,"scores":`...)
	b = appendFloats(b, p)
	b = append(b, "}\n"...)
	return writeReply(w, bp, b)
}
