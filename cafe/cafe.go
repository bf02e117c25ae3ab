// Package cafe is the CAFE table method (Zhang et al., "CAFE: Towards
// Compact, Adaptive, and Fast Embedding for Large-scale Recommendation
// Models", SIGMOD'24; reference code github.com/HugoZHL/CAFE), registered
// as "cafe" (`train --table cafe`).
//
// A CAFE table finds its hot ids while it trains, with a [hotsketch]
// sketch fed each id's importance (the L2 norm of its gradient, normalised
// per field and batch so that the mean importance of an occurrence is 1,
// as the reference does; or 1 per occurrence, frequency, with importance
// "freq"). Hot ids own rows of a bounded pool shared by all fields; every
// other id reads one hashed row of its field. When the sketch promotes an
// id, the table copies the id's current hashed row into its pool row
// (parameters and optimizer state), so the id's vector is the same just
// before and just after the promotion; when a decay demotes an id, its
// row is freed and it reads its hashed row again. No counting pre-pass is
// needed: the table is sized from the budget and the number of fields
// (cardinalities, when the Spec has them, only cap a field's hashed rows).
//
// # Layout and export
//
// Training keeps one row set: the pool's Pool rows first (row h is the
// row of sketch handle h), then each field's hashed rows. At export
// ([Table.Describe]) the hot ids become the method's index: per field,
// the hot ids in pool order, and the exported rows are, field after
// field, the field's hot rows in index order then its hashed rows. A
// served id found in its field's index reads its hot row, any other id
// its hashed row ([Method.Plan]); serving needs no sketch.
//
// # Sizing
//
// The budget is serving bytes: HashFraction of it buys each field the same
// number of hashed rows (4·Dim bytes a row; at least one; at most the
// field's cardinality+1 when known), the rest buys pool rows at 4·Dim +
// [embedding.IndexBytesPerID] bytes (a row and its index entry), so an
// export, whatever the pool holds, stays within the budget. The sketch
// (Buckets buckets of 4 slots, 16 bytes a slot) is training memory,
// reported as the table's training index bytes.
//
// # Choices, and where we differ from the reference
//
//   - Non-hot ids use one hashed row per field, as the reference's
//     experiments (ArtifactEvaluation, sk_embedding_bag.py) do. The
//     paper's multi-level variant (medium ids also summing a second hashed
//     row) is not built: its code in the repository is incomplete
//     (tricks/sketch_ml_embed.py).
//   - The reference hashes each field into its own hashed rows sized in
//     proportion to the field's cardinality; we split the hashed budget
//     equally between fields (no pre-pass), capped by known cardinalities.
//   - The reference promotes in the backward pass before the optimizer
//     step and copies the hashed row before its update; we promote after
//     the update (Apply = update, then insert importances), which is what
//     makes a promotion invisible to Lookup. We also copy the optimizer
//     state, so the new row continues the hashed row's step sizes.
//   - Defaults: the reference tunes its threshold and hash fraction per
//     compression ratio on 45M-row Criteo (threshold 100-500, hash
//     fraction 0.2-0.3 at 100-1000x). Our default threshold
//     ([DefaultThreshold]) is lower, because our generated data sets are
//     two orders of magnitude shorter; both are settings (threshold,
//     hash_fraction, decay, buckets, importance; or a JSON file of them,
//     setting "config", which `train --table-config` passes). On the
//     default generated set (200k rows, dlrm-small, dim 16), thresholds 5,
//     20 and 100 and hash fractions 0.1-0.5 were within about 0.01 AUC
//     of each other at 100x and 1000x, with no consistent winner over
//     three seeds; hash fractions above 0.3 lost at 1000x.
//
// A Table's Lookup is safe for concurrent use with other Lookups; Apply
// (which also updates the sketch) needs exclusive access.
package cafe

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/hashing"
	"github.com/embtab/embtab/hotsketch"
)

// Method is the name the method registers under.
const Method = "cafe"

// Defaults of the settings.
const (
	// DefaultHashFraction is the part of the budget that buys hashed rows.
	DefaultHashFraction = 0.3
	// DefaultThreshold is the importance at which an id becomes hot (an
	// occurrence brings 1 on average).
	DefaultThreshold = 20
	// DefaultDecay is the sketch's decay factor.
	DefaultDecay = hotsketch.DefaultDecay
	// MinBuckets is the fewest sketch buckets (by default one bucket per
	// pool row, as the reference).
	MinBuckets = 64
)

// Importance measures.
const (
	ImportanceGrad = "grad" // L2 norm of an occurrence's gradient (default)
	ImportanceFreq = "freq" // 1 per occurrence
)

func init() { embedding.RegisterMethod(Method, method{}) }

// Config is a CAFE table's training configuration, as its checkpoint
// records it.
type Config struct {
	Dim int `json:"dim"`
	// HashRows are the hashed rows of each field.
	HashRows []int `json:"hash_rows"`
	// Pool is the number of hot rows (the sketch's capacity).
	Pool int `json:"pool"`
	// Sketch is the hot sketch's config (Capacity == Pool).
	Sketch     hotsketch.Config    `json:"sketch"`
	Importance string              `json:"importance"`
	Optimizer  embedding.Optimizer `json:"optimizer"`
	Seed       uint64              `json:"seed"`
	Storage    string              `json:"storage,omitempty"`
}

func (c *Config) validate() error {
	if c.Dim < 1 || len(c.HashRows) == 0 || c.Pool < 0 || c.Sketch.Capacity != c.Pool {
		return fmt.Errorf("cafe table: dim %d, %d fields, pool %d, sketch capacity %d: %w",
			c.Dim, len(c.HashRows), c.Pool, c.Sketch.Capacity, embedding.ErrConfig)
	}
	if embedding.IsALPT(c.Storage) {
		// Promotions move ids to other rows between Apply and ApplyScales.
		return fmt.Errorf("cafe table: storage %s is not supported (fp32 or int8): %w", c.Storage, embedding.ErrConfig)
	}
	total := int64(c.Pool)
	for f, n := range c.HashRows {
		if n < 1 {
			return fmt.Errorf("cafe table: field %d: %d hashed rows: %w", f, n, embedding.ErrConfig)
		}
		total += int64(n)
	}
	if total > embedding.MaxRows {
		return fmt.Errorf("cafe table: %d rows: %w", total, embedding.ErrTooManyRows)
	}
	if c.Importance != ImportanceGrad && c.Importance != ImportanceFreq {
		return fmt.Errorf("cafe table: importance %q (want %s or %s): %w", c.Importance, ImportanceGrad, ImportanceFreq, embedding.ErrConfig)
	}
	if _, err := c.Sketch.WithDefaults(); err != nil {
		return fmt.Errorf("cafe table: %w: %w", embedding.ErrConfig, err)
	}
	return nil
}

// settings are the method's tunables, from Spec.Params or a JSON file.
type settings struct {
	HashFraction *float64 `json:"hash_fraction,omitempty"`
	Threshold    *float64 `json:"threshold,omitempty"`
	Decay        *float64 `json:"decay,omitempty"`
	Buckets      *int     `json:"buckets,omitempty"`
	Importance   string   `json:"importance,omitempty"`
}

var paramNames = []string{"config", "hash_fraction", "threshold", "decay", "buckets", "importance"}

// readSettings merges the settings file (param "config") and the
// individual params (which win).
func readSettings(s *embedding.Spec) (settings, error) {
	var st settings
	if err := s.SettingsFile("cafe", &st); err != nil {
		return st, fmt.Errorf("%w (keys %v)", err, paramNames[1:])
	}
	for _, name := range []string{"hash_fraction", "threshold", "decay"} {
		if _, ok := s.Params[name]; !ok {
			continue
		}
		v, err := s.FloatParam(name, 0)
		if err != nil {
			return st, fmt.Errorf("cafe table: %w", err)
		}
		switch name {
		case "hash_fraction":
			st.HashFraction = &v
		case "threshold":
			st.Threshold = &v
		case "decay":
			st.Decay = &v
		}
	}
	if _, ok := s.Params["buckets"]; ok {
		v, err := s.IntParam("buckets", 0)
		if err != nil {
			return st, fmt.Errorf("cafe table: %w", err)
		}
		st.Buckets = &v
	}
	if v, ok := s.Params["importance"]; ok {
		st.Importance = v
	}
	return st, nil
}

// Size returns the hashed rows per field and the pool rows of a table of
// nf fields at dim within budget serving bytes, hashFraction of it for
// the hashed rows (see the package doc). cardinalities (nil, or 0 for a
// field: unknown) cap the hashed rows and the pool. The errors wrap
// embedding.ErrBudgetTooSmall or embedding.ErrConfig.
func Size(budget int64, nf, dim int, cardinalities []int64, hashFraction float64) (hashRows []int, pool int, err error) {
	if nf < 1 || dim < 1 || budget < 0 || !(hashFraction > 0 && hashFraction <= 1) {
		return nil, 0, fmt.Errorf("cafe table: size %d fields at dim %d to %d bytes, hash fraction %v: %w",
			nf, dim, budget, hashFraction, embedding.ErrConfig)
	}
	rowBytes := int64(dim) * 4
	per := int64(float64(budget)*hashFraction) / (int64(nf) * rowBytes)
	per = max(per, 1)
	hashRows = make([]int, nf)
	var used, ids int64
	for f := range hashRows {
		n := per
		if f < len(cardinalities) && cardinalities[f] > 0 {
			n = min(n, cardinalities[f]+1)
			ids += cardinalities[f]
		} else {
			ids = -1 << 62 // unknown: no cap on the pool
		}
		if n > embedding.MaxRows {
			return nil, 0, fmt.Errorf("cafe table: %d hashed rows in field %d: %w", n, f, embedding.ErrTooManyRows)
		}
		hashRows[f] = int(n)
		used += n * rowBytes
	}
	if used > budget {
		return nil, 0, fmt.Errorf("cafe table: %d fields need %d bytes at dim %d for one hashed row each, more than the budget of %d: %w",
			nf, used, dim, budget, embedding.ErrBudgetTooSmall)
	}
	p := (budget - used) / (rowBytes + embedding.IndexBytesPerID)
	if ids >= 0 {
		p = min(p, ids)
	}
	if p+used/rowBytes > embedding.MaxRows {
		return nil, 0, fmt.Errorf("cafe table: %d pool rows: %w", p, embedding.ErrTooManyRows)
	}
	return hashRows, int(p), nil
}

type method struct{}

// New sizes a CAFE table to the Spec's budget (Spec.SizingBudget).
func (method) New(s embedding.Spec) (embedding.Trainable, error) {
	if err := s.CheckParams(Method, paramNames...); err != nil {
		return nil, err
	}
	if s.Dim < 1 || len(s.Fields) == 0 {
		return nil, fmt.Errorf("cafe table: dim %d, %d fields: %w", s.Dim, len(s.Fields), embedding.ErrConfig)
	}
	if s.FieldDims != nil {
		return nil, fmt.Errorf("cafe table: per-field dims (a dimension plan) are not supported: %w", embedding.ErrConfig)
	}
	st, err := readSettings(&s)
	if err != nil {
		return nil, err
	}
	frac, thr, decay := DefaultHashFraction, float64(DefaultThreshold), float64(DefaultDecay)
	if st.HashFraction != nil {
		frac = *st.HashFraction
	}
	if st.Threshold != nil {
		thr = *st.Threshold
	}
	if st.Decay != nil {
		decay = *st.Decay
	}
	imp := ImportanceGrad
	if st.Importance != "" {
		imp = st.Importance
	}
	hashRows, pool, err := Size(s.SizingBudget(), len(s.Fields), s.Dim, s.Cardinalities(), frac)
	if err != nil {
		return nil, err
	}
	buckets := max(pool, MinBuckets)
	if st.Buckets != nil {
		buckets = *st.Buckets
	}
	c := Config{Dim: s.Dim, HashRows: hashRows, Pool: pool, Importance: imp, Optimizer: s.Optimizer,
		Seed: s.Seed, Storage: s.Storage,
		Sketch: hotsketch.Config{Buckets: buckets, Capacity: pool, Threshold: float32(thr), Decay: float32(decay),
			Seed: hashing.Mix64(s.Seed ^ sketchSalt)}}
	if c.Sketch, err = c.Sketch.WithDefaults(); err != nil {
		return nil, fmt.Errorf("cafe table: %w: %w", embedding.ErrConfig, err)
	}
	t, err := newTable(c)
	if err != nil {
		return nil, err
	}
	t.init()
	return t, nil
}

// sketchSalt and keySalt derive the sketch's seeds from the table's.
const (
	sketchSalt = 0xCAFE5EED
	keySalt    = 0xCAFEF1E1D
)

// Table is a CAFE table: one row store (pool rows, then hashed rows), the
// hot sketch, and the shared engine over a key plan that asks the sketch.
type Table struct {
	cfg     Config
	rows    *embedding.Rows
	sk      *hotsketch.Sketch
	hashOff []uint32 // first hashed row of each field
	salts   []uint64 // sketch key salt of each field
	// owner of each pool row, set at its promotion (valid while the
	// sketch says the handle is in use).
	ownerField []int32
	ownerID    []uint64
	*embedding.Planned

	norms      []float32 // Apply: importance of each id
	sums       []float64 // Apply: per field
	counts     []float64 // Apply: per field, the batch's ids
	promotions uint64
}

// newTable builds the table of c with zero rows and an empty sketch.
func newTable(c Config) (*Table, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	total := c.Pool
	for _, n := range c.HashRows {
		total += n
	}
	rows, err := embedding.NewRowsWithStorage(total, c.Dim, c.Optimizer, embedding.Storage{Precision: c.Storage, Seed: c.Seed})
	if err != nil {
		return nil, fmt.Errorf("cafe table: %w", err)
	}
	sk, err := hotsketch.New(c.Sketch)
	if err != nil {
		return nil, fmt.Errorf("cafe table: %w: %w", embedding.ErrConfig, err)
	}
	nf := len(c.HashRows)
	t := &Table{cfg: c, rows: rows, sk: sk, hashOff: make([]uint32, nf), salts: make([]uint64, nf),
		ownerField: make([]int32, c.Pool), ownerID: make([]uint64, c.Pool), sums: make([]float64, nf)}
	off := uint32(c.Pool)
	for f, n := range c.HashRows {
		t.hashOff[f] = off
		off += uint32(n)
		t.salts[f] = hashing.FieldSalt(c.Seed^keySalt, f)
	}
	p := &embedding.Plan{Dim: c.Dim, Sets: []embedding.SetShape{{Rows: total, Width: c.Dim}}}
	for f := range nf {
		salt, off, n := t.salts[f], t.hashOff[f], uint64(c.HashRows[f])
		p.Fields = append(p.Fields, embedding.FieldPlan{NumKeys: 1, Combine: embedding.CopyRow, Width: c.Dim, Used: c.Dim,
			Keys: func(dst []embedding.Key, id uint64) []embedding.Key {
				if h, ok := sk.Hot(id ^ salt); ok {
					return append(dst, embedding.Key{Row: uint32(h)})
				}
				return append(dst, embedding.Key{Row: off + uint32(hashing.Bucket(id, n))})
			}})
	}
	if t.Planned, err = embedding.NewPlanned(p, []*embedding.Rows{rows}); err != nil {
		return nil, fmt.Errorf("cafe table: %w", err)
	}
	return t, nil
}

// init draws the hashed rows: field f's rows from U(-s, s) with stream
// f+1, so that a field's values do not depend on the pool's size. Pool
// rows stay zero until a promotion copies a row into them.
func (t *Table) init() {
	for f, n := range t.cfg.HashRows {
		lo := int(t.hashOff[f])
		t.rows.InitUniform(lo, lo+n, embedding.DefaultInitScale, t.cfg.Seed, uint64(f)+1)
	}
}

// TableConfig returns the table's configuration.
func (t *Table) TableConfig() Config {
	c := t.cfg
	c.HashRows = append([]int(nil), c.HashRows...)
	return c
}

// Sketch returns the table's hot sketch (read it only while no Apply
// runs).
func (t *Table) Sketch() *hotsketch.Sketch { return t.sk }

// Promotions returns the promotions since the table was built or loaded.
func (t *Table) Promotions() uint64 { return t.promotions }

// Hot reports whether id of field f is hot now, and its pool row.
func (t *Table) Hot(f int, id uint64) (row int, ok bool) { return t.sk.Hot(id ^ t.salts[f]) }

// Bytes reports the rows' parameters and optimizer state, and as index
// the sketch and the pool's owner records (training memory; the served
// index is at most Pool·IndexBytesPerID, within the budget).
func (t *Table) Bytes() embedding.Bytes {
	b := t.Planned.Bytes()
	b.Index = t.sk.Bytes() + int64(t.cfg.Pool)*12
	return b
}

// Apply updates the rows that ids read with grads (the id's current row:
// its pool row if it is hot, else its hashed row), then feeds the ids'
// importances to the sketch and promotes the ids it reports: each
// promoted id's pool row becomes a copy of its (updated) hashed row.
func (t *Table) Apply(ids []uint64, grads []float32) {
	t.Planned.Apply(ids, grads)
	t.admit(ids, nil, grads)
}

// ApplyFields is Apply for ids in the given fields (see
// [embedding.FieldTrainable]).
func (t *Table) ApplyFields(ids []uint64, fields []int, grads []float32) {
	t.Planned.ApplyFields(ids, fields, grads)
	t.admit(ids, fields, grads)
}

// admit feeds the batch's importances to the sketch and promotes the ids
// it reports (Apply's second half: the rows are already updated). fields
// nil means whole examples. An id's importance is its gradient's norm over
// the mean norm of its field's ids in the batch (or 1 with frequency
// importance).
func (t *Table) admit(ids []uint64, fields []int, grads []float32) {
	if len(ids) == 0 {
		return
	}
	nf, d := len(t.cfg.HashRows), t.cfg.Dim
	freq := t.cfg.Importance == ImportanceFreq
	if !freq {
		if cap(t.norms) < len(ids) {
			t.norms = make([]float32, len(ids))
		}
		t.norms = t.norms[:len(ids)]
		clear(t.sums)
		if len(t.counts) != nf {
			t.counts = make([]float64, nf)
		}
		clear(t.counts)
		for i := range ids {
			var s float64
			for _, g := range grads[i*d : (i+1)*d] {
				s += float64(g) * float64(g)
			}
			f := embedding.FieldOf(fields, i, nf)
			t.norms[i] = float32(math.Sqrt(s))
			t.sums[f] += float64(t.norms[i])
			t.counts[f]++
		}
	}
	for i, id := range ids {
		f := embedding.FieldOf(fields, i, nf)
		imp := float32(1)
		if !freq {
			if !(t.sums[f] > 0) || math.IsInf(t.sums[f], 0) {
				continue
			}
			imp = float32(float64(t.norms[i]) * t.counts[f] / t.sums[f])
		}
		if h, promoted := t.sk.Insert(id^t.salts[f], imp); promoted {
			t.rows.CopyRow(h, t.rows, int(t.hashedRow(f, id)))
			t.ownerField[h], t.ownerID[h] = int32(f), id
			t.promotions++
		}
	}
}

// hashedRow returns id's hashed row in field f.
func (t *Table) hashedRow(f int, id uint64) uint32 {
	return t.hashOff[f] + uint32(hashing.Bucket(id, uint64(t.cfg.HashRows[f])))
}

// hotIDs returns per field the hot ids in pool order with their pool
// rows.
func (t *Table) hotIDs() (ids [][]uint64, rows [][]int, err error) {
	nf := len(t.cfg.HashRows)
	ids, rows = make([][]uint64, nf), make([][]int, nf)
	for h := range t.cfg.Pool {
		key, ok := t.sk.Owner(h)
		if !ok {
			continue
		}
		f := int(t.ownerField[h])
		if f < 0 || f >= nf || t.ownerID[h]^t.salts[f] != key {
			return nil, nil, fmt.Errorf("cafe table: pool row %d: the sketch's owner %x is not the recorded id %x of field %d: %w",
				h, key, t.ownerID[h], f, embedding.ErrCorrupt)
		}
		ids[f] = append(ids[f], t.ownerID[h])
		rows[f] = append(rows[f], h)
	}
	return ids, rows, nil
}

// servingConfig is a CAFE table's config as an artifact records it (what
// Plan reads): per field, the hot rows (the index's ids) and the hashed
// rows after them.
type servingConfig struct {
	Dim      int   `json:"dim"`
	HotRows  []int `json:"hot_rows"`
	HashRows []int `json:"hash_rows"`
}

// Describe records the table for an artifact: its hot ids are the index
// (per field, in pool order), its rows a copy laid out field after field
// as the field's hot rows in index order, then its hashed rows.
func (t *Table) Describe() (embedding.Description, error) {
	ids, hot, err := t.hotIDs()
	if err != nil {
		return embedding.Description{}, err
	}
	sc := servingConfig{Dim: t.cfg.Dim, HotRows: make([]int, len(ids)), HashRows: append([]int(nil), t.cfg.HashRows...)}
	total := 0
	for f := range ids {
		sc.HotRows[f] = len(ids[f])
		total += len(ids[f]) + sc.HashRows[f]
	}
	exp, err := embedding.NewRowsLike(t.rows, total)
	if err != nil {
		return embedding.Description{}, fmt.Errorf("cafe table: export rows: %w", err)
	}
	r := 0
	for f := range ids {
		for _, h := range hot[f] {
			exp.CopyRow(r, t.rows, h)
			r++
		}
		for j := range sc.HashRows[f] {
			exp.CopyRow(r, t.rows, int(t.hashOff[f])+j)
			r++
		}
	}
	js, err := json.Marshal(sc)
	if err != nil {
		return embedding.Description{}, fmt.Errorf("cafe table: encode config: %w", err)
	}
	p, err := servingPlan(sc, NewIndex(ids))
	if err != nil {
		return embedding.Description{}, err
	}
	return embedding.Description{Method: Method, Config: js, Plan: p, Width: t.cfg.Dim,
		Sets: []*embedding.Rows{exp}, Index: ids}, nil
}

// Plan reads an exported table's config; index holds its hot ids.
func (method) Plan(raw json.RawMessage, index embedding.Index) (*embedding.Plan, error) {
	var sc servingConfig
	if err := embedding.DecodeConfig(raw, &sc); err != nil {
		return nil, fmt.Errorf("cafe table: %w", err)
	}
	return servingPlan(sc, index)
}

// servingPlan is the key plan of an exported table: field f's index ids
// read rows off..off+hot-1 in index order, every other id one of the
// field's hashed rows after them.
func servingPlan(sc servingConfig, index embedding.Index) (*embedding.Plan, error) {
	nf := len(sc.HashRows)
	if sc.Dim < 1 || nf == 0 || len(sc.HotRows) != nf {
		return nil, fmt.Errorf("cafe table: config dim %d, %d hashed and %d hot fields: %w", sc.Dim, nf, len(sc.HotRows), embedding.ErrCorrupt)
	}
	if index == nil || index.Fields() != nf {
		return nil, fmt.Errorf("cafe table of %d fields without its hot index: %w", nf, embedding.ErrCorrupt)
	}
	p := &embedding.Plan{Dim: sc.Dim}
	var total int64
	for f := range nf {
		hot, n := sc.HotRows[f], sc.HashRows[f]
		if hot < 0 || n < 1 || index.Len(f) != hot {
			return nil, fmt.Errorf("cafe table field %d: %d hot rows (the index has %d ids), %d hashed rows: %w",
				f, hot, index.Len(f), n, embedding.ErrCorrupt)
		}
		off := uint32(total)
		tail, nn := off+uint32(hot), uint64(n)
		total += int64(hot) + int64(n)
		if total > embedding.MaxRows {
			return nil, fmt.Errorf("cafe table: %d rows: %w", total, embedding.ErrCorrupt)
		}
		p.Fields = append(p.Fields, embedding.FieldPlan{NumKeys: 1, Combine: embedding.CopyRow, Width: sc.Dim, Used: sc.Dim,
			Keys: func(dst []embedding.Key, id uint64) []embedding.Key {
				if r, ok := index.Find(f, id); ok {
					return append(dst, embedding.Key{Row: off + r})
				}
				return append(dst, embedding.Key{Row: tail + uint32(hashing.Bucket(id, nn))})
			}})
	}
	p.Sets = []embedding.SetShape{{Rows: int(total), Width: sc.Dim}}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("cafe table: %w", err)
	}
	return p, nil
}

// Index is an in-memory [embedding.Index] over per-field id lists (row k
// of field f is ids[f][k]): the hot index of a Description.
type Index struct {
	ids  [][]uint64
	rows []map[uint64]uint32
}

// NewIndex indexes ids (the lists are kept, not copied). A repeated id
// keeps its first row.
func NewIndex(ids [][]uint64) *Index {
	x := &Index{ids: ids, rows: make([]map[uint64]uint32, len(ids))}
	for f, l := range ids {
		m := make(map[uint64]uint32, len(l))
		for k := len(l) - 1; k >= 0; k-- {
			m[l[k]] = uint32(k)
		}
		x.rows[f] = m
	}
	return x
}

func (x *Index) Fields() int   { return len(x.ids) }
func (x *Index) Len(f int) int { return len(x.ids[f]) }
func (x *Index) Find(f int, id uint64) (uint32, bool) {
	r, ok := x.rows[f][id]
	return r, ok
}

var _ embedding.FieldTrainable = (*Table)(nil)
