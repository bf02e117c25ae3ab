package datasets

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/embtab/embtab/atomicfile"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"
)

// DefaultRowGroupRows is the number of rows per Parquet row group: large
// enough for efficient column chunks, small enough that a streaming reader
// holds one decoded group (~10-20 MB for Criteo) at a time.
const DefaultRowGroupRows = 65536

// ParquetSchema returns the Parquet schema for s:
//
//	label        INT32  required   0 or 1
//	<dense>      INT64  optional   null = missing
//	<categorical> BYTE_ARRAY (STRING) required, "" = missing
//	<timestamp>  INT64  required   Unix seconds
//	<extra>      BYTE_ARRAY (STRING) required
//
// every column zstd-compressed, plain-encoded. parquet-go orders the columns
// of a group by name; readers find columns by name, never by position.
func ParquetSchema(s *Schema) *parquet.Schema {
	codec := &zstd.Codec{Level: zstd.SpeedDefault}
	g := parquet.Group{}
	g[s.Label] = parquet.Compressed(parquet.Leaf(parquet.Int32Type), codec)
	for _, n := range s.Dense {
		g[n] = parquet.Compressed(parquet.Optional(parquet.Leaf(parquet.Int64Type)), codec)
	}
	for _, n := range s.Categorical {
		g[n] = parquet.Compressed(parquet.String(), codec)
	}
	if s.Timestamp != "" {
		g[s.Timestamp] = parquet.Compressed(parquet.Leaf(parquet.Int64Type), codec)
	}
	for _, n := range s.Extra {
		g[n] = parquet.Compressed(parquet.String(), codec)
	}
	return parquet.NewSchema(s.Dataset, g)
}

// columnIndex maps every column name of s to its leaf index in ps.
func columnIndex(s *Schema, ps *parquet.Schema) (map[string]int, error) {
	idx := map[string]int{}
	names := []string{s.Label}
	names = append(names, s.Dense...)
	names = append(names, s.Categorical...)
	if s.Timestamp != "" {
		names = append(names, s.Timestamp)
	}
	names = append(names, s.Extra...)
	for _, n := range names {
		leaf, ok := ps.Lookup(n)
		if !ok {
			return nil, fmt.Errorf("parquet schema has no column %q", n)
		}
		idx[n] = leaf.ColumnIndex
	}
	return idx, nil
}

// ParquetWriter writes Records to a Parquet file with the schema of one
// dataset.
type ParquetWriter struct {
	s    *Schema
	w    *parquet.Writer
	col  map[string]int
	rows []parquet.Row
	// arena holds copies of the string bytes of buffered rows (records may
	// alias their reader's buffer).
	arena []byte
	n     int64
}

// NewParquetWriter starts a Parquet stream on w. rowGroupRows <= 0 uses
// DefaultRowGroupRows.
func NewParquetWriter(w io.Writer, s *Schema, rowGroupRows int) (*ParquetWriter, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if rowGroupRows <= 0 {
		rowGroupRows = DefaultRowGroupRows
	}
	ps := ParquetSchema(s)
	col, err := columnIndex(s, ps)
	if err != nil {
		return nil, err
	}
	pw := parquet.NewWriter(w, ps,
		parquet.MaxRowsPerRowGroup(int64(rowGroupRows)),
		parquet.KeyValueMetadata(SchemaMetadataKey, MarshalSchema(s)),
		parquet.CreatedBy("embtab", "0.1", ""),
	)
	return &ParquetWriter{s: s, w: pw, col: col}, nil
}

const writeChunk = 1024

// Write appends one record.
func (pw *ParquetWriter) Write(rec *Record) error {
	s := pw.s
	ncols := len(pw.col)
	var row parquet.Row
	if len(pw.rows) < cap(pw.rows) {
		row = pw.rows[:len(pw.rows)+1][len(pw.rows)]
	}
	row = row[:0]
	if cap(row) < ncols {
		row = make(parquet.Row, 0, ncols)
	}
	row = row[:ncols]
	row[pw.col[s.Label]] = parquet.Int32Value(int32(rec.Label)).Level(0, 0, pw.col[s.Label])
	for j, n := range s.Dense {
		c := pw.col[n]
		if rec.DenseValid[j] {
			row[c] = parquet.Int64Value(rec.Dense[j]).Level(0, 1, c)
		} else {
			row[c] = parquet.NullValue().Level(0, 0, c)
		}
	}
	str := func(name, v string) {
		c := pw.col[name]
		start := len(pw.arena)
		pw.arena = append(pw.arena, v...)
		row[c] = parquet.ByteArrayValue(pw.arena[start:len(pw.arena):len(pw.arena)]).Level(0, 0, c)
	}
	for f, n := range s.Categorical {
		str(n, rec.Cat[f])
	}
	if s.Timestamp != "" {
		c := pw.col[s.Timestamp]
		row[c] = parquet.Int64Value(rec.Timestamp).Level(0, 0, c)
	}
	for j, n := range s.Extra {
		str(n, rec.Extra[j])
	}
	pw.rows = append(pw.rows, row)
	pw.n++
	if len(pw.rows) >= writeChunk {
		return pw.flushRows()
	}
	return nil
}

func (pw *ParquetWriter) flushRows() error {
	if len(pw.rows) == 0 {
		return nil
	}
	if _, err := pw.w.WriteRows(pw.rows); err != nil {
		return fmt.Errorf("write parquet rows: %w", err)
	}
	pw.rows = pw.rows[:0]
	// The arena may be reused: WriteRows copied the values into column
	// buffers. Start a fresh one if it grew large, so old rows keep theirs.
	if cap(pw.arena) > 1<<22 {
		pw.arena = nil
	} else {
		pw.arena = pw.arena[:0]
	}
	return nil
}

// Rows returns the number of records written.
func (pw *ParquetWriter) Rows() int64 { return pw.n }

// Close flushes buffered rows and writes the footer. It does not close the
// underlying writer.
func (pw *ParquetWriter) Close() error {
	if err := pw.flushRows(); err != nil {
		return err
	}
	if err := pw.w.Close(); err != nil {
		return fmt.Errorf("close parquet writer: %w", err)
	}
	return nil
}

// ConvertOptions configure Convert.
type ConvertOptions struct {
	OnError      OnError
	RowGroupRows int
	// KeepErrors is how many malformed-row errors to keep for the report
	// (default 5).
	KeepErrors int
	// Progress, when set, is called every ~64k rows with the rows written.
	Progress func(rows int64)
}

// ConvertStats reports a conversion.
type ConvertStats struct {
	RowsWritten int64       `json:"rows_written"`
	RowsSkipped int64       `json:"rows_skipped"`
	Positives   int64       `json:"positives"`
	FirstErrors []string    `json:"first_errors,omitempty"`
	Out         string      `json:"out"`
	OutBytes    int64       `json:"out_bytes"`
	Errors      []*RowError `json:"-"`
}

// Convert reads every record of r and writes them to the Parquet file out.
// The file is written under a temporary name in the same directory, synced
// and renamed into place only when everything succeeded: a failed or
// interrupted convert leaves no partial output.
func Convert(ctx context.Context, r RecordReader, out string, opt ConvertOptions) (ConvertStats, error) {
	if opt.KeepErrors <= 0 {
		opt.KeepErrors = 5
	}
	st := ConvertStats{Out: out}
	sk := NewSkipping(r, opt.OnError, opt.KeepErrors)
	err := atomicfile.Write(out, func(f io.Writer) error {
		pw, err := NewParquetWriter(f, r.Schema(), opt.RowGroupRows)
		if err != nil {
			return err
		}
		rec := NewRecord(r.Schema())
		for {
			if pw.Rows()&0xFFFF == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
				if opt.Progress != nil && pw.Rows() > 0 {
					opt.Progress(pw.Rows())
				}
			}
			err := sk.Read(rec)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
			if rec.Label == 1 {
				st.Positives++
			}
			if err := pw.Write(rec); err != nil {
				return err
			}
		}
		if opt.Progress != nil {
			opt.Progress(pw.Rows())
		}
		return pw.Close()
	})
	st.RowsWritten = sk.Rows()
	st.RowsSkipped = sk.Skipped()
	st.Errors = sk.FirstErrors()
	for _, e := range st.Errors {
		st.FirstErrors = append(st.FirstErrors, e.Error())
	}
	if err != nil {
		st.RowsWritten = 0
		return st, fmt.Errorf("convert to %s: %w", out, err)
	}
	if fi, err := os.Stat(out); err == nil {
		st.OutBytes = fi.Size()
	}
	return st, nil
}
