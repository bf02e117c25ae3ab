package datasets

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"github.com/klauspost/compress/gzip"
	"io"
	"math/bits"
	"os"
	"strings"
)

// Raw format names accepted by OpenRaw and SchemaFor.
const (
	FormatCriteo        = "criteo"
	FormatAvazu         = "avazu"
	FormatMovieLens1M   = "movielens1m"
	FormatMovieLens100K = "movielens100k"
	// FormatCSV is a categorical CSV with a header (see OpenCSV).
	FormatCSV = "csv"
	// FormatLibSVM and FormatLibFFM are the sparse text formats (see
	// OpenLibSVM, OpenLibFFM).
	FormatLibSVM = "libsvm"
	FormatLibFFM = "libffm"
)

// rawFormats lists the raw format names, in the order error messages give them.
var rawFormats = []string{FormatCriteo, FormatAvazu, FormatMovieLens1M, FormatMovieLens100K,
	FormatMovieLensLatest, FormatCSV, FormatLibSVM, FormatLibFFM}

// RawFormats returns the raw format names OpenRaw accepts.
func RawFormats() []string { return append([]string(nil), rawFormats...) }

func unknownFormat(format string) error {
	return fmt.Errorf("%w %q (want one of %s)", ErrUnknownFormat, format, strings.Join(rawFormats, ", "))
}

// OpenRaw opens a raw dataset file of the given format: "criteo" (Criteo DAC
// TSV), "avazu" (Avazu CSV), "movielens1m", "movielens100k" or
// "movielens-latest", "csv", "libsvm" or "libffm" (the last three with
// default options: see OpenRawWith). Files may be plain or gzip-compressed
// (recognised by their magic bytes, whatever their names). For MovieLens,
// path is the dataset directory (see OpenMovieLens) and labels use the
// default threshold.
func OpenRaw(format, path string) (RecordReader, error) {
	return OpenRawWith(format, path, RawOptions{})
}

// OpenRawWith is OpenRaw with the options of the csv, libsvm and libffm
// readers.
func OpenRawWith(format, path string, opt RawOptions) (RecordReader, error) {
	switch format {
	case FormatCSV:
		return OpenCSV(path, opt)
	case FormatLibSVM:
		return OpenLibSVM(path, opt)
	case FormatLibFFM:
		return OpenLibFFM(path, opt)
	case FormatMovieLensLatest:
		return OpenMovieLens(path, format, opt.MovieLens)
	case FormatCriteo:
		return OpenCriteo(path)
	case FormatAvazu:
		return OpenAvazu(path)
	case FormatMovieLens1M, FormatMovieLens100K:
		return OpenMovieLens(path, format, opt.MovieLens)
	}
	return nil, unknownFormat(format)
}

// SchemaFor returns the schema of records read by OpenRaw for format. Each
// call returns a new Schema that the caller may modify. The csv, libsvm,
// libffm and movielens-latest schemas depend on the file: open it.
func SchemaFor(format string) (*Schema, error) {
	switch format {
	case FormatCSV, FormatLibSVM, FormatLibFFM, FormatMovieLensLatest:
		return nil, fmt.Errorf("the %s schema depends on the file: open it to read its schema", format)
	case FormatCriteo:
		return criteoSchema(), nil
	case FormatAvazu:
		return avazuSchema(), nil
	case FormatMovieLens1M, FormatMovieLens100K:
		return movieLensSchema(format, defaultLabelThreshold), nil
	}
	return nil, unknownFormat(format)
}

// rawBufferSize is the size of the line buffer of a raw source, and of the
// read buffer under a gzip stream.
const rawBufferSize = 1 << 20

// maxRawLine bounds the length of one line; a longer line is a malformed row
// (this protects against reading a binary file into memory whole). It is a
// variable for tests.
var maxRawLine = 64 << 20

// lineSource reads the lines of one raw text file, decompressing gzip on the
// fly and counting lines. The line returned by next excludes its "\n", one
// trailing "\r" and, on the first line, a UTF-8 byte-order mark; it aliases
// the source's buffer until the next call.
type lineSource struct {
	name string    // file name used in errors
	file io.Closer // underlying file, nil when reading from a plain reader
	gz   *gzip.Reader
	br   *bufio.Reader
	line int64  // number of the line last returned (1-based)
	long []byte // assembles lines longer than br's buffer
	err  error  // sticky read error
}

// openLineSource opens path, detecting gzip by its magic bytes.
func openLineSource(path string) (*lineSource, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	src, err := newLineSource(path, f)
	if err != nil {
		f.Close()
		return nil, err
	}
	src.file = f
	return src, nil
}

// newLineSource reads lines from r, named name in errors, detecting gzip by
// its magic bytes. Closing the source does not close r.
func newLineSource(name string, r io.Reader) (*lineSource, error) {
	return newLineSourceSize(name, r, rawBufferSize)
}

// newLineSourceSize is newLineSource with a buffer of size bytes: lines
// longer than that are assembled in a separate buffer.
func newLineSourceSize(name string, r io.Reader, size int) (*lineSource, error) {
	br := bufio.NewReaderSize(r, size)
	src := &lineSource{name: name, br: br}
	magic, err := br.Peek(2)
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: gzip header: %w", name, err)
		}
		src.gz = gz
		src.br = bufio.NewReaderSize(gz, size)
	}
	return src, nil
}

// utf8BOM is the byte-order mark some tools write at the start of a file;
// it is not part of the first line.
var utf8BOM = []byte("\ufeff")

// next returns the next line. It returns io.EOF after the last line, a
// *RowError for an over-long line (the source stays usable), and any other
// error (a truncated or corrupt gzip stream, an I/O error) wrapped with the
// file name and the line reached; such errors are sticky.
func (s *lineSource) next() ([]byte, error) {
	if s.err != nil {
		return nil, s.err
	}
	b, err := s.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		b, err = s.readLong(b)
	}
	if err != nil {
		if err != io.EOF {
			s.err = fmt.Errorf("%s: reading line %d: %w", s.name, s.line+1, err)
			return nil, s.err
		}
		if len(b) == 0 {
			return nil, io.EOF
		}
		// A last line without "\n": return it; the next call sees io.EOF.
	}
	s.line++
	if b == nil {
		// readLong dropped an over-long line.
		return nil, &RowError{File: s.name, Line: s.line,
			Err: fmt.Errorf("line longer than %d bytes", maxRawLine)}
	}
	if s.line == 1 && bytes.HasPrefix(b, utf8BOM) {
		b = b[len(utf8BOM):]
	}
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b, nil
}

// readLong assembles a line that does not fit br's buffer, of which first is
// the beginning. A line longer than maxRawLine is consumed and dropped: the
// result is then nil with a nil or io.EOF error.
func (s *lineSource) readLong(first []byte) ([]byte, error) {
	s.long = append(s.long[:0], first...)
	tooLong := false
	for {
		b, err := s.br.ReadSlice('\n')
		if !tooLong {
			s.long = append(s.long, b...)
			if len(s.long) > maxRawLine {
				tooLong = true
				s.long = s.long[:0]
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if tooLong {
			if err == nil || err == io.EOF {
				return nil, nil
			}
			return nil, err
		}
		return s.long, err
	}
}

// Close releases the source; it closes the file when the source owns it.
func (s *lineSource) Close() error {
	// gzip.Reader.Close only repeats a decompression error that next has
	// already reported, so its result is ignored.
	s.gz = nil
	var err error
	if s.file != nil {
		err = s.file.Close()
		s.file = nil
	}
	if s.err == nil {
		s.err = fmt.Errorf("%s: %w", s.name, os.ErrClosed)
	}
	return err
}

// fitRecord sizes rec's slices for a schema with the given column counts,
// reusing them when they already fit.
func fitRecord(rec *Record, nDense, nCat, nExtra int) {
	if len(rec.Dense) != nDense {
		rec.Dense = make([]int64, nDense)
	}
	if len(rec.DenseValid) != nDense {
		rec.DenseValid = make([]bool, nDense)
	}
	if len(rec.Cat) != nCat {
		rec.Cat = make([]string, nCat)
	}
	if len(rec.Extra) != nExtra {
		rec.Extra = make([]string, nExtra)
	}
}

// parseDecimal parses a base-10 int64 with an optional leading '-' (no '+',
// no spaces, no empty string). It does not allocate.
func parseDecimal(b []byte) (int64, bool) {
	neg := false
	if len(b) > 0 && b[0] == '-' {
		neg = true
		b = b[1:]
	}
	if len(b) == 0 {
		return 0, false
	}
	for len(b) > 1 && b[0] == '0' {
		b = b[1:]
	}
	if len(b) > 19 {
		return 0, false
	}
	var u uint64
	for _, c := range b {
		d := c - '0'
		if d > 9 {
			return 0, false
		}
		u = u*10 + uint64(d)
	}
	// 19 digits fit a uint64 without overflow; check the int64 range.
	if neg {
		if u > 1<<63 {
			return 0, false
		}
		return -int64(u), true
	}
	if u > 1<<63-1 {
		return 0, false
	}
	return int64(u), true
}

// errNotInteger describes a field that parseDecimal rejected.
func errNotInteger(b []byte) error {
	return fmt.Errorf("want a base-10 integer, got %q", b)
}

// splitFieldsInto splits line on sep, reusing dst, and returns the fields.
func splitFieldsInto(dst [][]byte, line []byte, sep []byte) [][]byte {
	dst = dst[:0]
	for {
		i := bytes.Index(line, sep)
		if i < 0 {
			return append(dst, line)
		}
		dst = append(dst, line[:i])
		line = line[i+len(sep):]
	}
}

// findSeps stores in pos the indexes of the first len(pos) bytes of b equal
// to sep, and returns how many b holds in all and whether b is pure ASCII.
// It scans eight bytes at a time, which makes it several times faster than
// repeated bytes.IndexByte calls on the short fields of CTR data.
func findSeps(b []byte, sep byte, pos []int) (n int, ascii bool) {
	const (
		ones = 0x0101010101010101
		low7 = 0x7f7f7f7f7f7f7f7f
		high = 0x8080808080808080
	)
	pattern := ones * uint64(sep)
	var or uint64
	i := 0
	for ; i+8 <= len(b); i += 8 {
		w := binary.LittleEndian.Uint64(b[i:])
		or |= w
		x := w ^ pattern
		// The high bit of each byte of m is set iff that byte of x is zero
		// (exact: no borrow crosses bytes).
		m := ^(((x & low7) + low7) | x | low7)
		for m != 0 {
			if n < len(pos) {
				pos[n] = i + bits.TrailingZeros64(m)>>3
			}
			n++
			m &= m - 1
		}
	}
	for ; i < len(b); i++ {
		c := b[i]
		or |= uint64(c)
		if c == sep {
			if n < len(pos) {
				pos[n] = i
			}
			n++
		}
	}
	return n, or&high == 0
}
