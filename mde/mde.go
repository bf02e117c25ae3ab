package mde

import (
	"encoding/json"
	"fmt"
	"io"
	"math"

	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/hashing"
)

// Method is the name the method registers under (train --table mde).
const Method = "mde"

// maxAlpha bounds the search of α: at 16 every field larger than twice
// the smallest is at width 1.
const maxAlpha = 16

func init() { embedding.RegisterMethod(Method, method{}) }

// FieldConfig is one field's shape: Rows hashed rows of Width floats
// (Width < the table's Dim: projected).
type FieldConfig struct {
	Rows  int `json:"rows"`
	Width int `json:"width"`
}

// Config is an MDE table's configuration, as its manifest records it.
type Config struct {
	Dim    int           `json:"dim"`
	Fields []FieldConfig `json:"fields"`
	// Alpha is the exponent the widths came from (a record: Fields are
	// what the table is).
	Alpha float64 `json:"alpha"`
	// InitScale is the bound of the rows' uniform init (0:
	// embedding.DefaultInitScale).
	InitScale float32             `json:"init_scale"`
	Optimizer embedding.Optimizer `json:"optimizer"`
	Seed      uint64              `json:"seed"`
	Storage   string              `json:"storage,omitempty"`
}

// withDefaults fills in InitScale and checks c; the errors wrap
// embedding.ErrConfig.
func (c Config) withDefaults() (Config, error) {
	if c.InitScale == 0 {
		c.InitScale = embedding.DefaultInitScale
	}
	if c.Dim < 1 || len(c.Fields) == 0 || !(c.InitScale > 0) {
		return c, fmt.Errorf("mde table: dim %d, %d fields, init scale %v: %w", c.Dim, len(c.Fields), c.InitScale, embedding.ErrConfig)
	}
	if c.Storage != "" && c.Storage != embedding.StorageFP32 && c.Storage != embedding.StorageInt8 && !embedding.IsALPT(c.Storage) {
		return c, fmt.Errorf("mde table: storage %q: %w", c.Storage, embedding.ErrConfig)
	}
	total := 0
	for f, fc := range c.Fields {
		if fc.Rows < 1 || fc.Width < 1 || fc.Width > c.Dim {
			return c, fmt.Errorf("mde table: field %d: %d rows of width %d (dim %d): %w", f, fc.Rows, fc.Width, c.Dim, embedding.ErrConfig)
		}
		if total += fc.Rows + c.Dim; total > embedding.MaxRows {
			return c, fmt.Errorf("mde table: more than %d rows: %w", embedding.MaxRows, embedding.ErrTooManyRows)
		}
	}
	return c, nil
}

// projected reports whether field f has a projection.
func (c Config) projected(f int) bool { return c.Fields[f].Width < c.Dim }

// ServingBytes returns the fp32 bytes of c's rows (the table has no
// index).
func (c Config) ServingBytes() int64 { return fieldBytes(c.Fields, c.Dim) }

func fieldBytes(fields []FieldConfig, dim int) int64 {
	var n int64
	for _, fc := range fields {
		n += int64(fc.Rows) * int64(fc.Width)
		if fc.Width < dim {
			n += int64(dim) * int64(fc.Width)
		}
	}
	return 4 * n
}

// Widths returns the power-law widths of fields of the given
// cardinalities at α: the smallest field Dim, field f
// round(Dim·(n_f/n_min)^(-α)) clamped to [1, Dim].
func Widths(cards []int64, dim int, alpha float64) []int {
	nmin := int64(math.MaxInt64)
	for _, n := range cards {
		nmin = min(nmin, max(n, 1))
	}
	w := make([]int, len(cards))
	for f, n := range cards {
		d := math.Round(float64(dim) * math.Pow(float64(max(n, 1))/float64(nmin), -alpha))
		w[f] = int(min(max(d, 1), float64(dim)))
	}
	return w
}

// ForBudget sizes a table over fields of the given cardinalities (rows:
// one per value and one for unseen values, hashed) to budget bytes: the
// smallest α in [0, 16] whose widths fit (bisection to 1e-4), or the
// given alpha (>= 0; negative: search). The errors wrap
// embedding.ErrBudgetTooSmall.
func ForBudget(budget int64, cards []int64, dim int, alpha float64) ([]FieldConfig, float64, error) {
	shape := func(a float64) []FieldConfig {
		w := Widths(cards, dim, a)
		fs := make([]FieldConfig, len(cards))
		for f, n := range cards {
			fs[f] = FieldConfig{Rows: int(min(max(n, 0)+1, embedding.MaxRows)), Width: w[f]}
		}
		return fs
	}
	if alpha >= 0 {
		fs := shape(alpha)
		if b := fieldBytes(fs, dim); b > budget {
			return nil, 0, fmt.Errorf("mde at alpha %g needs %d bytes, budget %d: %w", alpha, b, budget, embedding.ErrBudgetTooSmall)
		}
		return fs, alpha, nil
	}
	if fs := shape(0); fieldBytes(fs, dim) <= budget {
		return fs, 0, nil
	}
	if b := fieldBytes(shape(maxAlpha), dim); b > budget {
		return nil, 0, fmt.Errorf("mde bottoms out at one float per value (every field but the smallest at width 1): %d bytes, budget %d: %w",
			b, budget, embedding.ErrBudgetTooSmall)
	}
	lo, hi := 0.0, float64(maxAlpha) // cost(lo) > budget >= cost(hi)
	for hi-lo > 1e-4 {
		mid := (lo + hi) / 2
		if fieldBytes(shape(mid), dim) <= budget {
			hi = mid
		} else {
			lo = mid
		}
	}
	return shape(hi), hi, nil
}

// method is MDE as an [embedding.Method].
type method struct{}

// New sizes a table to the spec's budget (serving bytes) with
// [ForBudget]. Setting: alpha (fixed α instead of the search).
func (method) New(s embedding.Spec) (embedding.Trainable, error) {
	if err := s.CheckParams(Method, "alpha"); err != nil {
		return nil, err
	}
	alpha, err := s.FloatParam("alpha", -1)
	if err != nil {
		return nil, fmt.Errorf("mde table: %w", err)
	}
	if s.Dim < 1 || len(s.Fields) == 0 || s.Budget < 0 {
		return nil, fmt.Errorf("mde table: dim %d, %d fields, budget %d: %w", s.Dim, len(s.Fields), s.Budget, embedding.ErrConfig)
	}
	if s.FieldDims != nil {
		return nil, fmt.Errorf("mde table: per-field dims come from its power law, not a dimension plan: %w", embedding.ErrConfig)
	}
	fields, a, err := ForBudget(s.SizingBudget(), s.Cardinalities(), s.Dim, alpha)
	if err != nil {
		return nil, fmt.Errorf("mde table: %w", err)
	}
	return New(Config{Dim: s.Dim, Fields: fields, Alpha: a, Optimizer: s.Optimizer, Seed: s.Seed, Storage: s.Storage})
}

// Plan reads a table's config (no index).
func (method) Plan(raw json.RawMessage, _ embedding.Index) (*embedding.Plan, error) {
	var c Config
	if err := embedding.DecodeConfig(raw, &c); err != nil {
		return nil, fmt.Errorf("mde table: %w", err)
	}
	c, err := c.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", embedding.ErrCorrupt, err)
	}
	p := c.plan()
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("mde table: %w: %w", embedding.ErrCorrupt, err)
	}
	return p, nil
}

// Load restores a table saved by its Save.
func (method) Load(r io.Reader) (embedding.Trainable, error) { return Load(r) }

// plan is c's key plan: set 0 holds the full-width fields' rows (field
// order) when there are any; then each projected field has a set of its
// Rows embedding rows followed by Dim projection rows. A full-width field
// copies row Bucket(id, Rows) of its part of set 0; a projected field
// reads its row Bucket(id, Rows) and projects it with the Dim projection
// rows, the field's shared keys (embedding.FieldPlan.Shared: gathered once
// a batch, their gradients summed over the batch).
func (c Config) plan() *embedding.Plan {
	p := &embedding.Plan{Dim: c.Dim}
	plain := 0
	for f, fc := range c.Fields {
		if !c.projected(f) {
			plain += fc.Rows
		}
	}
	if plain > 0 {
		p.Sets = append(p.Sets, embedding.SetShape{Rows: plain, Width: c.Dim})
	}
	off := 0
	for f, fc := range c.Fields {
		n := uint64(fc.Rows)
		if !c.projected(f) {
			base := uint32(off)
			off += fc.Rows
			p.Fields = append(p.Fields, embedding.FieldPlan{NumKeys: 1, Combine: embedding.CopyRow, Width: c.Dim, Used: c.Dim,
				Keys: func(dst []embedding.Key, id uint64) []embedding.Key {
					return append(dst, embedding.Key{Row: base + uint32(hashing.Bucket(id, n))})
				}})
			continue
		}
		set := uint32(len(p.Sets))
		p.Sets = append(p.Sets, embedding.SetShape{Rows: fc.Rows + c.Dim, Width: fc.Width})
		shared := make([]embedding.Key, c.Dim)
		for k := range shared {
			shared[k] = embedding.Key{Set: set, Row: uint32(fc.Rows + k)}
		}
		p.Fields = append(p.Fields, embedding.FieldPlan{NumKeys: 1, Combine: embedding.ComputeVector,
			Width: fc.Width, Used: c.Dim, Computer: projection{w: fc.Width, dim: c.Dim}, Shared: shared,
			Keys: func(dst []embedding.Key, id uint64) []embedding.Key {
				return append(dst, embedding.Key{Set: set, Row: uint32(hashing.Bucket(id, n))})
			}})
	}
	return p
}

// projection is a projected field's computed combine: rows holds the
// id's embedding row e (w floats), then the Dim rows of Pᵀ; out_k = P_k·e.
// It has no state, so Lookups may share it.
type projection struct{ w, dim int }

// Compute writes P·e to out.
func (k projection) Compute(_ uint64, rows, out []float32) {
	w := k.w
	e := rows[:w:w]
	for o := range k.dim {
		row := rows[(1+o)*w : (2+o)*w : (2+o)*w]
		var s float32
		for j, x := range e {
			s += row[j] * x
		}
		out[o] = s
	}
}

// Backward writes the gradients of e (Pᵀ·dout) and of each P_k (dout_k·e)
// into drows.
func (k projection) Backward(_ uint64, rows, dout, drows []float32) {
	w := k.w
	e, de := rows[:w:w], drows[:w:w]
	clear(de)
	for o := range k.dim {
		row := rows[(1+o)*w : (2+o)*w : (2+o)*w]
		drow := drows[(1+o)*w : (2+o)*w : (2+o)*w]
		g := dout[o]
		for j, x := range e {
			de[j] += g * row[j]
			drow[j] = g * x
		}
	}
}

// Table is an MDE table: its config, row sets and the shared engine. It
// implements [embedding.TrainTable] and [embedding.Describer].
type Table struct {
	cfg  Config
	sets []*embedding.Rows
	*embedding.Planned
}

// New returns a freshly initialised table for c: embedding rows uniform in
// [-InitScale, InitScale] (set s draws stream s of c.Seed), projections
// the identity on their first Width outputs.
func New(c Config) (*Table, error) {
	c, err := c.withDefaults()
	if err != nil {
		return nil, err
	}
	p := c.plan()
	t := &Table{cfg: c}
	for s, sh := range p.Sets {
		st := embedding.Storage{Precision: c.Storage, Seed: hashing.FieldSalt(c.Seed, s)}
		r, err := embedding.NewRowsWithStorage(sh.Rows, sh.Width, c.Optimizer, st)
		if err != nil {
			return nil, fmt.Errorf("new mde table: row set %d: %w", s, err)
		}
		t.sets = append(t.sets, r)
	}
	s := 0
	if len(p.Sets) > len(c.projectedFields()) {
		t.sets[0].InitUniform(0, t.sets[0].Len(), c.InitScale, c.Seed, 0)
		s = 1
	}
	for _, f := range c.projectedFields() {
		fc := c.Fields[f]
		r := t.sets[s]
		r.InitUniform(0, fc.Rows, c.InitScale, c.Seed, uint64(s))
		id := make([]float32, c.Dim*fc.Width)
		for j := range fc.Width {
			id[j*fc.Width+j] = 1
		}
		r.WriteRows(fc.Rows, id)
		s++
	}
	if t.Planned, err = embedding.NewPlanned(p, t.sets); err != nil {
		return nil, fmt.Errorf("new mde table: %w", err)
	}
	return t, nil
}

// projectedFields lists the fields with a projection, in order.
func (c Config) projectedFields() []int {
	var fs []int
	for f := range c.Fields {
		if c.projected(f) {
			fs = append(fs, f)
		}
	}
	return fs
}

// Config returns the table's configuration.
func (t *Table) Config() Config {
	c := t.cfg
	c.Fields = append([]FieldConfig(nil), c.Fields...)
	return c
}

// Bytes reports the rows' parameter and optimizer-state bytes (no index).
func (t *Table) Bytes() embedding.Bytes { return t.Planned.Bytes() }

// Describe records the table for an artifact: its config, plan and row
// sets (no index).
func (t *Table) Describe() (embedding.Description, error) {
	js, err := json.Marshal(t.cfg)
	if err != nil {
		return embedding.Description{}, fmt.Errorf("mde table: encode config: %w", err)
	}
	p := t.Plan()
	d := embedding.Description{Method: Method, Config: js, Plan: p, Sets: t.RowSets()}
	widths := make([]int, len(p.Sets))
	same := true
	for s, sh := range p.Sets {
		widths[s] = sh.Width
		d.Width = max(d.Width, sh.Width)
		same = same && sh.Width == p.Sets[0].Width
	}
	if !same {
		d.SetWidths = widths
	}
	return d, nil
}

var (
	_ embedding.TrainTable   = (*Table)(nil)
	_ embedding.Describer    = (*Table)(nil)
	_ embedding.GradComputer = projection{}
)
