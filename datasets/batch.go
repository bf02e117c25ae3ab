package datasets

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/embtab/embtab/hashing"
)

// Batch is a columnar block of examples, ready for training.
//
// Row-major layouts: Dense[i*NumDense+j] is dense column j of example i,
// IDs[i*NumCat+f] is the hashed id of categorical field f of example i.
type Batch struct {
	Rows int
	// Labels are 0 or 1.
	Labels []float32
	// Dense holds the raw dense values as float32; a missing value is 0 and
	// DenseMissing is set for it.
	Dense        []float32
	DenseMissing []bool
	// IDs are hashing.Hasher ids of the categorical values (field-salted).
	IDs []uint64
	// Raw holds the categorical values as strings when BatchOptions.KeepRaw
	// is set, in the same layout as IDs.
	Raw []string
	// Bags holds the bag fields' values, Bags[k] for Schema.Bags[k].
	Bags []BagColumn
	// Timestamps are Unix seconds when the schema has a timestamp.
	Timestamps []int64
	// FirstRow is the 0-based index in the source of the batch's first row
	// (counting only rows that were delivered).
	FirstRow int64
}

// BagColumn holds one bag field of a batch: example i's values are
// IDs[Offsets[i]:Offsets[i+1]], hashed with the salt of the bag's table
// field (Schema.BagField), in the order the source lists them.
type BagColumn struct {
	// Offsets has Rows+1 entries, from 0.
	Offsets []int32
	IDs     []uint64
	// Raw holds the values as strings when BatchOptions.KeepRaw is set.
	Raw []string
}

// Values returns example i's ids.
func (c *BagColumn) Values(i int) []uint64 { return c.IDs[c.Offsets[i]:c.Offsets[i+1]] }

// BagValues returns the number of bag values in b (all bags).
func (b *Batch) BagValues() int {
	n := 0
	for k := range b.Bags {
		n += len(b.Bags[k].IDs)
	}
	return n
}

// reset sizes b for n rows of schema s, reusing its buffers.
func (b *Batch) reset(s *Schema, n int, keepRaw bool) {
	b.Rows = 0
	b.Labels = grow(b.Labels, n)
	b.Dense = grow(b.Dense, n*s.NumDense())
	b.DenseMissing = grow(b.DenseMissing, n*s.NumDense())
	b.IDs = grow(b.IDs, n*s.NumCat())
	if keepRaw {
		b.Raw = grow(b.Raw, n*s.NumCat())
	} else {
		b.Raw = b.Raw[:0]
	}
	if s.Timestamp != "" {
		b.Timestamps = grow(b.Timestamps, n)
	} else {
		b.Timestamps = b.Timestamps[:0]
	}
	if len(b.Bags) != s.NumBags() {
		b.Bags = make([]BagColumn, s.NumBags())
	}
	for k := range b.Bags {
		c := &b.Bags[k]
		c.Offsets = append(c.Offsets[:0], 0)
		c.IDs = c.IDs[:0]
		c.Raw = c.Raw[:0]
	}
}

// add appends example values vs (hashed by h in field f) as the next
// example of bag column c.
func (c *BagColumn) add(h *hashing.Hasher, f int, vs []string, keepRaw bool) {
	for _, v := range vs {
		c.IDs = append(c.IDs, h.HashString(f, v))
		if keepRaw {
			c.Raw = append(c.Raw, strings.Clone(v))
		}
	}
	c.Offsets = append(c.Offsets, int32(len(c.IDs)))
}

// truncate shrinks the slices to b.Rows rows.
func (b *Batch) truncate(s *Schema) {
	n := b.Rows
	b.Labels = b.Labels[:n]
	b.Dense = b.Dense[:n*s.NumDense()]
	b.DenseMissing = b.DenseMissing[:n*s.NumDense()]
	b.IDs = b.IDs[:n*s.NumCat()]
	if len(b.Raw) > 0 {
		b.Raw = b.Raw[:n*s.NumCat()]
	}
	if len(b.Timestamps) > 0 {
		b.Timestamps = b.Timestamps[:n]
	}
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// BatchOptions configure a batch reader.
type BatchOptions struct {
	// BatchSize is the number of rows per batch (default 2048). The last
	// batch may be smaller.
	BatchSize int
	// HashSeed seeds the categorical hash (default hashing.DefaultSeed).
	HashSeed uint64
	// KeepRaw also returns the raw categorical strings (slower).
	KeepRaw bool
	// Skip and Limit select the row range [Skip, Skip+Limit) of the source
	// (Limit 0 = to the end). Rows are counted after malformed rows are
	// dropped, so a range means the same rows under either policy.
	Skip, Limit int64
	// Filter, when set, keeps only the records it returns true for (applied
	// before Skip/Limit). Used for timestamp splits.
	Filter func(*Record) bool
	// OnError is the malformed-row policy for raw sources.
	OnError OnError
	// Raw configures the csv, libsvm and libffm readers.
	Raw RawOptions
}

func (o *BatchOptions) fill() {
	if o.BatchSize <= 0 {
		o.BatchSize = 2048
	}
	if o.HashSeed == 0 {
		o.HashSeed = hashing.DefaultSeed
	}
}

// BatchReader streams batches.
type BatchReader interface {
	Schema() *Schema
	// Next returns the next batch, or io.EOF after the last. The batch is
	// owned by the caller until it is handed back with Release.
	Next() (*Batch, error)
	// Release returns a batch for reuse; optional.
	Release(*Batch)
	Close() error
}

// recordBatcher turns a RecordReader into a BatchReader.
type recordBatcher struct {
	r         RecordReader
	skip      *Skipping
	opt       BatchOptions
	hasher    *hashing.Hasher
	rec       *Record
	free      []*Batch
	delivered int64 // rows counted toward Skip/Limit
	done      bool
	bagField  []int // per bag: its table field (Schema.BagField)
}

// NewRecordBatcher reads batches from a raw RecordReader, hashing the
// categorical values. Malformed rows follow opt.OnError.
func NewRecordBatcher(r RecordReader, opt BatchOptions) BatchReader {
	opt.fill()
	s := r.Schema()
	sk := NewSkipping(r, opt.OnError, 10)
	return &recordBatcher{
		r: r, skip: sk, opt: opt,
		hasher:   hashing.New(opt.HashSeed, s.NumFields()),
		rec:      NewRecord(s),
		bagField: s.BagFields(),
	}
}

func (rb *recordBatcher) Schema() *Schema { return rb.r.Schema() }

// Skipped reports the malformed rows skipped so far.
func (rb *recordBatcher) Skipped() int64 { return rb.skip.Skipped() }

func (rb *recordBatcher) Next() (*Batch, error) {
	if rb.done {
		return nil, io.EOF
	}
	s := rb.r.Schema()
	var b *Batch
	if n := len(rb.free); n > 0 {
		b, rb.free = rb.free[n-1], rb.free[:n-1]
	} else {
		b = new(Batch)
	}
	b.reset(s, rb.opt.BatchSize, rb.opt.KeepRaw)
	nd, nc := s.NumDense(), s.NumCat()
	b.FirstRow = -1
	for b.Rows < rb.opt.BatchSize {
		if rb.opt.Limit > 0 && rb.delivered >= rb.opt.Skip+rb.opt.Limit {
			rb.done = true
			break
		}
		err := rb.skip.Read(rb.rec)
		if err == io.EOF {
			rb.done = true
			break
		}
		if err != nil {
			return nil, err
		}
		if rb.opt.Filter != nil && !rb.opt.Filter(rb.rec) {
			continue
		}
		idx := rb.delivered
		rb.delivered++
		if idx < rb.opt.Skip {
			continue
		}
		if b.FirstRow < 0 {
			b.FirstRow = idx - rb.opt.Skip
		}
		i := b.Rows
		rec := rb.rec
		b.Labels[i] = float32(rec.Label)
		for j := 0; j < nd; j++ {
			b.Dense[i*nd+j] = float32(rec.Dense[j])
			b.DenseMissing[i*nd+j] = !rec.DenseValid[j]
		}
		for f := 0; f < nc; f++ {
			b.IDs[i*nc+f] = rb.hasher.HashString(f, rec.Cat[f])
			if rb.opt.KeepRaw {
				b.Raw[i*nc+f] = strings.Clone(rec.Cat[f])
			}
		}
		for k := range b.Bags {
			b.Bags[k].add(rb.hasher, rb.bagField[k], rec.Bags[k], rb.opt.KeepRaw)
		}
		if s.Timestamp != "" {
			b.Timestamps[i] = rec.Timestamp
		}
		b.Rows++
	}
	b.truncate(s)
	if b.Rows == 0 {
		rb.Release(b)
		return nil, io.EOF
	}
	return b, nil
}

func (rb *recordBatcher) Release(b *Batch) {
	if b != nil {
		rb.free = append(rb.free, b)
	}
}

func (rb *recordBatcher) Close() error { return rb.r.Close() }

// prefetcher runs a BatchReader in its own goroutine.
type prefetcher struct {
	src    BatchReader
	ch     chan result
	free   chan *Batch
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

type result struct {
	b   *Batch
	err error
}

// Prefetch reads ahead up to depth batches from src in a goroutine, so
// parsing and decoding overlap with the consumer's work. Close stops it.
func Prefetch(src BatchReader, depth int) BatchReader {
	if depth <= 0 {
		depth = 2
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &prefetcher{
		src: src, ch: make(chan result, depth), free: make(chan *Batch, depth+2),
		cancel: cancel, done: make(chan struct{}),
	}
	go p.run(ctx)
	return p
}

func (p *prefetcher) run(ctx context.Context) {
	defer close(p.done)
	defer close(p.ch)
	for {
		// hand released batches back to the source
		for drained := false; !drained; {
			select {
			case b := <-p.free:
				p.src.Release(b)
			default:
				drained = true
			}
		}
		b, err := p.src.Next()
		select {
		case p.ch <- result{b, err}:
		case <-ctx.Done():
			return
		}
		if err != nil {
			return
		}
	}
}

func (p *prefetcher) Schema() *Schema { return p.src.Schema() }

func (p *prefetcher) Next() (*Batch, error) {
	if p.err != nil {
		return nil, p.err
	}
	r, ok := <-p.ch
	if !ok {
		if p.err == nil {
			p.err = io.EOF
		}
		return nil, p.err
	}
	if r.err != nil {
		p.err = r.err
		return nil, r.err
	}
	return r.b, nil
}

func (p *prefetcher) Release(b *Batch) {
	select {
	case p.free <- b:
	default:
	}
}

func (p *prefetcher) Close() error {
	p.cancel()
	<-p.done
	return p.src.Close()
}

// OpenBatches opens path as a batch source: a Parquet file written by
// Convert (format "parquet", or "" with a .parquet name) or a raw file of
// the given format. The reader prefetches in a goroutine.
func OpenBatches(format, path string, opt BatchOptions) (BatchReader, error) {
	opt.fill()
	if format == "" {
		format = GuessFormat(path)
	}
	if format == "parquet" {
		r, err := OpenParquetBatches(path, opt)
		if err != nil {
			return nil, err
		}
		return Prefetch(r, 3), nil
	}
	rr, err := OpenRawWith(format, path, opt.Raw)
	if err != nil {
		return nil, err
	}
	return Prefetch(NewRecordBatcher(rr, opt), 3), nil
}

// GuessFormat names the format of path from its name: "parquet" for
// *.parquet, "criteo" for *.tsv[.gz] and *.txt[.gz], "libsvm" for
// *.libsvm[.gz] and *.svm[.gz], "libffm" for *.libffm[.gz] and *.ffm[.gz],
// for *.csv[.gz] "avazu" when the file starts with Avazu's header or its
// columns, else "csv"; "" otherwise.
func GuessFormat(path string) string {
	p := path
	if len(p) > 3 && p[len(p)-3:] == ".gz" {
		p = p[:len(p)-3]
	}
	switch {
	case hasSuffix(p, ".parquet"):
		return "parquet"
	case hasSuffix(p, ".tsv"), hasSuffix(p, ".txt"):
		return "criteo"
	case hasSuffix(p, ".libsvm"), hasSuffix(p, ".svm"):
		return FormatLibSVM
	case hasSuffix(p, ".libffm"), hasSuffix(p, ".ffm"):
		return FormatLibFFM
	case hasSuffix(p, ".csv"):
		if looksLikeAvazu(path) {
			return FormatAvazu
		}
		return FormatCSV
	}
	return ""
}

// looksLikeAvazu reports whether the file at path starts with the Avazu
// header, or (a headerless file) with a row of 24 columns whose second is
// 0 or 1 and whose third is an hour YYMMDDHH. A file that cannot be read is
// taken for Avazu: opening it then reports the error.
func looksLikeAvazu(path string) bool {
	src, err := openLineSource(path)
	if err != nil {
		return true
	}
	defer src.Close()
	line, err := src.next()
	if err != nil {
		return true
	}
	if bytes.HasPrefix(line, []byte(avazuHeaderPrefix)) {
		return true
	}
	cols := bytes.Split(line, []byte{','})
	if len(cols) != avazuNumFields || len(cols[2]) != 8 {
		return false
	}
	_, isHour := parseDecimal(cols[2])
	return isHour && (string(cols[1]) == "0" || string(cols[1]) == "1")
}

func hasSuffix(s, suf string) bool { return len(s) >= len(suf) && s[len(s)-len(suf):] == suf }

// TransformDense applies the standard CTR transform log1p(max(x, 0)) to raw
// dense values, in place.
func TransformDense(x []float32) {
	for i, v := range x {
		if v <= 0 {
			x[i] = 0
		} else {
			x[i] = float32(math.Log1p(float64(v)))
		}
	}
}

// CountRows reads a source to the end and returns the number of rows
// delivered (after skipping malformed rows and applying opt.Filter).
func CountRows(format, path string, opt BatchOptions) (int64, error) {
	r, err := OpenBatches(format, path, opt)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	var n int64
	for {
		b, err := r.Next()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("count rows of %s: %w", path, err)
		}
		n += int64(b.Rows)
		r.Release(b)
	}
}
