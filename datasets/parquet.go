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
//	<bag>        LIST of BYTE_ARRAY (STRING) required elements, required list
//	             (an empty bag is an empty list); the leaf is <bag>.list.element
//
// every column zstd-compressed, plain-encoded. parquet-go orders the columns
// of a group by name; readers find columns by name, never by position.
func ParquetSchema(s *Schema) *parquet.Schema {
	codec := &zstd.Codec{Level: zstd.SpeedFastest}
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
	for _, b := range s.Bags {
		g[b.Name] = parquet.List(parquet.Compressed(parquet.String(), codec))
	}
	return parquet.NewSchema(s.Dataset, g)
}

// columnIndex maps every column name of s to its leaf index in ps, and
// checks that each column has the physical type ParquetSchema gives it
// (the readers would panic on another: parquet-go asserts the kind), is
// not repeated, and is required unless it is a dense column.
func columnIndex(s *Schema, ps *parquet.Schema) (map[string]int, error) {
	idx := map[string]int{}
	type col struct {
		name     string
		kind     parquet.Kind
		optional bool
	}
	cols := []col{{s.Label, parquet.Int32, false}}
	for _, n := range s.Dense {
		cols = append(cols, col{n, parquet.Int64, true})
	}
	for _, n := range s.Categorical {
		cols = append(cols, col{n, parquet.ByteArray, false})
	}
	if s.Timestamp != "" {
		cols = append(cols, col{s.Timestamp, parquet.Int64, false})
	}
	for _, n := range s.Extra {
		cols = append(cols, col{n, parquet.ByteArray, false})
	}
	for _, b := range s.Bags {
		leaf, ok := ps.Lookup(b.Name, "list", "element")
		if !ok {
			return nil, fmt.Errorf("parquet schema has no list column %q (a bag: %s.list.element)", b.Name, b.Name)
		}
		if leaf.Node.Type() == nil || !leaf.Node.Leaf() || leaf.Node.Type().Kind() != parquet.ByteArray {
			return nil, fmt.Errorf("column %q: the %s schema wants a list of strings", b.Name, s.Dataset)
		}
		if leaf.MaxRepetitionLevel != 1 || leaf.MaxDefinitionLevel != 1 {
			return nil, fmt.Errorf("column %q: the %s schema wants a required list of required strings (repetition %d, definition %d levels)",
				b.Name, s.Dataset, leaf.MaxRepetitionLevel, leaf.MaxDefinitionLevel)
		}
		idx[bagKey(b.Name)] = leaf.ColumnIndex
	}
	for _, c := range cols {
		leaf, ok := ps.Lookup(c.name)
		if !ok {
			return nil, fmt.Errorf("parquet schema has no column %q", c.name)
		}
		if leaf.Node.Type() == nil || !leaf.Node.Leaf() {
			return nil, fmt.Errorf("column %q is not a leaf column", c.name)
		}
		if k := leaf.Node.Type().Kind(); k != c.kind {
			return nil, fmt.Errorf("column %q has physical type %v, the %s schema wants %v", c.name, k, s.Dataset, c.kind)
		}
		if leaf.MaxRepetitionLevel > 0 {
			return nil, fmt.Errorf("column %q is repeated, the %s schema wants one value per row", c.name, s.Dataset)
		}
		if leaf.MaxDefinitionLevel > 0 && !c.optional {
			return nil, fmt.Errorf("column %q is optional, the %s schema wants it required", c.name, s.Dataset)
		}
		idx[c.name] = leaf.ColumnIndex
	}
	return idx, nil
}

// bagKey is a bag's key in a column index map (bags and other columns
// have distinct names, but the key keeps the two kinds apart).
func bagKey(name string) string { return "bag:" + name }

// ParquetWriter writes Records to a Parquet file with the schema of one
// dataset. Rows are built in chunks by the caller's goroutine and encoded
// and compressed by a second goroutine, so parsing overlaps with writing.
type ParquetWriter struct {
	s *Schema
	w *parquet.GenericWriter[any]
	// column indexes, in schema order
	label, ts       int
	dense, cat, ext []int
	ncols           int
	bagAt           []int // per column: its bag, or -1
	slot            []parquet.Value

	cur    *rowChunk
	ch     chan *rowChunk // full chunks to the writer goroutine
	free   chan *rowChunk // written chunks back
	done   chan struct{}
	err    error // set by the writer goroutine before done closes
	n      int64
	closed bool
}

// rowChunk is a batch of rows and the bytes their strings point into
// (records may alias their reader's buffer, so strings are copied).
type rowChunk struct {
	rows  []parquet.Row
	arena []byte
}

const (
	writeChunk  = 4096 // rows per chunk handed to the writer goroutine
	writeChunks = 3    // chunks in rotation
)

// NewParquetWriter starts a Parquet stream on w. rowGroupRows <= 0 uses
// DefaultRowGroupRows. Close must be called to finish the file.
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
	pw := &ParquetWriter{
		s: s,
		w: parquet.NewGenericWriter[any](w, ps,
			parquet.MaxRowsPerRowGroup(int64(rowGroupRows)),
			parquet.KeyValueMetadata(SchemaMetadataKey, MarshalSchema(s)),
			parquet.CreatedBy("embtab", "0.1", ""),
		),
		label: col[s.Label], ts: -1, ncols: len(col),
		ch: make(chan *rowChunk, writeChunks), free: make(chan *rowChunk, writeChunks), done: make(chan struct{}),
	}
	if s.Timestamp != "" {
		pw.ts = col[s.Timestamp]
	}
	for _, n := range s.Dense {
		pw.dense = append(pw.dense, col[n])
	}
	for _, n := range s.Categorical {
		pw.cat = append(pw.cat, col[n])
	}
	for _, n := range s.Extra {
		pw.ext = append(pw.ext, col[n])
	}
	pw.bagAt = make([]int, pw.ncols)
	for i := range pw.bagAt {
		pw.bagAt[i] = -1
	}
	for k, b := range s.Bags {
		pw.bagAt[col[bagKey(b.Name)]] = k
	}
	pw.slot = make([]parquet.Value, pw.ncols)
	for i := 0; i < writeChunks; i++ {
		pw.free <- &rowChunk{}
	}
	go pw.writeLoop()
	return pw, nil
}

func (pw *ParquetWriter) writeLoop() {
	defer close(pw.done)
	for c := range pw.ch {
		if pw.err == nil {
			if _, err := pw.w.WriteRows(c.rows); err != nil {
				pw.err = fmt.Errorf("write parquet rows: %w", err)
			}
		}
		c.rows = c.rows[:0]
		c.arena = c.arena[:0]
		pw.free <- c
	}
}

// Write appends one record.
func (pw *ParquetWriter) Write(rec *Record) error {
	if pw.cur == nil {
		select {
		case pw.cur = <-pw.free:
		case <-pw.done:
			return pw.err
		}
	}
	c := pw.cur
	var row parquet.Row
	if len(c.rows) < cap(c.rows) {
		row = c.rows[: len(c.rows)+1 : cap(c.rows)][len(c.rows)][:0]
	}
	if len(rec.Bags) != len(pw.s.Bags) {
		return fmt.Errorf("parquet writer: record has %d bags, the schema %d", len(rec.Bags), len(pw.s.Bags))
	}
	slot := pw.slot
	slot[pw.label] = parquet.Int32Value(int32(rec.Label)).Level(0, 0, pw.label)
	for j, col := range pw.dense {
		if rec.DenseValid[j] {
			slot[col] = parquet.Int64Value(rec.Dense[j]).Level(0, 1, col)
		} else {
			slot[col] = parquet.NullValue().Level(0, 0, col)
		}
	}
	// Strings point into the arena; it is only appended to while the chunk
	// fills, and earlier rows keep the old backing array if it grows.
	str := func(v string, rep, def, col int) parquet.Value {
		start := len(c.arena)
		c.arena = append(c.arena, v...)
		return parquet.ByteArrayValue(c.arena[start:len(c.arena):len(c.arena)]).Level(rep, def, col)
	}
	for f, col := range pw.cat {
		slot[col] = str(rec.Cat[f], 0, 0, col)
	}
	if pw.ts >= 0 {
		slot[pw.ts] = parquet.Int64Value(rec.Timestamp).Level(0, 0, pw.ts)
	}
	for j, col := range pw.ext {
		slot[col] = str(rec.Extra[j], 0, 0, col)
	}
	// A row lists its columns' values in column order, a bag's values
	// consecutively (repetition level 0 starts the list, 1 continues it;
	// an empty list is one null at definition level 0).
	for col, k := range pw.bagAt {
		if k < 0 {
			row = append(row, slot[col])
			continue
		}
		vs := rec.Bags[k]
		if len(vs) == 0 {
			row = append(row, parquet.NullValue().Level(0, 0, col))
			continue
		}
		for i, v := range vs {
			row = append(row, str(v, min(i, 1), 1, col))
		}
	}
	c.rows = append(c.rows, row)
	pw.n++
	if len(c.rows) >= writeChunk {
		pw.ch <- c
		pw.cur = nil
	}
	return nil
}

// Abort stops the writer goroutine without finishing the file (after an
// error; the partial output must be discarded). It is a no-op after Close.
func (pw *ParquetWriter) Abort() {
	if !pw.closed {
		pw.stop()
	}
}

func (pw *ParquetWriter) stop() {
	pw.closed = true
	close(pw.ch)
	<-pw.done
}

// Rows returns the number of records written.
func (pw *ParquetWriter) Rows() int64 { return pw.n }

// Close writes the buffered rows and the footer. It does not close the
// underlying writer.
func (pw *ParquetWriter) Close() error {
	if pw.closed {
		return errors.New("parquet writer already closed")
	}
	if pw.cur != nil && len(pw.cur.rows) > 0 {
		pw.ch <- pw.cur
		pw.cur = nil
	}
	pw.stop()
	if pw.err != nil {
		return pw.err
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

// Convert reads every record of r and writes them to the Parquet file out;
// an input without rows is an error wrapping ErrNoRows and writes nothing.
// The file is written under a temporary name in the same directory, synced
// and renamed into place only when everything succeeded: a failed or
// interrupted convert leaves no partial output.
func Convert(ctx context.Context, r RecordReader, out string, opt ConvertOptions) (ConvertStats, error) {
	if opt.KeepErrors <= 0 {
		opt.KeepErrors = 5
	}
	st := ConvertStats{Out: out}
	// Temporary files of an earlier convert to out that crashed.
	if _, err := atomicfile.CleanStale(out); err != nil {
		return st, err
	}
	sk := NewSkipping(r, opt.OnError, opt.KeepErrors)
	err := atomicfile.Write(out, func(f io.Writer) error {
		pw, err := NewParquetWriter(f, r.Schema(), opt.RowGroupRows)
		if err != nil {
			return err
		}
		defer pw.Abort()
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
		if pw.Rows() == 0 {
			// An empty or header-only input (or every row skipped):
			// a 0-row file would only fail later, in training.
			return fmt.Errorf("no rows to write (%d malformed rows skipped): %w", sk.Skipped(), ErrNoRows)
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
