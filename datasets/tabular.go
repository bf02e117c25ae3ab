package datasets

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// RawOptions configure the readers of the formats whose columns the file or
// the user defines: csv, libsvm and libffm. The other formats ignore them.
type RawOptions struct {
	// Label names the label column of a csv file (default "label").
	Label string
	// Dense names the csv columns read as integer dense features (an empty
	// cell is a missing value); every other column but the label is
	// categorical.
	Dense []string
	// Fields names the fields of a libsvm or libffm file, in order. For
	// libffm, field numbers index it; without it a libffm file's fields are
	// f0..f(n-1), n one more than the largest field number of the first row.
	// For libsvm without Offsets, the k-th index:value pair of a row is field
	// k, and Fields (default f0.., as many as the first row has pairs) fixes
	// how many pairs a row holds.
	Fields []string
	// Offsets, libsvm only: Offsets[i] is the first feature index of field
	// Fields[i] (strictly ascending, Offsets[0] <= the smallest index). A
	// pair belongs to the last field whose offset is <= its index; a field
	// absent from a row is missing. See ReadFieldOffsets.
	Offsets []int64
	// MovieLens configures the MovieLens readers (label threshold, bags).
	MovieLens MovieLensOptions
}

// defaultCSVLabel is the label column of a csv file when RawOptions.Label is
// empty.
const defaultCSVLabel = "label"

// csvReader reads a categorical CSV file with a header line.
type csvReader struct {
	src    *lineSource
	schema *Schema
	label  int   // column index of the label
	dense  []int // column index of each dense feature
	cat    []int // column index of each categorical field
	ncols  int
	fields [][]byte // reused split buffer
	quoted []byte   // unquoted cells of a line with quotes
	err    error
}

// OpenCSV opens a categorical CSV file, plain or gzip-compressed, whose
// first line is a header naming the columns (the form BARS publishes its
// splits in). The label column (opt.Label, default "label") holds 0 or 1
// (also written 0.0 / 1.0); the columns named in opt.Dense hold integers (or
// nothing: missing); every other column is a categorical field, in header
// order, its cell the value ("" = missing). Cells may be quoted with '"'
// (a doubled quote inside is one quote); a quoted cell may not span lines.
// The Cat strings alias the reader's buffers and are valid until the next
// Read.
func OpenCSV(path string, opt RawOptions) (RecordReader, error) {
	src, err := openLineSource(path)
	if err != nil {
		return nil, fmt.Errorf("open csv: %w", err)
	}
	r, err := newCSVReader(src, opt)
	if err != nil {
		src.Close()
		return nil, err
	}
	return r, nil
}

func newCSVReader(src *lineSource, opt RawOptions) (*csvReader, error) {
	header, err := src.next()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: empty file: a csv file starts with a header line naming its columns", src.name)
		}
		return nil, fmt.Errorf("%s: header: %w", src.name, err)
	}
	r := &csvReader{src: src}
	cells, err := r.split(header)
	if err != nil {
		return nil, fmt.Errorf("%s:1: header: %w", src.name, err)
	}
	names := make([]string, len(cells))
	index := make(map[string]int, len(cells))
	for i, c := range cells {
		n := strings.TrimSpace(string(c))
		if n == "" {
			return nil, fmt.Errorf("%s:1: header: column %d has no name", src.name, i+1)
		}
		if _, dup := index[n]; dup {
			return nil, fmt.Errorf("%s:1: header: column %q appears twice", src.name, n)
		}
		names[i], index[n] = n, i
	}
	label := opt.Label
	if label == "" {
		label = defaultCSVLabel
	}
	li, ok := index[label]
	if !ok {
		return nil, fmt.Errorf("%s:1: no label column %q in the header (columns: %s); name it with the label option (train --label)",
			src.name, label, strings.Join(names, ","))
	}
	r.label, r.ncols = li, len(names)
	s := &Schema{Dataset: FormatCSV, Label: label}
	isDense := make(map[int]bool)
	for _, d := range opt.Dense {
		i, ok := index[d]
		switch {
		case !ok:
			return nil, fmt.Errorf("%s:1: dense column %q is not in the header (columns: %s)", src.name, d, strings.Join(names, ","))
		case i == li:
			return nil, fmt.Errorf("%s:1: column %q is the label, not a dense feature", src.name, d)
		case isDense[i]:
			return nil, fmt.Errorf("%s:1: dense column %q named twice", src.name, d)
		}
		isDense[i] = true
		r.dense = append(r.dense, i)
		s.Dense = append(s.Dense, d)
	}
	for i, n := range names {
		if i != li && !isDense[i] {
			r.cat = append(r.cat, i)
			s.Categorical = append(s.Categorical, n)
		}
	}
	if len(s.Categorical) == 0 {
		return nil, fmt.Errorf("%s:1: no categorical column (the header has only the label and dense columns)", src.name)
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("%s:1: %w", src.name, err)
	}
	r.schema = s
	return r, nil
}

// Schema returns the schema the header defines.
func (r *csvReader) Schema() *Schema { return r.schema }

// Read parses the next row into rec. On a *RowError the contents of rec are
// unspecified.
func (r *csvReader) Read(rec *Record) error {
	if r.err != nil {
		return r.err
	}
	line, err := r.src.next()
	if err != nil {
		return err
	}
	fitRecord(rec, len(r.dense), len(r.cat), 0)
	if field, err := r.parse(line, rec); err != nil {
		return &RowError{File: r.src.name, Line: r.src.line, Field: field, Err: err}
	}
	return nil
}

func (r *csvReader) parse(line []byte, rec *Record) (field string, err error) {
	if !utf8.Valid(line) {
		return "", errInvalidUTF8
	}
	cells, err := r.split(line)
	if err != nil {
		return "", err
	}
	if len(cells) != r.ncols {
		return "", fmt.Errorf("want %d comma-separated columns (as the header), got %d", r.ncols, len(cells))
	}
	lab, ok := parseLabel(cells[r.label])
	if !ok {
		return r.schema.Label, fmt.Errorf("want 0 or 1, got %q", cells[r.label])
	}
	rec.Label = lab
	for k, i := range r.dense {
		c := cells[i]
		if len(c) == 0 {
			rec.Dense[k], rec.DenseValid[k] = 0, false
			continue
		}
		v, ok := parseDecimal(c)
		if !ok {
			return r.schema.Dense[k], errNotInteger(c)
		}
		rec.Dense[k], rec.DenseValid[k] = v, true
	}
	for k, i := range r.cat {
		rec.Cat[k] = bytesString(cells[i])
	}
	return "", nil
}

// split splits one line into cells, unquoting quoted ones into r.quoted.
// The cells alias line or r.quoted.
func (r *csvReader) split(line []byte) ([][]byte, error) {
	if bytes.IndexByte(line, '"') < 0 {
		r.fields = splitFieldsInto(r.fields, line, []byte{','})
		return r.fields, nil
	}
	// Unquote into one buffer sized so that it never grows (cells alias it).
	if cap(r.quoted) < len(line) {
		r.quoted = make([]byte, 0, len(line))
	}
	buf := r.quoted[:0]
	r.fields = r.fields[:0]
	for i := 0; ; {
		start := len(buf)
		if i < len(line) && line[i] == '"' {
			i++
			for {
				j := bytes.IndexByte(line[i:], '"')
				if j < 0 {
					return nil, errors.New("unterminated quoted cell (a quoted cell may not span lines)")
				}
				buf = append(buf, line[i:i+j]...)
				i += j + 1
				if i < len(line) && line[i] == '"' {
					buf = append(buf, '"')
					i++
					continue
				}
				break
			}
			if i < len(line) && line[i] != ',' {
				return nil, fmt.Errorf("text after the closing quote of cell %d", len(r.fields)+1)
			}
		} else {
			j := bytes.IndexByte(line[i:], ',')
			if j < 0 {
				j = len(line) - i
			}
			cell := line[i : i+j]
			if bytes.IndexByte(cell, '"') >= 0 {
				return nil, fmt.Errorf("quote inside unquoted cell %d", len(r.fields)+1)
			}
			buf = append(buf, cell...)
			i += j
		}
		r.fields = append(r.fields, buf[start:len(buf):len(buf)])
		if i >= len(line) {
			break
		}
		i++ // the comma
		if i == len(line) {
			r.fields = append(r.fields, buf[len(buf):len(buf):len(buf)])
			break
		}
	}
	r.quoted = buf
	return r.fields, nil
}

// Close closes the file.
func (r *csvReader) Close() error { return r.src.Close() }

// parseLabel parses a 0/1 label written 0, 1, 0.0 or 1.0.
func parseLabel(b []byte) (int8, bool) {
	switch string(b) {
	case "0", "0.0":
		return 0, true
	case "1", "1.0":
		return 1, true
	}
	return 0, false
}
