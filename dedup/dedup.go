package dedup

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/hashing"
)

// Method is the method's name in manifests and flags.
const Method = "dedup"

// Defaults of the settings (see [method.New]).
const (
	// DefaultAfter is the Apply calls (training steps) before the dedup:
	// it fires inside one epoch of the train command's default generated
	// set (200k rows, batch 2048: about 90 steps).
	DefaultAfter = 40
	// DefaultThreshold is the cosine similarity at or above which two
	// blocks of one LSH bucket are merged.
	DefaultThreshold = 0.95
	// DefaultBits is the random hyperplanes (sign bits) of the LSH.
	DefaultBits = 12
	// maxRepsPerBucket bounds the representatives a block is compared
	// with in its bucket (the dedup's cost is at most blocks·this·Block).
	maxRepsPerBucket = 64
)

// Config describes a dedup table completely enough to rebuild it (with its
// saved rows, its state): a manifest stores it as JSON.
type Config struct {
	// Method is "dedup" (or empty on input).
	Method string `json:"method"`
	// Dim is the floats per field vector.
	Dim int `json:"dim"`
	// Block is B, the floats per block (a divisor of Dim).
	Block int `json:"block"`
	// Rows are the logical hashed rows of each field (Dim floats each,
	// Dim/Block logical blocks each).
	Rows []int `json:"rows"`
	// After is the Apply calls before the dedup (0: never).
	After int `json:"after"`
	// Threshold is the cosine similarity of a merge.
	Threshold float64 `json:"threshold"`
	// FP, when > 0, makes the similarity the benchmark's element-wise one
	// instead of the cosine: the share of the Block floats that differ
	// by at most FP (its fp 0.01, with Threshold its sim 0.7).
	FP float64 `json:"fp,omitempty"`
	// Bits is the LSH's hyperplanes (1..32).
	Bits int `json:"bits"`
	// MaxPhysical, when > 0, is the most physical blocks the budget
	// allows after the dedup (set when the table is oversized by a
	// ratio > 1): the dedup keeps merging the most similar pairs of a
	// bucket, below the threshold, to get there.
	MaxPhysical int `json:"max_physical,omitempty"`
	// Optimizer is the sparse row optimizer (a row is a block).
	Optimizer embedding.Optimizer `json:"optimizer"`
	// InitScale is the half-width of the uniform init (0: the default).
	InitScale float32 `json:"init_scale,omitempty"`
	// Seed seeds the init, the LSH (and int8 rounding).
	Seed uint64 `json:"seed"`
	// Storage is the rows' training precision ("" for fp32, or int8).
	Storage string `json:"storage,omitempty"`
	// Remap maps logical block (field offset + hashed row)·Dim/Block + k
	// to its physical row: nil before the dedup (the identity). It is
	// 4 bytes a logical block in serving bytes; it travels in the config
	// JSON as base64 (see the package doc for the limit).
	Remap Remap `json:"remap,omitempty"`
	// Physical is the physical rows after the dedup (0 before it).
	Physical int `json:"physical,omitempty"`
}

// maxLogical bounds the logical blocks (the remap's length): 16/3 bytes
// of base64 each in the config JSON, so the remap of 2^23 blocks (about
// 43 MiB) fits in an artifact's manifest (64 MiB).
const maxLogical = 1 << 23

// Blocks returns the blocks per vector, Dim/Block.
func (c Config) Blocks() int { return c.Dim / c.Block }

// Logical returns the logical blocks.
func (c Config) Logical() int {
	n := 0
	for _, r := range c.Rows {
		n += r
	}
	return n * c.Blocks()
}

// PhysicalRows returns the rows of the row set: Physical after the dedup,
// else the logical blocks.
func (c Config) PhysicalRows() int {
	if c.Remap != nil {
		return c.Physical
	}
	return c.Logical()
}

// Deduped reports whether the dedup has run.
func (c Config) Deduped() bool { return c.Remap != nil }

// ServingBytes returns the table's serving bytes as fp32: the physical
// rows and the remap (4 bytes a logical block, counted from the start:
// sizing reserves it).
func (c Config) ServingBytes() int64 {
	return int64(c.PhysicalRows())*int64(c.Block)*4 + RemapBytes(c.Logical())
}

// RemapBytes is the remap's bytes for n logical blocks.
func RemapBytes(n int) int64 { return int64(n) * 4 }

// WithDefaults validates c and returns it with its defaults filled in (the
// errors wrap embedding.ErrConfig or embedding.ErrTooManyRows).
func (c Config) WithDefaults() (Config, error) {
	if c.Method == "" {
		c.Method = Method
	}
	if c.Method != Method {
		return c, fmt.Errorf("dedup table: method %q: %w", c.Method, embedding.ErrConfig)
	}
	if len(c.Rows) == 0 || c.Dim < 1 || c.Block < 1 || c.Dim%c.Block != 0 {
		return c, fmt.Errorf("dedup table: %d fields, dim %d, block %d (must divide the dim): %w", len(c.Rows), c.Dim, c.Block, embedding.ErrConfig)
	}
	n := int64(0)
	for f, r := range c.Rows {
		if r < 1 {
			return c, fmt.Errorf("dedup table: field %d: %d rows: %w", f, r, embedding.ErrConfig)
		}
		n += int64(r)
	}
	if n*int64(c.Blocks()) > maxLogical {
		return c, fmt.Errorf("dedup table: %d logical blocks (max %d): %w", n*int64(c.Blocks()), maxLogical, embedding.ErrTooManyRows)
	}
	if c.After < 0 || c.Bits < 1 || c.Bits > 32 || math.IsNaN(c.Threshold) || c.Threshold > 1 || c.Threshold < -1 || c.MaxPhysical < 0 ||
		!(c.FP >= 0) || math.IsInf(c.FP, 0) {
		return c, fmt.Errorf("dedup table: after %d, bits %d, threshold %v, max physical %d: %w", c.After, c.Bits, c.Threshold, c.MaxPhysical, embedding.ErrConfig)
	}
	if c.Remap != nil {
		if len(c.Remap) != c.Logical() || c.Physical < 1 || c.Physical > c.Logical() {
			return c, fmt.Errorf("dedup table: remap of %d blocks to %d rows for %d logical blocks: %w", len(c.Remap), c.Physical, c.Logical(), embedding.ErrConfig)
		}
		for i, p := range c.Remap {
			if int(p) >= c.Physical {
				return c, fmt.Errorf("dedup table: remap[%d] = %d of %d rows: %w", i, p, c.Physical, embedding.ErrConfig)
			}
		}
	} else if c.Physical != 0 {
		return c, fmt.Errorf("dedup table: %d physical rows without a remap: %w", c.Physical, embedding.ErrConfig)
	}
	if embedding.IsALPT(c.Storage) {
		// Dedup's merge rewrites rows between Apply and ApplyScales.
		return c, fmt.Errorf("dedup table: storage %s is not supported (fp32 or int8): %w", c.Storage, embedding.ErrConfig)
	}
	hc, err := c.storeConfig(c.PhysicalRows()).WithDefaults()
	if err != nil {
		return c, fmt.Errorf("dedup table: %w", err)
	}
	c.Optimizer, c.InitScale, c.Storage = hc.Optimizer, hc.InitScale, hc.Storage
	return c, nil
}

// storeConfig is the config of the one-field hashed table of rows Block-
// float rows that holds the physical blocks.
func (c Config) storeConfig(rows int) embedding.Config {
	return embedding.Config{Method: embedding.MethodHashed, Dim: c.Block, Rows: []int{rows},
		Optimizer: c.Optimizer, InitScale: c.InitScale, Seed: hashing.FieldSalt(c.Seed, 0), Storage: c.Storage}
}

// sameShape reports whether a and b are the same table but for the dedup's
// outcome (Remap, Physical).
func sameShape(a, b Config) bool {
	a.Remap, b.Remap, a.Physical, b.Physical = nil, nil, 0, 0
	ra, rb := a.Rows, b.Rows
	a.Rows, b.Rows = nil, nil
	return slices.Equal(ra, rb) && a.Method == b.Method && a.Dim == b.Dim && a.Block == b.Block && a.After == b.After &&
		a.Threshold == b.Threshold && a.FP == b.FP && a.Bits == b.Bits && a.MaxPhysical == b.MaxPhysical && a.Optimizer == b.Optimizer &&
		a.InitScale == b.InitScale && a.Seed == b.Seed && a.Storage == b.Storage
}

// plan is the key plan of c (defaults filled in): field f's id hashes to
// logical row h of the field; its k-th block is logical block
// (off_f+h)·Dim/Block + k, read through the remap.
func (c Config) plan() *embedding.Plan {
	p := &embedding.Plan{Dim: c.Dim, Sets: []embedding.SetShape{{Rows: c.PhysicalRows(), Width: c.Block}}}
	nb, remap, off := c.Blocks(), c.Remap, 0
	for f, rows := range c.Rows {
		base, n := off, uint64(rows)
		fp := embedding.FieldPlan{NumKeys: nb, Combine: embedding.ConcatRows, Width: c.Block, Used: c.Dim,
			Keys: func(dst []embedding.Key, id uint64) []embedding.Key {
				l := (base + int(hashing.Bucket(hashing.Probe(id, f), n))) * nb
				for k := range nb {
					r := uint32(l + k)
					if remap != nil {
						r = remap[l+k]
					}
					dst = append(dst, embedding.Key{Row: r})
				}
				return dst
			}}
		p.Fields = append(p.Fields, fp)
		off += rows
	}
	return p
}

// Table is a dedup table: its config, the physical blocks (a one-field
// hashed table of Block-float rows, whose store the plan reads) and the
// shared engine. It counts its Apply calls and dedups once after
// Config.After of them. It implements embedding.TrainTable and
// embedding.Describer.
type Table struct {
	cfg     Config
	steps   int
	threads int
	store   *embedding.Hashed
	*embedding.Planned
}

// New returns a freshly initialised table for c (with c.Remap, the rows
// are initialised as if fresh: Load sets them). The errors wrap
// embedding.ErrConfig, embedding.ErrTooManyRows or
// embedding.ErrUnknownOptimizer.
func New(c Config) (*Table, error) {
	c, err := c.WithDefaults()
	if err != nil {
		return nil, fmt.Errorf("new dedup table: %w", err)
	}
	t := &Table{threads: 1}
	if err := t.build(c); err != nil {
		return nil, fmt.Errorf("new dedup table: %w", err)
	}
	return t, nil
}

// build sets the table's config, a fresh store and the engine.
func (t *Table) build(c Config) error {
	store, err := embedding.NewHashed(c.storeConfig(c.PhysicalRows()))
	if err != nil {
		return fmt.Errorf("blocks: %w", err)
	}
	return t.use(c, store)
}

func (t *Table) use(c Config, store *embedding.Hashed) error {
	pl, err := embedding.NewPlanned(c.plan(), store.RowSets())
	if err != nil {
		return err
	}
	t.cfg, t.store, t.Planned = c, store, pl
	t.Planned.SetThreads(t.threads)
	return nil
}

// Config returns the table's configuration, defaults filled in (with the
// remap after the dedup; it aliases the table's).
func (t *Table) Config() Config { return t.cfg }

// Steps returns the Apply calls so far (restored by Load).
func (t *Table) Steps() int { return t.steps }

// Bytes reports the physical blocks' parameter and optimizer bytes and, as
// the index, the remap (4 bytes a logical block, reserved from the start).
func (t *Table) Bytes() embedding.Bytes {
	b := t.Planned.Bytes()
	b.Index = RemapBytes(t.cfg.Logical())
	return b
}

// ConfigServingBytes returns the bytes the table serves from its config
// beyond its row set: the remap after the dedup (4 bytes a logical
// block), nothing before it (the identity is not stored). The trainer adds
// them to the result's serving bytes.
func (t *Table) ConfigServingBytes() int64 {
	if !t.cfg.Deduped() {
		return 0
	}
	return RemapBytes(t.cfg.Logical())
}

// SetThreads sets the goroutines of Apply and of the lookup kernel (n <= 0:
// GOMAXPROCS); results do not depend on it.
func (t *Table) SetThreads(n int) {
	t.threads = n
	t.Planned.SetThreads(n)
}

// Apply trains the rows ids read (see embedding.Trainable); the After-th
// call then runs the dedup.
func (t *Table) Apply(ids []uint64, grads []float32) {
	t.Planned.Apply(ids, grads)
	t.stepped()
}

// ApplyFields is Apply for ids in the given fields (see
// [embedding.FieldTrainable]).
func (t *Table) ApplyFields(ids []uint64, fields []int, grads []float32) {
	t.Planned.ApplyFields(ids, fields, grads)
	t.stepped()
}

// stepped counts a training step and runs the dedup at the After-th.
func (t *Table) stepped() {
	t.steps++
	if t.cfg.After > 0 && t.steps >= t.cfg.After && !t.cfg.Deduped() {
		if err := t.Dedup(); err != nil {
			panic("dedup: " + err.Error())
		}
	}
}

// Dedup merges similar blocks now (once; later calls do nothing): blocks
// hashed to one LSH bucket (the signs of Bits random projections) whose
// similarity (cosine, or with FP the share of floats within FP) with a
// representative of the bucket is at least
// Threshold join it; each group becomes one physical row, the mean of its
// blocks' parameters with its representative's optimizer state; the remap
// sends each logical block to its group's row. With MaxPhysical, the most
// similar remaining (block, representative) pairs of the buckets are then
// merged below the threshold until the rows fit (or no pair is left).
func (t *Table) Dedup() error {
	if t.cfg.Deduped() {
		return nil
	}
	c := t.cfg
	old := t.store.RowSets()[0]
	n, w := old.Len(), c.Block
	p := make([]float32, n*w)
	old.ReadRows(0, p)
	group := groups(p, n, w, c)
	// Physical rows in order of their representative's first block.
	phys := make([]uint32, n) // representative block -> physical row
	reps := []int{}
	remap := make(Remap, n)
	for i := range n {
		if group[i] == i {
			phys[i] = uint32(len(reps))
			reps = append(reps, i)
		}
		remap[i] = phys[group[i]]
	}
	mean := make([]float32, len(reps)*w)
	cnt := make([]float32, len(reps))
	for i := range n {
		r := remap[i]
		cnt[r]++
		for j := range w {
			mean[int(r)*w+j] += p[i*w+j]
		}
	}
	for r := range reps {
		for j := range w {
			mean[r*w+j] /= cnt[r]
		}
	}
	nc := c
	nc.Remap, nc.Physical = remap, len(reps)
	nc, err := nc.WithDefaults()
	if err != nil {
		return err
	}
	store, err := embedding.NewHashed(nc.storeConfig(nc.Physical))
	if err != nil {
		return err
	}
	rows := store.RowSets()[0]
	for r, b := range reps {
		rows.CopyRow(r, old, b)
	}
	rows.WriteRows(0, mean)
	return t.use(nc, store)
}

// groups returns for each of the n blocks of p (w floats each) the
// representative block of its group (itself for a representative).
func groups(p []float32, n, w int, c Config) []int {
	rng := rand.New(rand.NewPCG(c.Seed, 0xDED0B10C))
	planes := make([]float32, c.Bits*w)
	for i := range planes {
		planes[i] = float32(rng.NormFloat64())
	}
	norms := make([]float64, n)
	for i := range n {
		norms[i] = math.Sqrt(dot(p[i*w:(i+1)*w], p[i*w:(i+1)*w]))
	}
	cos := func(a, b int) float64 {
		if c.FP > 0 {
			near := 0
			for j := range w {
				if math.Abs(float64(p[a*w+j]-p[b*w+j])) <= c.FP {
					near++
				}
			}
			return float64(near) / float64(w)
		}
		na, nb := norms[a], norms[b]
		if na == 0 || nb == 0 {
			if na == nb {
				return 1
			}
			return 0
		}
		return dot(p[a*w:(a+1)*w], p[b*w:(b+1)*w]) / (na * nb)
	}
	bucketReps := map[uint32][]int{}
	group := make([]int, n)
	type cand struct {
		block, rep int
		cos        float64
	}
	var below []cand
	for i := range n {
		var s uint32
		for b := range c.Bits {
			if dot32(planes[b*w:(b+1)*w], p[i*w:(i+1)*w]) >= 0 {
				s |= 1 << b
			}
		}
		best, bc := -1, math.Inf(-1)
		rs := bucketReps[s]
		for _, r := range rs[:min(len(rs), maxRepsPerBucket)] {
			if x := cos(i, r); x > bc {
				best, bc = r, x
			}
		}
		if best >= 0 && bc >= c.Threshold {
			group[i] = best
			continue
		}
		group[i] = i
		bucketReps[s] = append(rs, i)
		if best >= 0 {
			below = append(below, cand{i, best, bc})
		}
	}
	if c.MaxPhysical <= 0 {
		return group
	}
	kept := 0
	for _, rs := range bucketReps {
		kept += len(rs)
	}
	if kept <= c.MaxPhysical {
		return group
	}
	// Merge the most similar below-threshold (block, earlier
	// representative) pairs; a merged representative's members follow it
	// (representatives point to earlier blocks, so the chains end).
	slices.SortStableFunc(below, func(a, b cand) int {
		switch {
		case a.cos > b.cos:
			return -1
		case a.cos < b.cos:
			return 1
		}
		return a.block - b.block
	})
	for _, x := range below {
		if kept <= c.MaxPhysical {
			break
		}
		group[x.block] = x.rep
		kept--
	}
	for i := range n {
		r := i
		for group[r] != r {
			r = group[r]
		}
		group[i] = r
	}
	return group
}

func dot(a, b []float32) float64 {
	s := 0.0
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

func dot32(a, b []float32) float32 {
	var s float32
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}
