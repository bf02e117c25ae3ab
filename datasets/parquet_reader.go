package datasets

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"

	"github.com/embtab/embtab/hashing"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding"
)

// ParquetFile is an open Parquet file written by Convert or the generator.
type ParquetFile struct {
	Path   string
	Schema *Schema
	File   *parquet.File
	col    map[string]int
	f      *os.File
}

// OpenParquet opens path and reads its embtab schema from the metadata.
func OpenParquet(path string) (*ParquetFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open parquet: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	pf, err := parquet.OpenFile(f, fi.Size(), parquet.SkipBloomFilters(true), parquet.ReadBufferSize(1<<20))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open parquet %s: %w", path, err)
	}
	meta, ok := pf.Lookup(SchemaMetadataKey)
	if !ok {
		f.Close()
		return nil, fmt.Errorf("%s: no %q metadata: not written by embtab (convert it with `dataset convert`)", path, SchemaMetadataKey)
	}
	s, err := UnmarshalSchema(meta)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	col, err := columnIndex(s, pf.Schema())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &ParquetFile{Path: path, Schema: s, File: pf, col: col, f: f}, nil
}

// NumRows returns the number of rows in the file.
func (p *ParquetFile) NumRows() int64 { return p.File.NumRows() }

// Close closes the file.
func (p *ParquetFile) Close() error { return p.f.Close() }

// rowGroupColumns holds one decoded row group, column by column.
type rowGroupColumns struct {
	n      int
	labels []int32
	dense  [][]int64 // per dense column
	valid  [][]bool
	ids    [][]uint64 // per categorical field
	raw    [][]string // per categorical field, when keepRaw
	ts     []int64
	extra  [][]string  // per extra column, when keepExtra
	bags   []BagColumn // per bag: Offsets has n+1 entries
}

// parquetBatches reads batches from a ParquetFile, one decoded row group at
// a time; columns of a row group decode in parallel.
type parquetBatches struct {
	p         *ParquetFile
	opt       BatchOptions
	hasher    *hashing.Hasher
	keepExtra bool
	userRaw   bool // the caller asked for raw values (KeepRaw may be forced on for Filter)
	rg        int  // next row group to decode
	cur       rowGroupColumns
	pos       int // next row of cur
	delivered int64
	free      []*Batch
	done      bool
	rec       *Record // scratch for Filter
}

// OpenParquetBatches opens a batch reader over a Parquet file (without
// prefetching; OpenBatches adds it).
func OpenParquetBatches(path string, opt BatchOptions) (BatchReader, error) {
	opt.fill()
	p, err := OpenParquet(path)
	if err != nil {
		return nil, err
	}
	return newParquetBatches(p, opt), nil
}

func newParquetBatches(p *ParquetFile, opt BatchOptions) *parquetBatches {
	pb := &parquetBatches{p: p, opt: opt, userRaw: opt.KeepRaw, hasher: hashing.New(opt.HashSeed, p.Schema.NumFields())}
	if opt.Filter != nil {
		pb.keepExtra = true
		pb.opt.KeepRaw = true
		pb.rec = NewRecord(p.Schema)
	}
	return pb
}

func (pb *parquetBatches) Schema() *Schema { return pb.p.Schema }

func (pb *parquetBatches) Release(b *Batch) {
	if b != nil {
		pb.free = append(pb.free, b)
	}
}

func (pb *parquetBatches) Close() error { return pb.p.Close() }

func (pb *parquetBatches) Next() (*Batch, error) {
	if pb.done {
		return nil, io.EOF
	}
	s := pb.p.Schema
	var b *Batch
	if n := len(pb.free); n > 0 {
		b, pb.free = pb.free[n-1], pb.free[:n-1]
	} else {
		b = new(Batch)
	}
	userRaw := pb.userRaw
	b.reset(s, pb.opt.BatchSize, userRaw)
	b.FirstRow = -1
	nd, nc := s.NumDense(), s.NumCat()
	rgs := pb.p.File.RowGroups()
	for b.Rows < pb.opt.BatchSize {
		if pb.opt.Limit > 0 && pb.delivered >= pb.opt.Skip+pb.opt.Limit {
			pb.done = true
			break
		}
		if pb.pos >= pb.cur.n {
			// skip whole row groups that lie before Skip
			for pb.rg < len(rgs) && pb.opt.Filter == nil && pb.delivered+rgs[pb.rg].NumRows() <= pb.opt.Skip {
				pb.delivered += rgs[pb.rg].NumRows()
				pb.rg++
			}
			if pb.rg >= len(rgs) {
				pb.done = true
				break
			}
			if err := pb.decodeGroup(rgs, pb.rg); err != nil {
				return nil, err
			}
			pb.rg++
			pb.pos = 0
			continue
		}
		r := pb.pos
		pb.pos++
		if pb.opt.Filter != nil && !pb.opt.Filter(pb.record(r)) {
			continue
		}
		idx := pb.delivered
		pb.delivered++
		if idx < pb.opt.Skip {
			continue
		}
		if b.FirstRow < 0 {
			b.FirstRow = idx - pb.opt.Skip
		}
		i := b.Rows
		c := &pb.cur
		b.Labels[i] = float32(c.labels[r])
		for j := 0; j < nd; j++ {
			b.Dense[i*nd+j] = float32(c.dense[j][r])
			b.DenseMissing[i*nd+j] = !c.valid[j][r]
		}
		ids := b.IDs[i*nc : i*nc+nc]
		for f := range ids {
			ids[f] = c.ids[f][r]
		}
		if userRaw {
			for f := 0; f < nc; f++ {
				b.Raw[i*nc+f] = c.raw[f][r]
			}
		}
		for k := range b.Bags {
			src, dst := &c.bags[k], &b.Bags[k]
			lo, hi := src.Offsets[r], src.Offsets[r+1]
			dst.IDs = append(dst.IDs, src.IDs[lo:hi]...)
			if userRaw {
				dst.Raw = append(dst.Raw, src.Raw[lo:hi]...)
			}
			dst.Offsets = append(dst.Offsets, int32(len(dst.IDs)))
		}
		if s.Timestamp != "" {
			b.Timestamps[i] = c.ts[r]
		}
		b.Rows++
	}
	b.truncate(s)
	if b.Rows == 0 {
		pb.Release(b)
		return nil, io.EOF
	}
	return b, nil
}

// record fills the scratch record with row r of the current group.
func (pb *parquetBatches) record(r int) *Record {
	c := &pb.cur
	rec := pb.rec
	rec.Label = int8(c.labels[r])
	for j := range rec.Dense {
		rec.Dense[j] = c.dense[j][r]
		rec.DenseValid[j] = c.valid[j][r]
	}
	for f := range rec.Cat {
		rec.Cat[f] = c.raw[f][r]
	}
	for k := range rec.Bags {
		bc := &c.bags[k]
		rec.Bags[k] = append(rec.Bags[k][:0], bc.Raw[bc.Offsets[r]:bc.Offsets[r+1]]...)
	}
	if c.ts != nil {
		rec.Timestamp = c.ts[r]
	}
	for j := range rec.Extra {
		rec.Extra[j] = c.extra[j][r]
	}
	return rec
}

// decodeGroup decodes row group i of rgs into pb.cur and checks its
// labels: 0 or 1, as the text readers require (a label 7 would train as
// a click rate of 7). Errors name the file, the row group and, for a
// label, the row (0-based, in the file).
func (pb *parquetBatches) decodeGroup(rgs []parquet.RowGroup, i int) error {
	if err := pb.decode(rgs[i]); err != nil {
		return fmt.Errorf("%s: row group %d: %w", pb.p.Path, i, err)
	}
	for r, v := range pb.cur.labels[:pb.cur.n] {
		if v != 0 && v != 1 {
			var first int64
			for _, g := range rgs[:i] {
				first += g.NumRows()
			}
			return fmt.Errorf("%s: row %d: column %s: label %d, want 0 or 1: %w", pb.p.Path, first+int64(r), pb.p.Schema.Label, v, ErrMalformed)
		}
	}
	return nil
}

// decode reads every needed column of rg into pb.cur, in parallel.
func (pb *parquetBatches) decode(rg parquet.RowGroup) error {
	s := pb.p.Schema
	n := int(rg.NumRows())
	c := &pb.cur
	c.n = n
	c.labels = grow(c.labels, n)
	c.dense = growCols(c.dense, s.NumDense(), n)
	c.valid = growCols(c.valid, s.NumDense(), n)
	c.ids = growCols(c.ids, s.NumCat(), n)
	keepRaw := pb.opt.KeepRaw
	if keepRaw {
		c.raw = growCols(c.raw, s.NumCat(), n)
	}
	if s.Timestamp != "" {
		c.ts = grow(c.ts, n)
	}
	if pb.keepExtra {
		c.extra = growCols(c.extra, len(s.Extra), n)
	}
	if len(c.bags) != s.NumBags() {
		c.bags = make([]BagColumn, s.NumBags())
	}
	chunks := rg.ColumnChunks()
	type job func() error
	var jobs []job
	jobs = append(jobs, func() error {
		return readInt32Column(chunks[pb.p.col[s.Label]], c.labels, s.Label)
	})
	for j, name := range s.Dense {
		j, name := j, name
		jobs = append(jobs, func() error {
			return readOptInt64Column(chunks[pb.p.col[name]], c.dense[j], c.valid[j], name)
		})
	}
	for f, name := range s.Categorical {
		f, name := f, name
		jobs = append(jobs, func() error {
			var raw []string
			if keepRaw {
				raw = c.raw[f]
			}
			return readStringColumn(chunks[pb.p.col[name]], name, func(i int, v []byte) {
				c.ids[f][i] = pb.hasher.Hash(f, v)
				if raw != nil {
					raw[i] = string(v)
				}
			}, n)
		})
	}
	if s.Timestamp != "" {
		jobs = append(jobs, func() error {
			return readInt64Column(chunks[pb.p.col[s.Timestamp]], c.ts, s.Timestamp)
		})
	}
	for k, bag := range s.Bags {
		f := s.BagField(k)
		jobs = append(jobs, func() error {
			bc := &c.bags[k]
			bc.IDs, bc.Raw = bc.IDs[:0], bc.Raw[:0]
			return readBagColumn(chunks[pb.p.col[bagKey(bag.Name)]], bag.Name, &bc.Offsets, n, func(v []byte) {
				bc.IDs = append(bc.IDs, pb.hasher.Hash(f, v))
				if keepRaw {
					bc.Raw = append(bc.Raw, string(v))
				}
			})
		})
	}
	if pb.keepExtra {
		for j, name := range s.Extra {
			j, name := j, name
			jobs = append(jobs, func() error {
				return readStringColumn(chunks[pb.p.col[name]], name, func(i int, v []byte) {
					c.extra[j][i] = string(v)
				}, n)
			})
		}
	}
	workers := runtime.GOMAXPROCS(0)
	if workers > len(jobs) {
		workers = len(jobs)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	next := make(chan job)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range next {
				if err := j(); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, j := range jobs {
		next <- j
	}
	close(next)
	wg.Wait()
	return firstErr
}

func growCols[T any](cols [][]T, ncols, n int) [][]T {
	if len(cols) != ncols {
		cols = make([][]T, ncols)
	}
	for i := range cols {
		cols[i] = grow(cols[i], n)
	}
	return cols
}

var errColumnLength = errors.New("column has a different number of values than the row group")

// forPages calls fn with each page of a column chunk.
func forPages(cc parquet.ColumnChunk, name string, fn func(parquet.Page) error) error {
	pages := cc.Pages()
	defer pages.Close()
	for {
		p, err := pages.ReadPage()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("column %s: %w", name, err)
		}
		err = fn(p)
		parquet.Release(p)
		if err != nil {
			return fmt.Errorf("column %s: %w", name, err)
		}
	}
}

// readRequiredColumn copies a required fixed-width column into out; values
// extracts a page's values (encoding.Values.Int32 or Int64).
func readRequiredColumn[T int32 | int64](cc parquet.ColumnChunk, out []T, name string, values func(*encoding.Values) []T) error {
	off := 0
	err := forPages(cc, name, func(p parquet.Page) error {
		d := p.Data()
		v := values(&d)
		if off+len(v) > len(out) {
			return errColumnLength
		}
		copy(out[off:], v)
		off += len(v)
		return nil
	})
	if err == nil && off != len(out) {
		err = fmt.Errorf("column %s: %w", name, errColumnLength)
	}
	return err
}

func readInt32Column(cc parquet.ColumnChunk, out []int32, name string) error {
	return readRequiredColumn(cc, out, name, (*encoding.Values).Int32)
}

func readInt64Column(cc parquet.ColumnChunk, out []int64, name string) error {
	return readRequiredColumn(cc, out, name, (*encoding.Values).Int64)
}

// readOptInt64Column reads an optional INT64 column: nulls become 0 with
// valid[i] = false.
func readOptInt64Column(cc parquet.ColumnChunk, out []int64, valid []bool, name string) error {
	off := 0
	err := forPages(cc, name, func(p parquet.Page) error {
		d := p.Data()
		v := d.Int64()
		defs := p.DefinitionLevels()
		if len(defs) == 0 { // no nulls recorded: all present
			if off+len(v) > len(out) {
				return errColumnLength
			}
			copy(out[off:], v)
			for i := range v {
				valid[off+i] = true
			}
			off += len(v)
			return nil
		}
		if off+len(defs) > len(out) {
			return errColumnLength
		}
		k := 0
		for _, d := range defs {
			if d == 1 {
				if k >= len(v) {
					return errColumnLength
				}
				out[off] = v[k]
				valid[off] = true
				k++
			} else {
				out[off] = 0
				valid[off] = false
			}
			off++
		}
		return nil
	})
	if err == nil && off != len(out) {
		err = fmt.Errorf("column %s: %w", name, errColumnLength)
	}
	return err
}

// readStringColumn calls fn(i, value) for every value of a required
// BYTE_ARRAY column; value is only valid during the call.
func readStringColumn(cc parquet.ColumnChunk, name string, fn func(int, []byte), n int) error {
	off := 0
	err := forPages(cc, name, func(p parquet.Page) error {
		d := p.Data()
		data, offsets := d.ByteArray()
		if len(offsets) == 0 {
			return nil
		}
		cnt := len(offsets) - 1
		if off+cnt > n {
			return errColumnLength
		}
		for i := 0; i < cnt; i++ {
			fn(off+i, data[offsets[i]:offsets[i+1]])
		}
		off += cnt
		return nil
	})
	if err == nil && off != n {
		err = fmt.Errorf("column %s: %w", name, errColumnLength)
	}
	return err
}

// readBagColumn reads a bag's LIST column: fn(value) for every value in
// row order, and offs set to the n+1 row offsets into them. A row is
// started by repetition level 0; a definition level 0 there is an empty
// list (and anywhere else a malformed column). Errors name the column
// (forPages adds it).
func readBagColumn(cc parquet.ColumnChunk, name string, offs *[]int32, n int, fn func([]byte)) error {
	o := append((*offs)[:0], 0)
	var vals int32
	started := 0 // rows started
	err := forPages(cc, name, func(p parquet.Page) error {
		reps, defs := p.RepetitionLevels(), p.DefinitionLevels()
		if len(reps) != len(defs) {
			return fmt.Errorf("%d repetition levels for %d definition levels: %w", len(reps), len(defs), ErrMalformed)
		}
		d := p.Data()
		data, offsets := d.ByteArray()
		next := 0
		for i, rep := range reps {
			switch {
			case rep == 0:
				if started == n {
					return errColumnLength
				}
				if started > 0 {
					o = append(o, vals) // the previous row ends
				}
				started++
			case started == 0:
				return fmt.Errorf("the first value continues a list: %w", ErrMalformed)
			case defs[i] == 0:
				return fmt.Errorf("an empty list continues a list: %w", ErrMalformed)
			}
			if defs[i] == 0 {
				continue
			}
			if next+1 >= len(offsets) {
				return fmt.Errorf("fewer values than definition levels: %w", ErrMalformed)
			}
			fn(data[offsets[next]:offsets[next+1]])
			next++
			vals++
		}
		if next+1 < len(offsets) {
			return fmt.Errorf("%d values past the definition levels: %w", len(offsets)-1-next, ErrMalformed)
		}
		return nil
	})
	if err == nil {
		if started > 0 {
			o = append(o, vals)
		}
		if started != n {
			err = fmt.Errorf("column %s: %w", name, errColumnLength)
		}
	}
	*offs = o
	return err
}

// parquetRecords reads a Parquet file back as Records (raw values, extras
// included): the inverse of Convert.
type parquetRecords struct {
	pb *parquetBatches
}

// OpenParquetRecords opens a Parquet file written by Convert as a
// RecordReader, giving back exactly the records that were written.
func OpenParquetRecords(path string) (RecordReader, error) {
	p, err := OpenParquet(path)
	if err != nil {
		return nil, err
	}
	opt := BatchOptions{KeepRaw: true}
	opt.fill()
	pb := newParquetBatches(p, opt)
	pb.keepExtra = true
	pb.rec = NewRecord(p.Schema)
	return &parquetRecords{pb: pb}, nil
}

func (r *parquetRecords) Schema() *Schema { return r.pb.p.Schema }

func (r *parquetRecords) Read(rec *Record) error {
	pb := r.pb
	rgs := pb.p.File.RowGroups()
	for pb.pos >= pb.cur.n {
		if pb.rg >= len(rgs) {
			return io.EOF
		}
		if err := pb.decodeGroup(rgs, pb.rg); err != nil {
			return err
		}
		pb.rg++
		pb.pos = 0
	}
	rec.CopyFrom(pb.record(pb.pos))
	pb.pos++
	return nil
}

func (r *parquetRecords) Close() error { return r.pb.Close() }
