package pq

import (
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/hashing"
)

// The methods' names (train --table mgqe, --table dpq).
const (
	MGQE = "mgqe"
	DPQ  = "dpq"
)

// Config is a product-quantized table's configuration, as checkpoints
// record it.
type Config struct {
	Kind string `json:"kind"`
	// Full is the query table's config (training only).
	Full embedding.Config `json:"full"`
	// Parts cuts a vector into parts of Dim/Parts floats.
	Parts int `json:"parts"`
	// High and Low are the codewords a frequent id and another id choose
	// from (powers of two, Low <= High <= 65536; DPQ: Low = High).
	High int `json:"high"`
	Low  int `json:"low"`
	// Frequent[f] is the number of field f's ids, the first in its
	// vocabulary order, that are frequent.
	Frequent []int `json:"frequent"`
}

// Settings are the --table-config file's fields; zero means the default
// (MGQE: 256 and 64 codewords, the top 10% of ids frequent, as Hetu's
// run; DPQ: 32 codewords; parts: the most that fit the budget).
type Settings struct {
	Parts       int     `json:"parts"`
	High        int     `json:"high"`
	Low         int     `json:"low"`
	TopFraction float64 `json:"top_fraction"`
}

func (c Config) check() error {
	d := c.Full.Dim
	pow2 := func(n int) bool { return n >= 1 && n <= 1<<16 && n&(n-1) == 0 }
	if (c.Kind != MGQE && c.Kind != DPQ) || d < 1 || c.Parts < 1 || c.Parts > d || d%c.Parts != 0 ||
		!pow2(c.High) || !pow2(c.Low) || c.Low > c.High || (c.Kind == DPQ && c.Low != c.High) {
		return fmt.Errorf("%s table: dim %d, %d parts, %d/%d codewords: %w", c.Kind, d, c.Parts, c.High, c.Low, embedding.ErrConfig)
	}
	if c.Full.Storage != "" && c.Full.Storage != embedding.StorageFP32 {
		return fmt.Errorf("%s table: storage %q: the query rows train in fp32: %w", c.Kind, c.Full.Storage, embedding.ErrConfig)
	}
	if c.Full.FieldDims != nil {
		return fmt.Errorf("%s table: per-field dims: %w", c.Kind, embedding.ErrConfig)
	}
	return nil
}

// codeBits returns the bits of a code among k codewords.
func codeBits(k int) int { return bits.TrailingZeros(uint(k)) }

// codeWords returns the floats of a code row of parts codes of b bits
// (24 bits a float; at least one float).
func codeWords(parts, b int) int { return max(1, (parts*b+23)/24) }

// Bytes returns the serving bytes of a table over fields of n[f] ids
// (frequent[f] of them frequent) at dim: the code rows (one more per field
// for unseen ids, in the low tier), the codebooks and the vocabulary.
func Bytes(n, frequent []int, dim, parts, high, low int) int64 {
	var b int64
	wh, wl := codeWords(parts, codeBits(high)), codeWords(parts, codeBits(low))
	books, _ := fieldBooks(n, high, low)
	for f := range n {
		b += 4*int64(frequent[f])*int64(wh) + 4*int64(n[f]-frequent[f]+1)*int64(wl)
		b += embedding.IndexBytesPerID * int64(n[f])
		b += 4 * int64(books[f]) * int64(dim)
	}
	return b
}

// fieldBooks returns each field's codewords per part for its frequent
// ids and for the others: high and low, or for a field of few ids (n[f]
// and its row for unseen ids) the power of two at or above that count
// (codes keep high's and low's widths).
func fieldBooks(n []int, high, low int) (hi, lo []int) {
	hi, lo = make([]int, len(n)), make([]int, len(n))
	for f, k := range n {
		hi[f] = min(high, 1<<bits.Len(uint(k))) // > k: covers the ids and the unseen row
		lo[f] = min(low, hi[f])
	}
	return hi, lo
}

// bookBase returns each field's first codebook row (its part p, codeword
// c at row base[f] + p·hi[f] + c) and the rows of all.
func bookBase(hi []int, parts int) ([]int, int) {
	base := make([]int, len(hi))
	at := 0
	for f, k := range hi {
		base[f] = at
		at += parts * k
	}
	return base, at
}

// Table is a product-quantized table in training: the query rows (a full
// table), the codebooks, and each row's tier. It implements
// embedding.TrainTable and embedding.Describer.
type Table struct {
	cfg  Config
	full *embedding.Full
	q    *embedding.Rows // the full table's one row set
	cb   *embedding.Rows // codebooks: row (f·Parts + p)·High + c
	high []bool          // per query row: frequent
	base []int           // per field: its first query row
	// Per field: codewords per part (frequent ids, others) and the first
	// codebook row.
	books, lows, bbase []int
	// The codes of the current epoch, per query row (cache[r·Parts + p]),
	// valid where stamp[r] == epoch: lookups fill them (from any goroutine:
	// atomic stores of the same values), Apply reads them and then moves
	// the epoch, as its updates change queries and codewords.
	stamp []atomic.Uint32
	cache []atomic.Uint32
	epoch uint32
	norms []float32 // each codeword's squared norm, for nearest
	// Apply's scratch.
	codes []uint16
	cgrad []float32
	cidx  []int32
	keys  []embedding.Key
}

var keyPool sync.Pool // of *[]embedding.Key

// New returns a fresh table over vocab (per field, the training ids, with
// their counts) for c (c.Frequent is set from the counts and top, the
// share of each field's ids that is frequent). Queries and codewords start
// uniform within c.Full.InitScale.
func New(vocab [][]uint64, counts [][]uint32, top float64, c Config) (*Table, error) {
	freq := make([]int, len(vocab))
	high := make([][]bool, len(vocab))
	for f, ids := range vocab {
		if len(counts[f]) != len(ids) {
			return nil, fmt.Errorf("%s table: field %d: %d counts for %d ids: %w", c.Kind, f, len(counts[f]), len(ids), embedding.ErrConfig)
		}
		high[f] = make([]bool, len(ids))
		if c.Low == c.High {
			continue
		}
		order := make([]int, len(ids))
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(a, b int) int { return int(int64(counts[f][b]) - int64(counts[f][a])) })
		freq[f] = int(math.Round(top * float64(len(ids))))
		for _, i := range order[:freq[f]] {
			high[f][i] = true
		}
	}
	c.Frequent = freq
	if err := c.check(); err != nil {
		return nil, err
	}
	full, err := embedding.NewFull(vocab, c.Full)
	if err != nil {
		return nil, fmt.Errorf("%s table: %w", c.Kind, err)
	}
	c.Full = full.Config()
	t, err := wrap(c, full, nil)
	if err != nil {
		return nil, err
	}
	for f := range vocab {
		copy(t.high[t.base[f]:], high[f])
	}
	t.cb.InitUniform(0, t.cb.Len(), c.Full.InitScale, c.Full.Seed, 1<<20)
	t.updateNorms()
	return t, nil
}

// wrap returns a table of c over the query table full, with fresh
// codebooks (zero) unless cb is given.
func wrap(c Config, full *embedding.Full, cb *embedding.Rows) (*Table, error) {
	sets := full.RowSets()
	if len(sets) != 1 || full.Dim() != c.Full.Dim || len(c.Frequent) != full.Fields() {
		return nil, fmt.Errorf("%s table: query table of %d row sets at dim %d, %d fields: %w", c.Kind, len(sets), full.Dim(), full.Fields(), embedding.ErrConfig)
	}
	nf, d := full.Fields(), c.Full.Dim
	t := &Table{cfg: c, full: full, q: sets[0], high: make([]bool, sets[0].Len()), base: make([]int, nf)}
	row := 0
	n := make([]int, nf)
	for f := range nf {
		t.base[f] = row
		if n[f] = len(full.Vocab(f)); c.Frequent[f] < 0 || c.Frequent[f] > n[f] {
			return nil, fmt.Errorf("%s table: field %d: %d frequent of %d ids: %w", c.Kind, f, c.Frequent[f], n[f], embedding.ErrConfig)
		}
		row += n[f] + 1
	}
	t.books, t.lows = fieldBooks(n, c.High, c.Low)
	var rows int
	t.bbase, rows = bookBase(t.books, c.Parts)
	if cb == nil {
		var err error
		st := embedding.Storage{Seed: hashing.FieldSalt(c.Full.Seed, 1)}
		if cb, err = embedding.NewRowsWithStorage(rows, d/c.Parts, c.Full.Optimizer, st); err != nil {
			return nil, fmt.Errorf("%s table: codebooks: %w", c.Kind, err)
		}
	}
	if cb.Len() != rows || cb.Dim() != d/c.Parts {
		return nil, fmt.Errorf("%s table: codebooks %d x %d: %w", c.Kind, cb.Len(), cb.Dim(), embedding.ErrConfig)
	}
	t.cb = cb
	t.cb.SetThreads(full.Threads())
	t.stamp = make([]atomic.Uint32, len(t.high))
	t.cache = make([]atomic.Uint32, len(t.high)*c.Parts)
	t.epoch = 1
	t.updateNorms()
	return t, nil
}

// code returns the code of part p of query row r of field f, from the
// epoch's cache (computing and caching the row's codes when it has none).
func (t *Table) code(f, r, p int) int {
	P := t.cfg.Parts
	if t.stamp[r].Load() != t.epoch {
		for k := range P {
			t.cache[r*P+k].Store(uint32(t.nearest(f, k, r)))
		}
		t.stamp[r].Store(t.epoch)
	}
	return int(t.cache[r*P+p].Load())
}

// nextEpoch invalidates the cached codes (and recomputes the norms of
// the codewords, which moved).
func (t *Table) nextEpoch() {
	t.updateNorms()
	if t.epoch++; t.epoch == 0 {
		for i := range t.stamp {
			t.stamp[i].Store(0)
		}
		t.epoch = 1
	}
}

// Fields returns the number of fields.
func (t *Table) Fields() int { return t.full.Fields() }

// Dim returns the floats per vector.
func (t *Table) Dim() int { return t.cfg.Full.Dim }

// rowOf returns the query row of id in field f.
func (t *Table) rowOf(keys *[]embedding.Key, f int, id uint64) int {
	*keys = t.full.Plan().Fields[f].Keys((*keys)[:0], id)
	return int((*keys)[0].Row)
}

// nearest returns the code of part p of query row r of field f: the
// nearest of the row's tier's codewords by squared distance, computed as
// |c|² − 2·q·c (|q|² is the same for every candidate) with the epoch's
// norms; the first on ties.
func (t *Table) nearest(f, p, r int) int {
	pd := t.cfg.Full.Dim / t.cfg.Parts
	q := t.q.Params()[r*t.cfg.Full.Dim+p*pd:][:pd:pd]
	k := t.lows[f]
	if t.high[r] {
		k = t.books[f]
	}
	first := t.bbase[f] + p*t.books[f]
	cbs := t.cb.Params()[first*pd:][: k*pd : k*pd]
	norms := t.norms[first:][:k:k]
	best, bestD := 0, float32(math.Inf(1))
	for c, n := range norms {
		w := cbs[c*pd : (c+1)*pd : (c+1)*pd]
		var dot float32
		for j, x := range q {
			dot += x * w[j]
		}
		if s := n - 2*dot; s < bestD {
			best, bestD = c, s
		}
	}
	return best
}

// updateNorms recomputes the codewords' squared norms.
func (t *Table) updateNorms() {
	pd := t.cb.Dim()
	if len(t.norms) != t.cb.Len() {
		t.norms = make([]float32, t.cb.Len())
	}
	vals := t.cb.Params()
	for c := range t.norms {
		var s float32
		for _, x := range vals[c*pd : (c+1)*pd] {
			s += x * x
		}
		t.norms[c] = s
	}
}

// codeword returns codeword c of part p of field f.
func (t *Table) codeword(f, p, c int) []float32 {
	pd := t.cfg.Full.Dim / t.cfg.Parts
	return t.cb.Row(t.bbase[f] + p*t.books[f] + c)[:pd]
}

// Lookup writes each id's codewords: per part, the one nearest its query.
// It is safe for concurrent use.
func (t *Table) Lookup(ids []uint64, out []float32) {
	d, nf := t.cfg.Full.Dim, t.Fields()
	if len(ids)%nf != 0 || len(out) != len(ids)*d {
		panic(fmt.Sprintf("pq: Lookup: %d ids of %d fields, len(out)=%d, want %d", len(ids), nf, len(out), len(ids)*d))
	}
	t.lookup(ids, nil, out)
}

// LookupFields is Lookup for ids in the given fields (see
// [embedding.FieldTrainable]).
func (t *Table) LookupFields(ids []uint64, fields []int, out []float32) {
	embedding.CheckFields("pq: LookupFields", ids, fields, len(out), t.cfg.Full.Dim, t.Fields())
	t.lookup(ids, fields, out)
}

func (t *Table) lookup(ids []uint64, fields []int, out []float32) {
	d, nf, pd := t.cfg.Full.Dim, t.Fields(), t.cfg.Full.Dim/t.cfg.Parts
	keys, _ := keyPool.Get().(*[]embedding.Key)
	if keys == nil {
		keys = new([]embedding.Key)
	}
	defer keyPool.Put(keys)
	for i, id := range ids {
		f := embedding.FieldOf(fields, i, nf)
		r := t.rowOf(keys, f, id)
		for p := range t.cfg.Parts {
			copy(out[i*d+p*pd:i*d+(p+1)*pd], t.codeword(f, p, t.code(f, r, p)))
		}
	}
}

// Apply passes grads straight through to the ids' query rows, and moves
// each chosen codeword toward its query by the gradient of the mean
// squared distance over the batch's values (an id whose gradient is zero
// moves none).
func (t *Table) Apply(ids []uint64, grads []float32) {
	d, nf := t.cfg.Full.Dim, t.Fields()
	if len(ids)%nf != 0 || len(grads) != len(ids)*d {
		panic(fmt.Sprintf("pq: Apply: %d ids of %d fields, len(grads)=%d, want %d", len(ids), nf, len(grads), len(ids)*d))
	}
	t.apply(ids, nil, grads)
}

// ApplyFields is Apply for ids in the given fields.
func (t *Table) ApplyFields(ids []uint64, fields []int, grads []float32) {
	embedding.CheckFields("pq: ApplyFields", ids, fields, len(grads), t.cfg.Full.Dim, t.Fields())
	t.apply(ids, fields, grads)
}

func (t *Table) apply(ids []uint64, fields []int, grads []float32) {
	d, nf, P, pd := t.cfg.Full.Dim, t.Fields(), t.cfg.Parts, t.cfg.Full.Dim/t.cfg.Parts
	if cap(t.codes) < len(ids)*P {
		t.codes = make([]uint16, len(ids)*P)
	}
	codes := t.codes[:len(ids)*P]
	if th := t.full.Threads(); th > 1 && len(ids) >= 1024 {
		var wg sync.WaitGroup
		for k := range th {
			lo, hi := len(ids)*k/th, len(ids)*(k+1)/th
			wg.Add(1)
			go func() {
				defer wg.Done()
				var keys []embedding.Key
				t.computeCodes(ids, fields, codes, lo, hi, &keys)
			}()
		}
		wg.Wait()
	} else {
		t.computeCodes(ids, fields, codes, 0, len(ids), &t.keys)
	}
	n := t.cb.Len()
	if len(t.cgrad) != n*pd {
		t.cgrad = make([]float32, n*pd)
	}
	scale := 2 / float32(len(ids)*d)
	qs := t.q.Params()
	for i, id := range ids {
		if !slices.ContainsFunc(grads[i*d:(i+1)*d], func(x float32) bool { return x != 0 }) {
			continue
		}
		f := embedding.FieldOf(fields, i, nf)
		r := t.rowOf(&t.keys, f, id)
		for p := range P {
			cr := t.bbase[f] + p*t.books[f] + int(codes[i*P+p])
			w, q, g := t.cb.Row(cr)[:pd], qs[r*d+p*pd:][:pd], t.cgrad[cr*pd:][:pd]
			for j := range g {
				g[j] += scale * (w[j] - q[j])
			}
		}
	}
	if fields == nil {
		t.full.Apply(ids, grads)
	} else {
		t.full.ApplyFields(ids, fields, grads)
	}
	t.cidx = t.cidx[:0]
	at := 0
	for cr := range n {
		g := t.cgrad[cr*pd : (cr+1)*pd]
		if slices.ContainsFunc(g, func(x float32) bool { return x != 0 }) {
			t.cidx = append(t.cidx, int32(cr))
			copy(t.cgrad[at*pd:], g)
			at++
		}
	}
	if at > 0 {
		t.cb.Apply(t.cidx, t.cgrad[:at*pd])
	}
	clear(t.cgrad)
	t.nextEpoch()
}

// computeCodes writes the codes of ids[lo:hi] (from their queries before
// the update) to codes.
func (t *Table) computeCodes(ids []uint64, fields []int, codes []uint16, lo, hi int, keys *[]embedding.Key) {
	nf, P := t.Fields(), t.cfg.Parts
	for i := lo; i < hi; i++ {
		f := embedding.FieldOf(fields, i, nf)
		r := t.rowOf(keys, f, ids[i])
		for p := range P {
			codes[i*P+p] = uint16(t.code(f, r, p))
		}
	}
}

// SetThreads sets the threads of lookups and updates.
func (t *Table) SetThreads(n int) {
	t.full.SetThreads(n)
	t.cb.SetThreads(n)
}

// Bytes reports the training memory: queries, codebooks, tiers.
func (t *Table) Bytes() embedding.Bytes {
	b := t.full.Bytes()
	cb := t.cb.Bytes()
	b.Params += cb.Params
	b.Optimizer += cb.Optimizer
	b.Index += int64(len(t.high)) + 4*int64(len(t.stamp)+len(t.cache))
	return b
}

// ServingBytes returns the bytes of the table's artifact form.
func (t *Table) ServingBytes() int64 {
	n := make([]int, t.Fields())
	for f := range n {
		n[f] = len(t.full.Vocab(f))
	}
	c := t.cfg
	return Bytes(n, c.Frequent, c.Full.Dim, c.Parts, c.High, c.Low)
}

// Serving is the artifact form's config, as its manifest records it (with
// the vocabulary, each field's frequent ids first, as its index).
type Serving struct {
	Dim      int   `json:"dim"`
	Parts    int   `json:"parts"`
	High     int   `json:"high"`
	Low      int   `json:"low"`
	Frequent []int `json:"frequent"`
	IDs      []int `json:"ids"`
}

// Describe records the artifact form: each id's codes, the codebooks and
// the vocabulary.
func (t *Table) Describe() (embedding.Description, error) {
	c := t.cfg
	d, P := c.Full.Dim, c.Parts
	s := Serving{Dim: d, Parts: P, High: c.High, Low: c.Low, Frequent: slices.Clone(c.Frequent)}
	index := make([][]uint64, t.Fields())
	bh, bl := codeBits(c.High), codeBits(c.Low)
	wh, wl := codeWords(P, bh), codeWords(P, bl)
	var hi, lo []float32
	codes := make([]int, P)
	put := func(dst []float32, f, r, b, w int) []float32 {
		for p := range P {
			codes[p] = t.code(f, r, p)
		}
		return append(dst, pack(codes, b, w)...)
	}
	for f := range t.Fields() {
		vocab := t.full.Vocab(f)
		s.IDs = append(s.IDs, len(vocab))
		index[f] = make([]uint64, 0, len(vocab))
		for i, id := range vocab {
			if r := t.base[f] + i; t.high[r] {
				index[f] = append(index[f], id)
				hi = put(hi, f, r, bh, wh)
			}
		}
		for i, id := range vocab {
			if r := t.base[f] + i; !t.high[r] {
				index[f] = append(index[f], id)
				lo = put(lo, f, r, bl, wl)
			}
		}
		lo = put(lo, f, t.base[f]+len(vocab), bl, wl) // unseen ids
	}
	js, err := json.Marshal(s)
	if err != nil {
		return embedding.Description{}, fmt.Errorf("%s table: encode config: %w", c.Kind, err)
	}
	ix, err := embedding.NewIndex(index)
	if err != nil {
		return embedding.Description{}, fmt.Errorf("%s table: %w", c.Kind, err)
	}
	p, err := s.plan(ix)
	if err != nil {
		return embedding.Description{}, err
	}
	desc := embedding.Description{Method: c.Kind, Config: js, Plan: p, Index: index}
	data := [][]float32{t.cb.Params(), hi, lo}
	if len(hi) == 0 {
		data = [][]float32{t.cb.Params(), lo}
	}
	for k, sh := range p.Sets {
		r, err := embedding.NewRows(sh.Rows, sh.Width, embedding.Optimizer{Name: embedding.SGD, LR: 1})
		if err != nil {
			return embedding.Description{}, fmt.Errorf("%s table: row set %d: %w", c.Kind, k, err)
		}
		r.WriteRows(0, data[k])
		desc.Sets = append(desc.Sets, r)
		desc.SetWidths = append(desc.SetWidths, sh.Width)
		desc.Width = max(desc.Width, sh.Width)
	}
	return desc, nil
}

// pack writes codes of b bits each into w floats, 24 bits a float as
// exact integers, little-endian.
func pack(codes []int, b, w int) []float32 {
	out := make([]float32, w)
	for p, c := range codes {
		for k := range b {
			if c&(1<<k) != 0 {
				bit := p*b + k
				out[bit/24] = float32(uint32(out[bit/24]) | 1<<(bit%24))
			}
		}
	}
	return out
}

// unpack reads code p of b bits from packed floats (a float that is not
// an exact integer in [0, 2^24) reads as zero bits).
func unpack(row []float32, p, b int) int {
	c := 0
	for k := range b {
		bit := p*b + k
		x := row[bit/24]
		if !(x >= 0 && x < 1<<24) {
			continue
		}
		if uint32(x)&(1<<(bit%24)) != 0 {
			c |= 1 << k
		}
	}
	return c
}

var (
	_ embedding.TrainTable     = (*Table)(nil)
	_ embedding.FieldTrainable = (*Table)(nil)
	_ embedding.Describer      = (*Table)(nil)
)
