package datasets

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
	"unsafe"
)

// Criteo DAC layout: label, 13 integer columns, 26 categorical columns.
const (
	criteoNumDense  = 13
	criteoNumCat    = 26
	criteoNumFields = 1 + criteoNumDense + criteoNumCat
)

// Column names of the Criteo schema.
var (
	criteoDenseNames = columnNames("I", criteoNumDense)
	criteoCatNames   = columnNames("C", criteoNumCat)
)

// columnNames returns prefix1 .. prefixN.
func columnNames(prefix string, n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = prefix + strconv.Itoa(i+1)
	}
	return names
}

// criteoSchema returns the schema of Criteo DAC records.
func criteoSchema() *Schema {
	return &Schema{
		Dataset:     FormatCriteo,
		Label:       "label",
		Dense:       append([]string(nil), criteoDenseNames...),
		Categorical: append([]string(nil), criteoCatNames...),
	}
}

// criteoReader reads the Criteo Display Advertising Challenge TSV format:
// one example per line, 40 TAB-separated fields "label I1..I13 C1..C26",
// no header; a missing value is an empty field.
type criteoReader struct {
	src    *lineSource
	schema *Schema
}

// OpenCriteo opens a Criteo DAC TSV file, plain or gzip-compressed.
//
// Each line must hold exactly 40 TAB-separated fields: the label "0" or "1",
// then I1..I13, each empty (missing) or a base-10 integer that may be
// negative, then C1..C26, each any valid UTF-8 (empty is missing). A trailing
// "\r" is ignored. Parsing does not allocate: the Cat strings of a record
// alias the reader's line buffer and are valid until the next Read.
func OpenCriteo(path string) (RecordReader, error) {
	src, err := openLineSource(path)
	if err != nil {
		return nil, fmt.Errorf("open criteo: %w", err)
	}
	return newCriteoReader(src), nil
}

func newCriteoReader(src *lineSource) *criteoReader {
	return &criteoReader{src: src, schema: criteoSchema()}
}

// Schema returns the Criteo schema.
func (r *criteoReader) Schema() *Schema { return r.schema }

// Read parses the next line into rec. On a *RowError the contents of rec
// are unspecified.
func (r *criteoReader) Read(rec *Record) error {
	line, err := r.src.next()
	if err != nil {
		return err
	}
	fitRecord(rec, criteoNumDense, criteoNumCat, 0)
	rec.Timestamp = 0
	if field, err := parseCriteoLine(line, rec); err != nil {
		return &RowError{File: r.src.name, Line: r.src.line, Field: field, Err: err}
	}
	return nil
}

// Close closes the file.
func (r *criteoReader) Close() error { return r.src.Close() }

// parseCriteoLine parses one line (without its line terminator) into rec,
// whose slices must be sized for the Criteo schema. On failure it returns
// the offending column ("" for a wrong field count) and the cause. The Cat
// strings alias line.
func parseCriteoLine(line []byte, rec *Record) (field string, err error) {
	// seps[k] is the index of the TAB ending field k.
	var seps [criteoNumFields - 1]int
	n, ascii := findSeps(line, '\t', seps[:])
	if n != len(seps) {
		return "", fmt.Errorf("want %d tab-separated fields, got %d", criteoNumFields, n+1)
	}

	if seps[0] != 1 || (line[0] != '0' && line[0] != '1') {
		return "label", fmt.Errorf("want 0 or 1, got %q", line[:seps[0]])
	}
	rec.Label = int8(line[0] - '0')

	start := seps[0] + 1
	for j := 0; j < criteoNumDense; j++ {
		end := seps[1+j]
		f := line[start:end]
		start = end + 1
		if len(f) == 0 {
			rec.Dense[j], rec.DenseValid[j] = 0, false
			continue
		}
		v, ok := parseDecimal(f)
		if !ok {
			return criteoDenseNames[j], errNotInteger(f)
		}
		rec.Dense[j], rec.DenseValid[j] = v, true
	}

	// start is now the beginning of C1. Non-ASCII integers were rejected
	// above, so only the categorical fields may hold other UTF-8.
	if !ascii && !utf8.Valid(line[start:]) {
		return criteoCatNames[invalidUTF8Field(line[start:], '\t')], errInvalidUTF8
	}
	for j := 0; j < criteoNumCat-1; j++ {
		end := seps[1+criteoNumDense+j]
		rec.Cat[j] = bytesString(line[start:end])
		start = end + 1
	}
	rec.Cat[criteoNumCat-1] = bytesString(line[start:])
	return "", nil
}

var tabSep = []byte{'\t'}

// errInvalidUTF8 is the cause of a RowError for a field that is not UTF-8.
var errInvalidUTF8 = errors.New("not valid UTF-8")

// invalidUTF8Field returns the index of the first sep-separated field of b
// that is not valid UTF-8 (0 if all are valid).
func invalidUTF8Field(b []byte, sep byte) int {
	for k := 0; ; k++ {
		i := bytes.IndexByte(b, sep)
		if i < 0 {
			if utf8.Valid(b) {
				return 0
			}
			return k
		}
		if !utf8.Valid(b[:i]) {
			return k
		}
		b = b[i+1:]
	}
}

// bytesString returns b as a string without copying: the string aliases b
// and is only valid while b is not modified.
func bytesString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
