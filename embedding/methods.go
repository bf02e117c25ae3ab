package embedding

import (
	"encoding/json"
	"fmt"
	"io"
)

// The methods of this package, registered by name: full, hashed, qr and
// hybrid. Package multiplex registers multiplex, unified and multiprobe.
func init() {
	RegisterMethod(MethodFull, fullMethod{})
	RegisterMethod(MethodHashed, hashedMethod{})
	RegisterMethod(MethodQR, qrMethod{})
	RegisterMethod(MethodHybrid, hybridMethod{})
}

// IndexBytesPerID is what serving pays for each id of a method's index (a
// full table's vocabulary, a hybrid table's head): the id (8 bytes) and
// its row (4 bytes), as an artifact's vocabulary file holds them. Budgets
// ([Spec.Budget]) and serving bytes count it.
const IndexBytesPerID = 12

// IndexServingBytes returns the serving bytes of an index of ids per
// field ([IndexBytesPerID] a listed id).
func IndexServingBytes(index [][]uint64) int64 {
	var n int64
	for _, ids := range index {
		n += int64(len(ids))
	}
	return n * IndexBytesPerID
}

// config returns the Config of s for a method of this package.
func (s *Spec) config(method string) Config {
	return Config{Method: method, Dim: s.Dim, Optimizer: s.Optimizer, Seed: s.Seed, Storage: s.Storage, InitScale: s.InitScale}
}

// keptIDs returns the ids of field f that own rows: KeptIDs[f] when a
// dimension search set it, else every training id.
func (s *Spec) keptIDs(f int) []uint64 {
	if s.KeptIDs != nil && s.KeptIDs[f] != nil {
		return s.KeptIDs[f]
	}
	return s.Fields[f].IDs
}

// check validates what every method needs of s.
func (s *Spec) check(method string) error {
	if s.Dim < 1 {
		return fmt.Errorf("%s table: dim %d: %w", method, s.Dim, ErrConfig)
	}
	if len(s.Fields) == 0 {
		return fmt.Errorf("%s table: no fields: %w", method, ErrConfig)
	}
	if s.Budget < 0 {
		return fmt.Errorf("%s table: budget %d bytes: %w", method, s.Budget, ErrConfig)
	}
	if s.FieldDims != nil {
		if err := checkFieldDims(s.FieldDims, len(s.Fields), s.Dim); err != nil {
			return fmt.Errorf("%s table: %w", method, err)
		}
	}
	if s.KeptIDs != nil && len(s.KeptIDs) != len(s.Fields) {
		return fmt.Errorf("%s table: kept ids of %d fields for %d fields: %w", method, len(s.KeptIDs), len(s.Fields), ErrConfig)
	}
	return nil
}

// SizingBudget returns the byte budget a compressed method sizes itself to:
// Budget, else PlanBytes (a dimension plan's), else the full table's.
func (s *Spec) SizingBudget() int64 {
	if s.Budget == 0 && s.PlanBytes > 0 {
		return s.PlanBytes
	}
	return s.BudgetOrFull()
}

type fullMethod struct{}

// New builds a full table over the training ids (or, with a dimension
// plan, its kept ids at their planned dims). With a budget, the table's
// parameters and vocabulary must fit in it.
func (fullMethod) New(s Spec) (Trainable, error) {
	if err := s.check(MethodFull); err != nil {
		return nil, err
	}
	if err := s.CheckParams(MethodFull); err != nil {
		return nil, err
	}
	c := s.config(MethodFull)
	c.FieldDims = s.FieldDims
	ids := make([][]uint64, len(s.Fields))
	var params int64
	for f := range ids {
		ids[f] = s.keptIDs(f)
		params += int64(len(ids[f])+1) * int64(c.FieldDim(f)) * 4
	}
	if index := IndexServingBytes(ids); s.Budget > 0 && params+index > s.Budget {
		return nil, fmt.Errorf("full table needs %d bytes at dim %d (%d of parameters, %d of vocabulary), more than the budget of %d: use a compressed method: %w",
			params+index, s.Dim, params, index, s.Budget, ErrBudgetTooSmall)
	}
	return NewFull(ids, c)
}

// Plan reads a full table's config; index is its vocabulary.
func (fullMethod) Plan(raw json.RawMessage, index Index) (*Plan, error) {
	c, err := decodeTableConfig(raw, MethodFull)
	if err != nil {
		return nil, err
	}
	if index == nil || index.Fields() != len(c.Rows) {
		return nil, fmt.Errorf("full table of %d fields without its vocabulary: %w", len(c.Rows), ErrCorrupt)
	}
	for f, n := range c.Rows {
		if n < 1 || index.Len(f) != n-1 {
			return nil, fmt.Errorf("full table field %d: %d rows need a vocabulary of %d ids, have %d: %w", f, n, n-1, index.Len(f), ErrCorrupt)
		}
	}
	return fullPlan(c, index), nil
}

type hashedMethod struct{}

// New sizes a hashed table to the budget (rows_per_field: that many rows
// in every field instead), at the planned dims when FieldDims is set.
func (hashedMethod) New(s Spec) (Trainable, error) {
	if err := s.check(MethodHashed); err != nil {
		return nil, err
	}
	if err := s.CheckParams(MethodHashed, "rows_per_field"); err != nil {
		return nil, err
	}
	perField, err := s.IntParam("rows_per_field", 0)
	if err != nil {
		return nil, fmt.Errorf("hashed table: %w", err)
	}
	c := s.config(MethodHashed)
	switch {
	case perField < 0:
		return nil, fmt.Errorf("hashed table: rows_per_field %d: %w", perField, ErrConfig)
	case perField > 0:
		c.FieldDims = s.FieldDims
		c.Rows = make([]int, len(s.Fields))
		for f := range c.Rows {
			c.Rows[f] = perField
		}
	case s.FieldDims != nil:
		c.FieldDims = s.FieldDims
		if c.Rows, err = HashedForBudgetDims(s.SizingBudget(), s.Cardinalities(), s.FieldDims); err != nil {
			return nil, err
		}
	default:
		if c.Rows, err = HashedForBudget(s.SizingBudget(), s.Cardinalities(), s.Dim); err != nil {
			return nil, err
		}
	}
	return NewHashed(c)
}

// Plan reads a hashed table's config (no index).
func (hashedMethod) Plan(raw json.RawMessage, _ Index) (*Plan, error) {
	c, err := decodeTableConfig(raw, MethodHashed)
	if err != nil {
		return nil, err
	}
	return hashedPlan(c), nil
}

type qrMethod struct{}

// New sizes a QR table to the budget.
func (qrMethod) New(s Spec) (Trainable, error) {
	if err := s.check(MethodQR); err != nil {
		return nil, err
	}
	if err := s.CheckParams(MethodQR); err != nil {
		return nil, err
	}
	if s.FieldDims != nil {
		return nil, fmt.Errorf("qr table: per-field dims (a dimension plan) are for full, hashed, hybrid and unified tables: %w", ErrConfig)
	}
	c := s.config(MethodQR)
	var err error
	if c.Rows, c.RemRows, err = QRForBudget(s.SizingBudget(), s.Cardinalities(), s.Dim); err != nil {
		return nil, err
	}
	return NewQR(c)
}

// Plan reads a QR table's config (no index).
func (qrMethod) Plan(raw json.RawMessage, _ Index) (*Plan, error) {
	c, err := decodeTableConfig(raw, MethodQR)
	if err != nil {
		return nil, err
	}
	return qrPlan(c), nil
}

type hybridMethod struct{}

// New sizes a hybrid table to the budget: head_fraction of it (default
// [DefaultHeadFraction]) buys the most frequent ids their own rows, the
// rest hashed tail rows. The head's index ([IndexBytesPerID] an id) is
// paid from the budget: the parameters are sized to the budget less the
// index of a first sizing, which can only shrink the head, so parameters
// plus index stay within the budget.
func (hybridMethod) New(s Spec) (Trainable, error) {
	if err := s.check(MethodHybrid); err != nil {
		return nil, err
	}
	if err := s.CheckParams(MethodHybrid, "head_fraction"); err != nil {
		return nil, err
	}
	frac, err := s.FloatParam("head_fraction", 0)
	if err != nil {
		return nil, fmt.Errorf("hybrid table: %w", err)
	}
	if s.FieldDims != nil {
		return nil, fmt.Errorf("hybrid table: per-field dims (a dimension plan) are for full, hashed and unified tables: %w", ErrConfig)
	}
	budget := s.SizingBudget()
	heads, _, err := HybridForBudget(budget, s.Fields, s.Dim, frac)
	if err != nil {
		return nil, err
	}
	if index := IndexServingBytes(heads); index > 0 {
		budget -= index
	}
	return NewHybridForBudget(budget, s.Fields, HybridConfig{Dim: s.Dim, Optimizer: s.Optimizer, Seed: s.Seed,
		Storage: s.Storage, HeadFraction: frac})
}

// Plan reads a hybrid table's config; index is its head vocabulary.
func (hybridMethod) Plan(raw json.RawMessage, index Index) (*Plan, error) {
	var c HybridConfig
	if err := DecodeConfig(raw, &c); err != nil {
		return nil, fmt.Errorf("hybrid table: %w", err)
	}
	c, err := c.WithDefaults()
	if err != nil {
		return nil, fmt.Errorf("hybrid table: %w: %w", ErrCorrupt, err)
	}
	if index == nil || index.Fields() != len(c.HeadRows) {
		return nil, fmt.Errorf("hybrid table of %d fields without its head vocabulary: %w", len(c.HeadRows), ErrCorrupt)
	}
	for f, h := range c.HeadRows {
		if index.Len(f) != h {
			return nil, fmt.Errorf("hybrid table field %d: %d head rows, the vocabulary has %d ids: %w", f, h, index.Len(f), ErrCorrupt)
		}
	}
	return hybridPlan(c, index), nil
}

// decodeTableConfig reads a Config of method (defaults filled in).
func decodeTableConfig(raw json.RawMessage, method string) (Config, error) {
	var c Config
	if err := DecodeConfig(raw, &c); err != nil {
		return c, fmt.Errorf("%s table: %w", method, err)
	}
	c, err := c.WithDefaults()
	if err != nil {
		return c, fmt.Errorf("%s table: %w: %w", method, ErrCorrupt, err)
	}
	if c.Method != method {
		return c, fmt.Errorf("%s table: config says method %q: %w", method, c.Method, ErrCorrupt)
	}
	if method == MethodFull && len(c.Rows) == 0 {
		return c, fmt.Errorf("full table: no fields: %w", ErrCorrupt)
	}
	return c, nil
}

// describe returns the Description of a table of this package: its
// config as JSON, its plan and row stores, and its index.
func describe(method string, cfg any, p *Planned, fieldDims []int, index [][]uint64) (Description, error) {
	js, err := json.Marshal(cfg)
	if err != nil {
		return Description{}, fmt.Errorf("%s table: encode config: %w", method, err)
	}
	d := Description{Method: method, Config: js, Plan: p.Plan(), Width: p.Dim(), Sets: p.RowSets(), Index: index}
	if fieldDims != nil {
		d.SetWidths = append([]int(nil), fieldDims...)
	}
	return d, nil
}

// Describe records the table for an artifact.
func (t *Hashed) Describe() (Description, error) {
	return describe(MethodHashed, t.cfg, t.Planned, t.cfg.FieldDims, nil)
}

// Describe records the table for an artifact.
func (t *QR) Describe() (Description, error) {
	return describe(MethodQR, t.cfg, t.Planned, nil, nil)
}

// Describe records the table for an artifact; its index is the vocabulary.
func (t *Full) Describe() (Description, error) {
	index := make([][]uint64, t.Fields())
	for f := range index {
		index[f] = t.Vocab(f)
	}
	return describe(MethodFull, t.cfg, t.Planned, t.cfg.FieldDims, index)
}

// Describe records the table for an artifact; its index is the head.
func (t *Hybrid) Describe() (Description, error) {
	index := make([][]uint64, t.Fields())
	for f := range index {
		index[f] = t.Head(f)
	}
	return describe(MethodHybrid, t.cfg, t.Planned, t.cfg.FieldDims, index)
}

// Load restores a full table saved by its Save.
func (fullMethod) Load(r io.Reader) (Trainable, error) { return loadAs(r, MethodFull) }

// Load restores a hashed table saved by its Save.
func (hashedMethod) Load(r io.Reader) (Trainable, error) { return loadAs(r, MethodHashed) }

// Load restores a QR table saved by its Save.
func (qrMethod) Load(r io.Reader) (Trainable, error) { return loadAs(r, MethodQR) }

// Load restores a hybrid table saved by its Save.
func (hybridMethod) Load(r io.Reader) (Trainable, error) { return LoadHybrid(r) }

// loadAs loads a full, hashed or QR stream and checks its method.
func loadAs(r io.Reader, method string) (Trainable, error) {
	t, err := Load(r)
	if err != nil {
		return nil, err
	}
	var got string
	switch t := t.(type) {
	case *Full:
		got = MethodFull
	case *Hashed:
		got = MethodHashed
	case *QR:
		got = t.cfg.Method
	}
	if got != method {
		return nil, fmt.Errorf("load %s table: the stream holds a %s table: %w", method, got, ErrConfigMismatch)
	}
	return t, nil
}
