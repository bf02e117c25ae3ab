package artifact

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"hash"
	"io"
	"math"
	"os"

	"github.com/embtab/embtab/quant"
)

// Table file (rows-NNN.emb) layout, little-endian:
//
//	offset  size        field
//	0       8           magic "EMBTROWS"
//	8       4           format version (1)
//	12      4           header size (64)
//	16      16          codec name, ASCII, NUL-padded ("int8")
//	32      8           rows
//	40      4           dim: values per row
//	44      4           row bytes: the codec's RowBytes(dim)
//	48      4           stride: bytes from one row to the next
//	52      8           reserved, zero
//	60      4           CRC-32C of bytes [0, 60)
//	64      rows*stride row i at 64 + i*stride; padding bytes are zero
//	        24          footer (layout.go), body = the rows
//
// The row section starts at offset 64, the end of the header, so in a
// mapped file (page-aligned) it starts on a cache line: the alignment is
// the file's, not each row's. By default rows are
// packed, stride = row bytes: an int8 row of dim 64 takes its 72 bytes,
// not 128, and the file is as small as the codec allows. A writer may pad
// rows to a power of two (WriteOptions.RowAlign; 64 starts every row on a
// cache line). Readers take the stride from the header and accept any
// value from the row bytes to the row bytes + MaxRowAlign, whatever it is
// a multiple of: artifacts written before rows were packed (stride the
// next power of two up to 64 bytes, else the next multiple of 64) read
// as they always did.
const (
	rowsMagic   = "EMBTROWS"
	rowsVersion = 1
	maxCodecLen = 16
	// writeChunkRows is the number of rows encoded per buffered write.
	writeChunkRows = 1024
)

// rowsHeader is the decoded header of a table file.
type rowsHeader struct {
	codec                       string
	rows, dim, rowBytes, stride int
}

func (h rowsHeader) bodyLen() int64 { return int64(h.rows) * int64(h.stride) }

func (h rowsHeader) encode() []byte {
	b := make([]byte, headerSize)
	copy(b, rowsMagic)
	binary.LittleEndian.PutUint32(b[8:], rowsVersion)
	binary.LittleEndian.PutUint32(b[12:], headerSize)
	copy(b[16:32], h.codec)
	binary.LittleEndian.PutUint64(b[32:], uint64(h.rows))
	binary.LittleEndian.PutUint32(b[40:], uint32(h.dim))
	binary.LittleEndian.PutUint32(b[44:], uint32(h.rowBytes))
	binary.LittleEndian.PutUint32(b[48:], uint32(h.stride))
	sealHeader(b)
	return b
}

// parseRowsFile validates a table file held in data (magic, version, header
// checksum, shape, footer and, with checkBody, the rows' checksum) and
// returns its header and rows.
func parseRowsFile(name string, data []byte, checkBody bool) (rowsHeader, []byte, error) {
	var h rowsHeader
	if err := checkHeader(name, data, rowsMagic, rowsVersion); err != nil {
		return h, nil, err
	}
	if n := binary.LittleEndian.Uint32(data[12:]); n != headerSize {
		return h, nil, fmt.Errorf("%s: header size %d, want %d: %w", name, n, headerSize, ErrCorrupt)
	}
	h.codec = string(bytes.TrimRight(data[16:32], "\x00"))
	rows := binary.LittleEndian.Uint64(data[32:])
	h.dim = int(binary.LittleEndian.Uint32(data[40:]))
	h.rowBytes = int(binary.LittleEndian.Uint32(data[44:]))
	h.stride = int(binary.LittleEndian.Uint32(data[48:]))
	c, err := quant.Lookup(h.codec)
	if err != nil {
		return h, nil, fmt.Errorf("%s: %w: %w", name, ErrCorrupt, err)
	}
	switch {
	case rows < 1 || rows > math.MaxInt32:
		return h, nil, fmt.Errorf("%s: %d rows: %w", name, rows, ErrCorrupt)
	case h.dim < 1 || h.rowBytes != c.RowBytes(h.dim):
		return h, nil, fmt.Errorf("%s: dim %d with %d-byte %s rows: %w", name, h.dim, h.rowBytes, h.codec, ErrCorrupt)
	case h.stride < h.rowBytes || h.stride > h.rowBytes+MaxRowAlign:
		return h, nil, fmt.Errorf("%s: stride %d for %d-byte rows: %w", name, h.stride, h.rowBytes, ErrCorrupt)
	}
	h.rows = int(rows)
	if err := checkFooter(name, data, h.bodyLen(), checkBody); err != nil {
		return h, nil, err
	}
	return h, data[headerSize : headerSize+h.bodyLen()], nil
}

// MaxRowAlign is the largest row alignment WriteOptions.RowAlign takes.
const MaxRowAlign = 4096

// RowStride returns the stride of rows of rowBytes bytes aligned to align
// bytes (0 or a power of two up to MaxRowAlign): rowBytes itself (packed
// rows) for align 0 or 1, else rowBytes rounded up to a multiple of align.
func RowStride(rowBytes, align int) int {
	if align <= 1 {
		return rowBytes
	}
	return (rowBytes + align - 1) &^ (align - 1)
}

// rowSource writes rows [lo, hi) of a row set, row-major, into dst.
type rowSource func(lo, hi int, dst []float32) error

// quantStats accumulates the error of quantizing rows.
type quantStats struct {
	maxAbs, sumSq, sumSqX float64
	n                     int64
}

func (s *quantStats) add(src, dec []float32) {
	for j, x := range src {
		e := math.Abs(float64(dec[j]) - float64(x))
		s.maxAbs = max(s.maxAbs, e)
		s.sumSq += e * e
		s.sumSqX += float64(x) * float64(x)
	}
	s.n += int64(len(src))
}

func (s *quantStats) result() *QuantError {
	q := &QuantError{MaxAbs: s.maxAbs}
	if s.n > 0 {
		q.RMSE = math.Sqrt(s.sumSq / float64(s.n))
	}
	if s.sumSqX > 0 {
		q.Rel = math.Sqrt(s.sumSq / s.sumSqX)
	}
	return q
}

// writeRowsFile writes a table file of rows rows of dim values read from
// src and encoded with c, fsyncs it and returns its file entry (its
// checksum by h64, a new Manifest.fileHash) and row set description; rows
// are rowAlign-aligned (0: packed, see RowStride). For a codec other than
// fp32 it also measures the quantization error. With raw (rows rows
// already in c's format, packed) the rows are written as they are and src
// is not read: a table trained in int8 keeps its codes, and no error is
// recorded.
func writeRowsFile(path, name string, c quant.Codec, rows, dim, rowAlign int, h64 hash.Hash64, src rowSource, raw []byte) (FileSpec, RowSetSpec, error) {
	fail := func(err error) (FileSpec, RowSetSpec, error) {
		return FileSpec{}, RowSetSpec{}, fmt.Errorf("write %s: %w", path, err)
	}
	if len(c.Name()) > maxCodecLen {
		return fail(fmt.Errorf("codec name %q longer than %d bytes: %w", c.Name(), maxCodecLen, ErrInvalid))
	}
	rb := c.RowBytes(dim)
	h := rowsHeader{codec: c.Name(), rows: rows, dim: dim, rowBytes: rb, stride: RowStride(rb, rowAlign)}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return fail(err)
	}
	defer f.Close()
	w := bufio.NewWriterSize(io.MultiWriter(f, h64), 1<<20)
	w.Write(h.encode())
	var bodyCRC uint32
	var stats *quantStats
	if raw != nil && len(raw) != rows*rb {
		return fail(fmt.Errorf("%d bytes of %s rows for %d rows of %d bytes: %w", len(raw), c.Name(), rows, rb, ErrInvalid))
	}
	if c.Name() != quant.FP32.Name() && raw == nil {
		stats = new(quantStats)
	}
	vals := make([]float32, writeChunkRows*dim)
	dec := make([]float32, dim)
	buf := make([]byte, writeChunkRows*h.stride)
	for lo := 0; lo < rows; lo += writeChunkRows {
		hi := min(lo+writeChunkRows, rows)
		b := buf[:(hi-lo)*h.stride]
		clear(b)
		if raw != nil {
			for i := range hi - lo {
				copy(b[i*h.stride:i*h.stride+rb], raw[(lo+i)*rb:(lo+i+1)*rb])
			}
			bodyCRC = updateChecksum(bodyCRC, b)
			if _, err := w.Write(b); err != nil {
				return fail(err)
			}
			continue
		}
		v := vals[:(hi-lo)*dim]
		if err := src(lo, hi, v); err != nil {
			return fail(fmt.Errorf("rows [%d, %d): %w", lo, hi, err))
		}
		for i := range hi - lo {
			row, enc := v[i*dim:(i+1)*dim], b[i*h.stride:i*h.stride+rb]
			if err := c.EncodeRow(enc, row); err != nil {
				return fail(fmt.Errorf("row %d: %w", lo+i, err))
			}
			if stats != nil {
				if err := c.DecodeRow(dec, enc); err != nil {
					return fail(fmt.Errorf("row %d: %w", lo+i, err))
				}
				stats.add(row, dec)
			}
		}
		bodyCRC = updateChecksum(bodyCRC, b)
		if _, err := w.Write(b); err != nil {
			return fail(err)
		}
	}
	w.Write(appendFooter(nil, h.bodyLen(), bodyCRC))
	if err := w.Flush(); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(fmt.Errorf("fsync: %w", err))
	}
	if err := f.Close(); err != nil {
		return fail(err)
	}
	set := RowSetSpec{File: name, Rows: rows, Stride: h.stride, RowBytes: rb}
	if stats != nil {
		set.QuantError = stats.result()
	}
	return FileSpec{Name: name, Bytes: int64(headerSize) + h.bodyLen() + footerSize, XXH3: Hex64(h64.Sum64())}, set, nil
}
