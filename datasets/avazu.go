package datasets

import (
	"bytes"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// avazuColumns are the columns of the Avazu CTR CSV, in file order.
var avazuColumns = []string{
	"id", "click", "hour", "C1", "banner_pos",
	"site_id", "site_domain", "site_category",
	"app_id", "app_domain", "app_category",
	"device_id", "device_ip", "device_model", "device_type", "device_conn_type",
	"C14", "C15", "C16", "C17", "C18", "C19", "C20", "C21",
}

const (
	avazuNumFields = 24
	// avazuNumRawCat counts the raw categorical columns: all but id, click.
	avazuNumRawCat = avazuNumFields - 2
	// avazuNumCat adds the derived hour_of_day and weekday.
	avazuNumCat = avazuNumRawCat + 2
	// avazuHeaderPrefix starts the header line of a file that has one.
	avazuHeaderPrefix = "id,click"
)

// avazuHeader is the expected header line.
var avazuHeader = strings.Join(avazuColumns, ",")

// avazuCatNames are the categorical columns of the Avazu schema: the raw
// columns from hour on, then the derived hour_of_day and weekday.
var avazuCatNames = append(append([]string(nil), avazuColumns[2:]...), "hour_of_day", "weekday")

// avazuWeekdays names the values of the derived weekday column, indexed by
// time.Weekday.
var avazuWeekdays = [7]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}

// avazuSchema returns the schema of Avazu records.
func avazuSchema() *Schema {
	return &Schema{
		Dataset:     FormatAvazu,
		Label:       "click",
		Categorical: append([]string(nil), avazuCatNames...),
		Timestamp:   "timestamp",
		Extra:       []string{"id"},
	}
}

// avazuReader reads the Avazu CTR CSV format.
type avazuReader struct {
	src    *lineSource
	schema *Schema
	err    error // sticky fatal error
	hour   avazuHourCache
}

// avazuHourCache remembers the last hour value parsed: rows come grouped by
// hour, so most rows skip the date computation.
type avazuHourCache struct {
	valid   bool
	text    [8]byte
	unix    int64
	weekday string
}

// OpenAvazu opens an Avazu CTR CSV file, plain or gzip-compressed, with or
// without its header line (a first line starting with "id,click").
//
// Each row must hold the 24 comma-separated columns id, click, hour, C1,
// banner_pos, ..., C21 (there is no quoting in this data), click "0" or "1",
// and hour YYMMDDHH, a valid date and hour of 20YY in UTC. The record's
// categorical values are the raw columns from hour on, then hour_of_day (HH)
// and weekday ("Mon".."Sun") derived from hour; its timestamp is the start of
// the hour in Unix seconds; its extra column is id. The Cat strings alias the
// reader's line buffer and are valid until the next Read.
func OpenAvazu(path string) (RecordReader, error) {
	src, err := openLineSource(path)
	if err != nil {
		return nil, fmt.Errorf("open avazu: %w", err)
	}
	return newAvazuReader(src), nil
}

func newAvazuReader(src *lineSource) *avazuReader {
	return &avazuReader{src: src, schema: avazuSchema()}
}

// Schema returns the Avazu schema.
func (r *avazuReader) Schema() *Schema { return r.schema }

// Read parses the next row into rec, skipping the header line. On a
// *RowError the contents of rec are unspecified.
func (r *avazuReader) Read(rec *Record) error {
	if r.err != nil {
		return r.err
	}
	line, err := r.src.next()
	if err != nil {
		return err
	}
	if r.src.line == 1 && bytes.HasPrefix(line, []byte(avazuHeaderPrefix)) {
		if string(line) != avazuHeader {
			r.err = fmt.Errorf("%s:1: header %q does not match the Avazu columns %q",
				r.src.name, line, avazuHeader)
			return r.err
		}
		if line, err = r.src.next(); err != nil {
			return err
		}
	}
	fitRecord(rec, 0, avazuNumCat, 1)
	if field, err := r.parse(line, rec); err != nil {
		return &RowError{File: r.src.name, Line: r.src.line, Field: field, Err: err}
	}
	return nil
}

// Close closes the file.
func (r *avazuReader) Close() error { return r.src.Close() }

// parse parses one row (without its line terminator) into rec. On failure it
// returns the offending column ("" for a wrong field count) and the cause.
func (r *avazuReader) parse(line []byte, rec *Record) (field string, err error) {
	// seps[k] is the index of the comma ending field k.
	var seps [avazuNumFields - 1]int
	n, ascii := findSeps(line, ',', seps[:])
	if n != len(seps) {
		return "", fmt.Errorf("want %d comma-separated fields, got %d", avazuNumFields, n+1)
	}
	if !ascii && !utf8.Valid(line) {
		return avazuColumns[invalidUTF8Field(line, ',')], errInvalidUTF8
	}

	rec.Extra[0] = bytesString(line[:seps[0]])
	if seps[1]-seps[0] != 2 || (line[seps[0]+1] != '0' && line[seps[0]+1] != '1') {
		return "click", fmt.Errorf("want 0 or 1, got %q", line[seps[0]+1:seps[1]])
	}
	rec.Label = int8(line[seps[0]+1] - '0')

	start := seps[1] + 1
	for j := 0; j < avazuNumRawCat-1; j++ {
		end := seps[2+j]
		rec.Cat[j] = bytesString(line[start:end])
		start = end + 1
	}
	rec.Cat[avazuNumRawCat-1] = bytesString(line[start:])

	hour := rec.Cat[0]
	if err := r.hour.set(hour); err != nil {
		return "hour", err
	}
	rec.Timestamp = r.hour.unix
	rec.Cat[avazuNumRawCat] = hour[6:8]
	rec.Cat[avazuNumRawCat+1] = r.hour.weekday
	return "", nil
}

// set parses hour, YYMMDDHH, into the cache unless it is already there.
func (c *avazuHourCache) set(hour string) error {
	if c.valid && len(hour) == len(c.text) && hour == string(c.text[:]) {
		return nil
	}
	t, err := parseAvazuHour(hour)
	if err != nil {
		return err
	}
	c.valid = true
	copy(c.text[:], hour)
	c.unix = t.Unix()
	c.weekday = avazuWeekdays[t.Weekday()]
	return nil
}

// parseAvazuHour parses YYMMDDHH (year 20YY, UTC), rejecting invalid dates.
func parseAvazuHour(hour string) (time.Time, error) {
	if len(hour) != 8 {
		return time.Time{}, fmt.Errorf("want YYMMDDHH, got %q", hour)
	}
	var v [4]int
	for k := range v {
		hi, lo := hour[2*k]-'0', hour[2*k+1]-'0'
		if hi > 9 || lo > 9 {
			return time.Time{}, fmt.Errorf("want YYMMDDHH, got %q", hour)
		}
		v[k] = int(hi)*10 + int(lo)
	}
	year, month, day, hh := 2000+v[0], time.Month(v[1]), v[2], v[3]
	if month < time.January || month > time.December || day < 1 || hh > 23 {
		return time.Time{}, fmt.Errorf("invalid date or hour %q", hour)
	}
	t := time.Date(year, month, day, hh, 0, 0, 0, time.UTC)
	if t.Day() != day { // e.g. Feb 30 normalised to Mar 2
		return time.Time{}, fmt.Errorf("invalid date or hour %q", hour)
	}
	return t, nil
}
