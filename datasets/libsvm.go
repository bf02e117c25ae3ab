package datasets

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
)

// svmReader reads the libsvm (label index:value ...) and libffm (label
// field:index:value ...) formats of one-hot categorical data.
type svmReader struct {
	src     *lineSource
	schema  *Schema
	ffm     bool
	offsets []int64 // libsvm by offsets; nil = positional
	pending []byte  // the first line, read at open to size the schema
	pendErr error   // the error reading it
	hasPend bool
	seen    []bool   // fields set in the current row
	tokens  [][]byte // reused split buffer
	err     error
}

// OpenLibSVM opens a libsvm file, plain or gzip-compressed: one row per
// line, "label index:value index:value ...", tokens separated by spaces or
// tabs, label 0 or 1 (also -1 for 0, +1, 0.0, 1.0). Values must be 1: these
// are one-hot categorical features, the feature index is the value (as a
// decimal string) of its field. Fields are assigned by position (the k-th
// pair is field k) or, with opt.Offsets, by index range; see RawOptions.
// Frappe, KDD12 and the libsvm releases of Criteo and Avazu use this form.
func OpenLibSVM(path string, opt RawOptions) (RecordReader, error) {
	return openSVM(path, opt, false)
}

// OpenLibFFM opens a libffm file, plain or gzip-compressed: "label
// field:index:value ...", field a number from 0 that indexes opt.Fields,
// values 1 as in OpenLibSVM. A field absent from a row is missing.
func OpenLibFFM(path string, opt RawOptions) (RecordReader, error) {
	return openSVM(path, opt, true)
}

func openSVM(path string, opt RawOptions, ffm bool) (RecordReader, error) {
	name := FormatLibSVM
	if ffm {
		name = FormatLibFFM
	}
	src, err := openLineSource(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	r, err := newSVMReader(src, opt, ffm)
	if err != nil {
		src.Close()
		return nil, err
	}
	return r, nil
}

func newSVMReader(src *lineSource, opt RawOptions, ffm bool) (*svmReader, error) {
	r := &svmReader{src: src, ffm: ffm}
	format := FormatLibSVM
	if ffm {
		format = FormatLibFFM
		if len(opt.Offsets) > 0 {
			return nil, fmt.Errorf("%s: field offsets apply to libsvm only: a libffm row names its fields", src.name)
		}
	}
	fields := append([]string(nil), opt.Fields...)
	if len(opt.Offsets) > 0 {
		if len(opt.Offsets) != len(fields) {
			return nil, fmt.Errorf("%s: %d field offsets for %d field names", src.name, len(opt.Offsets), len(fields))
		}
		for i := 1; i < len(opt.Offsets); i++ {
			if opt.Offsets[i] <= opt.Offsets[i-1] {
				return nil, fmt.Errorf("%s: field offsets must ascend strictly: %s at %d after %s at %d",
					src.name, fields[i], opt.Offsets[i], fields[i-1], opt.Offsets[i-1])
			}
		}
		r.offsets = append([]int64(nil), opt.Offsets...)
	}
	// Read the first line now: it sizes the schema when no names are given.
	line, err := src.next()
	switch {
	case errors.Is(err, io.EOF):
		if len(fields) == 0 {
			return nil, fmt.Errorf("%s: empty file: no row to infer the fields from", src.name)
		}
		r.pendErr = io.EOF
	case err != nil:
		if len(fields) == 0 {
			return nil, fmt.Errorf("%s: reading the first row: %w", src.name, err)
		}
		r.pendErr = err
	default:
		r.pending = append([]byte(nil), line...)
	}
	r.hasPend = true
	if len(fields) == 0 {
		n, err := r.countFields(r.pending)
		if err != nil {
			return nil, fmt.Errorf("%s:1: inferring the fields from the first row: %w (name them with the fields option: train --fields)", src.name, err)
		}
		for i := 0; i < n; i++ {
			fields = append(fields, "f"+strconv.Itoa(i))
		}
	}
	s := &Schema{Dataset: format, Label: "label", Categorical: fields}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", src.name, err)
	}
	r.schema = s
	r.seen = make([]bool, len(fields))
	return r, nil
}

// countFields returns the number of fields line implies: its pairs
// (libsvm), or one more than its largest field number (libffm).
func (r *svmReader) countFields(line []byte) (int, error) {
	r.tokens = splitSpace(r.tokens, line)
	if len(r.tokens) < 2 {
		return 0, errors.New("no features")
	}
	if !r.ffm {
		return len(r.tokens) - 1, nil
	}
	max := -1
	for _, t := range r.tokens[1:] {
		i := bytes.IndexByte(t, ':')
		f, ok := parseDecimal(t[:max0(i)])
		if i < 0 || !ok || f < 0 || f >= 1<<20 {
			return 0, fmt.Errorf("want field:index:value, got %q", t)
		}
		if int(f) > max {
			max = int(f)
		}
	}
	return max + 1, nil
}

func max0(i int) int {
	if i < 0 {
		return 0
	}
	return i
}

// Schema returns the schema.
func (r *svmReader) Schema() *Schema { return r.schema }

// Read parses the next row into rec. On a *RowError the contents of rec are
// unspecified.
func (r *svmReader) Read(rec *Record) error {
	if r.err != nil {
		return r.err
	}
	var line []byte
	var lineNo int64
	if r.hasPend {
		r.hasPend = false
		if r.pendErr != nil {
			return r.pendErr
		}
		line, lineNo = r.pending, 1
		r.pending = nil
	} else {
		var err error
		if line, err = r.src.next(); err != nil {
			return err
		}
		lineNo = r.src.line
	}
	fitRecord(rec, 0, len(r.schema.Categorical), 0)
	if field, err := r.parse(line, rec); err != nil {
		return &RowError{File: r.src.name, Line: lineNo, Field: field, Err: err}
	}
	return nil
}

func (r *svmReader) parse(line []byte, rec *Record) (field string, err error) {
	r.tokens = splitSpace(r.tokens, line)
	t := r.tokens
	if len(t) == 0 {
		return "", errors.New("empty row")
	}
	switch string(t[0]) {
	case "0", "0.0", "-1", "-1.0":
		rec.Label = 0
	case "1", "1.0", "+1", "+1.0":
		rec.Label = 1
	default:
		return "label", fmt.Errorf("want 0 or 1 (or -1/+1), got %q", t[0])
	}
	pairs := t[1:]
	names := r.schema.Categorical
	positional := !r.ffm && r.offsets == nil
	if positional && len(pairs) != len(names) {
		return "", fmt.Errorf("want %d index:value pairs (one per field), got %d", len(names), len(pairs))
	}
	for i := range r.seen {
		r.seen[i] = false
		rec.Cat[i] = ""
	}
	for k, p := range pairs {
		var f int
		if r.ffm {
			i := bytes.IndexByte(p, ':')
			n, ok := parseDecimal(p[:max0(i)])
			if i < 0 || !ok {
				return "", fmt.Errorf("pair %d: want field:index:value, got %q", k+1, p)
			}
			if n < 0 || n >= int64(len(names)) {
				return "", fmt.Errorf("pair %d: field %d out of range (the file has %d fields: name them with the fields option)", k+1, n, len(names))
			}
			f, p = int(n), p[i+1:]
		}
		i := bytes.IndexByte(p, ':')
		if i < 0 {
			return fieldName(names, f, positional, k), fmt.Errorf("pair %d: want index:value, got %q", k+1, p)
		}
		idx, val := p[:i], p[i+1:]
		n, ok := parseDecimal(idx)
		if !ok || n < 0 || idx[0] == '-' {
			return fieldName(names, f, positional, k), fmt.Errorf("pair %d: want a non-negative integer index, got %q", k+1, idx)
		}
		if !isOne(val) {
			return fieldName(names, f, positional, k), fmt.Errorf("pair %d: value %q: only one-hot features (value 1) are supported", k+1, val)
		}
		switch {
		case positional:
			f = k
		case r.offsets != nil:
			f = sort.Search(len(r.offsets), func(j int) bool { return r.offsets[j] > n }) - 1
			if f < 0 {
				return "", fmt.Errorf("pair %d: index %d is below the first field offset %d", k+1, n, r.offsets[0])
			}
		}
		if r.seen[f] {
			return names[f], fmt.Errorf("pair %d: a second value in one field (multi-valued fields are not supported by this reader)", k+1)
		}
		r.seen[f] = true
		if len(idx) > 1 && idx[0] == '0' {
			rec.Cat[f] = strconv.FormatInt(n, 10) // "007" is index 7
		} else {
			rec.Cat[f] = bytesString(idx)
		}
	}
	return "", nil
}

func fieldName(names []string, f int, positional bool, k int) string {
	if positional {
		if k < len(names) {
			return names[k]
		}
		return ""
	}
	return names[f]
}

// isOne reports whether b is a decimal number equal to 1.
func isOne(b []byte) bool {
	if len(b) == 1 && b[0] == '1' {
		return true
	}
	v, err := strconv.ParseFloat(string(b), 64)
	return err == nil && v == 1
}

// splitSpace splits line on runs of spaces and tabs, reusing dst.
func splitSpace(dst [][]byte, line []byte) [][]byte {
	dst = dst[:0]
	i := 0
	for i < len(line) {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		j := i
		for j < len(line) && line[j] != ' ' && line[j] != '\t' {
			j++
		}
		if j > i {
			dst = append(dst, line[i:j])
		}
		i = j
	}
	return dst
}

// Close closes the file.
func (r *svmReader) Close() error { return r.src.Close() }

// ReadFieldOffsets reads a field offsets file for libsvm data: one field per
// line, "name offset" (space or tab separated), offsets strictly ascending;
// blank lines and lines starting with '#' are ignored.
func ReadFieldOffsets(path string) (names []string, offsets []int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("field offsets: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	seen := map[string]bool{}
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" || s[0] == '#' {
			continue
		}
		parts := strings.Fields(s)
		if len(parts) != 2 {
			return nil, nil, fmt.Errorf("%s:%d: want \"name offset\", got %q", path, line, s)
		}
		off, err := strconv.ParseInt(parts[1], 10, 64)
		if err != nil || off < 0 {
			return nil, nil, fmt.Errorf("%s:%d: offset %q: want a non-negative integer", path, line, parts[1])
		}
		if seen[parts[0]] {
			return nil, nil, fmt.Errorf("%s:%d: field %q appears twice", path, line, parts[0])
		}
		if n := len(offsets); n > 0 && off <= offsets[n-1] {
			return nil, nil, fmt.Errorf("%s:%d: offset %d of %s is not above %d of %s: offsets must ascend",
				path, line, off, parts[0], offsets[n-1], names[n-1])
		}
		seen[parts[0]] = true
		names = append(names, parts[0])
		offsets = append(offsets, off)
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("field offsets %s: %w", path, err)
	}
	if len(names) == 0 {
		return nil, nil, fmt.Errorf("field offsets %s: no fields", path)
	}
	return names, offsets, nil
}
