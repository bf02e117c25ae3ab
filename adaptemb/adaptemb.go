package adaptemb

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/embtab/embtab/embedding"
)

// Method is the method's name in manifests and flags.
const Method = "adaptemb"

// DefaultTopPercent is the benchmark's top_percent: the share of a
// field's ids that own rows, when the budget leaves room for it (see the
// package doc for the rule at small budgets).
const DefaultTopPercent = 0.1

func init() { embedding.RegisterMethod(Method, method{}) }

// Config describes an adaptemb table: how it was sized (the benchmark's
// terms) and the hybrid table it is. A manifest stores it as JSON, beside
// the head index.
type Config struct {
	// Method is "adaptemb".
	Method string `json:"method"`
	// Rate is the compression rate r: each compressed field has
	// max(ceil(r·n_f), head+1) rows for its n_f distinct training ids.
	Rate float64 `json:"rate"`
	// TopPercent is p: a compressed field's max(1, round(p·n_f)) most frequent
	// ids own rows.
	TopPercent float64 `json:"top_percent"`
	// FullFields lists the fields kept as full tables (every training id
	// owns a row; the one tail row is the OOV row).
	FullFields []int `json:"full_fields,omitempty"`
	// Hybrid is the table's hybrid config (head and tail rows per field).
	Hybrid embedding.HybridConfig `json:"hybrid"`
}

// Sizing is the outcome of [ForBudget]: the heads (per field, the ids
// that own rows, sorted) and the config of the table.
type Sizing struct {
	Heads  [][]uint64
	Config Config
}

// fieldPlan is one field's share at a rate.
type fieldPlan struct {
	head, tail int // head ids, tail rows
	full       bool
}

// share returns field f's rows at rate r and top share p: its head is
// max(1, round(p·n)) ids (at most the ids with a count) and it has
// max(ceil(r·n), head+1) rows, so at least one remainder row; it is full
// when that would not shrink it. Every part grows with r, so the bytes
// do. A field whose ids are not all known (a sketch) is never full.
func share(n int64, known, positive int, r, p float64) fieldPlan {
	head := min(max(int64(math.Round(p*float64(n))), 1), int64(positive))
	rows := max(int64(math.Ceil(r*float64(n))), head+1)
	if int64(known) >= n && rows >= n {
		return fieldPlan{head: known, tail: 1, full: true}
	}
	return fieldPlan{head: int(head), tail: int(rows - head)}
}

// servingBytes returns the fp32 rows plus head index of a field share.
func (fp fieldPlan) servingBytes(dim int) int64 {
	return int64(fp.head+fp.tail)*int64(dim)*4 + int64(fp.head)*embedding.IndexBytesPerID
}

// ForBudget sizes an adaptemb table of dim to budget serving bytes for
// fields' frequencies: the largest rate r whose tables fit (fields that
// would not shrink kept full), at top share topPercent, or, when
// topPercent is 0, headFraction·r (headFraction > 0) or min(0.1, r/2).
// The errors wrap embedding.ErrBudgetTooSmall or embedding.ErrConfig.
func ForBudget(budget int64, fields []embedding.Frequencies, dim int, topPercent, headFraction float64) (Sizing, error) {
	if dim < 1 || len(fields) == 0 || budget < 0 {
		return Sizing{}, fmt.Errorf("size adaptemb table: dim %d, %d fields, budget %d: %w", dim, len(fields), budget, embedding.ErrConfig)
	}
	if topPercent < 0 || topPercent >= 1 || headFraction < 0 || headFraction >= 1 || (topPercent > 0 && headFraction > 0) {
		return Sizing{}, fmt.Errorf("size adaptemb table: top_percent %v, head_fraction %v (each in [0, 1), not both): %w",
			topPercent, headFraction, embedding.ErrConfig)
	}
	n := make([]int64, len(fields))
	positive := make([]int, len(fields))
	for f, fr := range fields {
		if len(fr.IDs) != len(fr.Counts) {
			return Sizing{}, fmt.Errorf("size adaptemb table: field %d: %d ids, %d counts: %w", f, len(fr.IDs), len(fr.Counts), embedding.ErrConfig)
		}
		n[f] = max(int64(len(fr.IDs)), fr.Distinct, 1)
		for _, c := range fr.Counts {
			if c > 0 {
				positive[f]++
			}
		}
	}
	top := func(r float64) float64 {
		switch {
		case topPercent > 0:
			return topPercent
		case headFraction > 0:
			return headFraction * r
		}
		return min(DefaultTopPercent, r/2)
	}
	plans := func(r float64) ([]fieldPlan, int64) {
		ps := make([]fieldPlan, len(fields))
		var b int64
		for f := range fields {
			ps[f] = share(n[f], len(fields[f].IDs), positive[f], r, top(r))
			b += ps[f].servingBytes(dim)
		}
		return ps, b
	}
	if _, b := plans(0); b > budget {
		return Sizing{}, fmt.Errorf("size adaptemb table: %d bytes buy less than one row of %d floats per field (%d fields): %w",
			budget, dim, len(fields), embedding.ErrBudgetTooSmall)
	}
	// Bisection on r: the bytes never fall as r grows (rows, heads and the
	// full fallback all grow with it).
	lo, hi := 0.0, 1.0
	if _, b := plans(hi); b <= budget {
		lo = hi
	}
	for range 64 {
		if lo == hi {
			break
		}
		mid := (lo + hi) / 2
		if _, b := plans(mid); b <= budget {
			lo = mid
		} else {
			hi = mid
		}
	}
	ps, _ := plans(lo)
	s := Sizing{Heads: make([][]uint64, len(fields))}
	c := Config{Method: Method, Rate: lo, TopPercent: top(lo)}
	c.Hybrid.TailRows = make([]int, len(fields))
	var headRows, rows int64
	for f, fp := range ps {
		if fp.full {
			c.FullFields = append(c.FullFields, f)
			s.Heads[f] = slices.Clone(fields[f].IDs)
			slices.Sort(s.Heads[f])
		} else {
			s.Heads[f] = topIDs(fields[f], fp.head)
		}
		c.Hybrid.TailRows[f] = fp.tail
		headRows += int64(fp.head)
		rows += int64(fp.head + fp.tail)
	}
	c.Hybrid.Dim = dim
	c.Hybrid.HeadFraction = float64(headRows) / float64(rows) // records the share; 0 reads as hybrid's default
	s.Config = c
	return s, nil
}

// topIDs returns the k ids of fr with the highest counts (ties: the
// smaller id first), sorted by id.
func topIDs(fr embedding.Frequencies, k int) []uint64 {
	if k <= 0 {
		return []uint64{}
	}
	idx := make([]int, len(fr.IDs))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		if c := cmp.Compare(fr.Counts[b], fr.Counts[a]); c != 0 {
			return c
		}
		return cmp.Compare(fr.IDs[a], fr.IDs[b])
	})
	ids := make([]uint64, k)
	for i := range ids {
		ids[i] = fr.IDs[idx[i]]
	}
	slices.Sort(ids)
	return ids
}

// Table is an adaptemb table: a hybrid table sized the benchmark's way,
// with its sizing recorded. It implements embedding.TrainTable and
// embedding.Describer.
type Table struct {
	cfg Config
	*embedding.Hybrid
}

// NewTable builds the table of a sizing with the optimizer, init seed
// and storage given.
func NewTable(s Sizing, opt embedding.Optimizer, seed uint64, storage string) (*Table, error) {
	hc := s.Config.Hybrid
	hc.Optimizer, hc.Seed, hc.Storage = opt, seed, storage
	h, err := embedding.NewHybrid(s.Heads, hc)
	if err != nil {
		return nil, fmt.Errorf("new adaptemb table: %w", err)
	}
	c := s.Config
	c.Hybrid = h.Config()
	return &Table{cfg: c, Hybrid: h}, nil
}

// AdaptConfig returns the table's configuration (the hybrid part with
// its defaults filled in).
func (t *Table) AdaptConfig() Config {
	c := t.cfg
	c.FullFields = slices.Clone(c.FullFields)
	c.Hybrid = t.Hybrid.Config()
	return c
}

// method is adaptemb as an [embedding.Method].
type method struct{}

// New sizes a table to spec's budget ([ForBudget]). Settings: top_percent
// or head_fraction (see the package doc).
func (method) New(s embedding.Spec) (embedding.Trainable, error) {
	if err := s.CheckParams(Method, "top_percent", "head_fraction"); err != nil {
		return nil, err
	}
	if s.FieldDims != nil {
		return nil, fmt.Errorf("adaptemb table: per-field dims (a dimension plan) are for full, hashed and unified tables: %w", embedding.ErrConfig)
	}
	p, err := s.FloatParam("top_percent", 0)
	if err != nil {
		return nil, fmt.Errorf("adaptemb table: %w", err)
	}
	h, err := s.FloatParam("head_fraction", 0)
	if err != nil {
		return nil, fmt.Errorf("adaptemb table: %w", err)
	}
	sz, err := ForBudget(s.SizingBudget(), s.Fields, s.Dim, p, h)
	if err != nil {
		return nil, err
	}
	return NewTable(sz, s.Optimizer, s.Seed, s.Storage)
}

// hybridMethod is the hybrid method whose plan an adaptemb table's is.
func hybridMethod() (embedding.Method, error) {
	return embedding.MethodByName(embedding.MethodHybrid)
}

// Plan reads a table's config; index is its head vocabulary. The plan is
// the hybrid method's for the config's hybrid part.
func (method) Plan(raw json.RawMessage, index embedding.Index) (*embedding.Plan, error) {
	var c Config
	if err := embedding.DecodeConfig(raw, &c); err != nil {
		return nil, fmt.Errorf("adaptemb table: %w", err)
	}
	if c.Method != Method {
		return nil, fmt.Errorf("adaptemb table: config says method %q: %w", c.Method, embedding.ErrCorrupt)
	}
	js, err := json.Marshal(c.Hybrid)
	if err != nil {
		return nil, fmt.Errorf("adaptemb table: %w", err)
	}
	hm, err := hybridMethod()
	if err != nil {
		return nil, fmt.Errorf("adaptemb table: %w", err)
	}
	p, err := hm.Plan(js, index)
	if err != nil {
		return nil, fmt.Errorf("adaptemb table: %w", err)
	}
	return p, nil
}

// Load restores a table saved by its Save.
func (method) Load(r io.Reader) (embedding.Trainable, error) { return Load(r) }

// Describe records the table for an artifact: the hybrid table's
// description (plan, rows, head index) under this method's name and
// config.
func (t *Table) Describe() (embedding.Description, error) {
	d, err := t.Hybrid.Describe()
	if err != nil {
		return d, fmt.Errorf("adaptemb table: %w", err)
	}
	js, err := json.Marshal(t.AdaptConfig())
	if err != nil {
		return d, fmt.Errorf("adaptemb table: encode config: %w", err)
	}
	d.Method, d.Config = Method, js
	return d, nil
}

var (
	_ embedding.TrainTable = (*Table)(nil)
	_ embedding.Describer  = (*Table)(nil)
	_ embedding.RowStore   = (*Table)(nil)
)
