package dedup

import (
	"encoding/json"
	"fmt"
	"io"
	"math"

	"github.com/embtab/embtab/embedding"
)

func init() { embedding.RegisterMethod(Method, method{}) }

// method is Dedup as an [embedding.Method].
type method struct{}

// New sizes a dedup table to spec's budget. The remap costs 4 bytes a
// logical block, 1/Block of a block's 4·Block bytes, so the logical rows
// are those of a hashed table (embedding.HashedForBudget: shares by
// cardinality) for SizingBudget·ratio·Block/(Block+1) bytes: with ratio
// 1 the table is within budget before the dedup (rows, no remap yet) and
// after it (fewer rows, the remap). Settings:
//
//   - block: B, floats per block (a divisor of Dim; default Dim/2, or Dim
//     when Dim is odd);
//   - after: Apply calls before the dedup (default [DefaultAfter]; 0:
//     never);
//   - threshold: the cosine similarity of a merge (default
//     [DefaultThreshold]);
//   - bits: LSH hyperplanes (default [DefaultBits]);
//   - ratio: the expected dedup ratio, logical over physical blocks
//     (default 1): > 1 oversizes the logical table by it, and the dedup
//     then merges below the threshold, most similar pairs first, until
//     the physical rows and the remap fit the budget (Config.MaxPhysical).
func (method) New(s embedding.Spec) (embedding.Trainable, error) {
	c, err := ConfigFor(s)
	if err != nil {
		return nil, err
	}
	return New(c)
}

// ConfigFor returns the config of the table New builds for spec.
func ConfigFor(s embedding.Spec) (Config, error) {
	var c Config
	if err := s.CheckParams(Method, "block", "after", "threshold", "bits", "ratio"); err != nil {
		return c, err
	}
	if s.Dim < 1 || len(s.Fields) == 0 || s.Budget < 0 {
		return c, fmt.Errorf("dedup table: dim %d, %d fields, budget %d: %w", s.Dim, len(s.Fields), s.Budget, embedding.ErrConfig)
	}
	if s.FieldDims != nil {
		return c, fmt.Errorf("dedup table: per-field dims (a dimension plan) are for full, hashed and unified tables: %w", embedding.ErrConfig)
	}
	def := s.Dim / 2
	if s.Dim%2 != 0 || def < 1 {
		def = s.Dim
	}
	block, err := s.IntParam("block", def)
	if err != nil {
		return c, fmt.Errorf("dedup table: %w", err)
	}
	after, err := s.IntParam("after", DefaultAfter)
	if err != nil {
		return c, fmt.Errorf("dedup table: %w", err)
	}
	bits, err := s.IntParam("bits", DefaultBits)
	if err != nil {
		return c, fmt.Errorf("dedup table: %w", err)
	}
	thr, err := s.FloatParam("threshold", DefaultThreshold)
	if err != nil {
		return c, fmt.Errorf("dedup table: %w", err)
	}
	ratio, err := s.FloatParam("ratio", 1)
	if err != nil {
		return c, fmt.Errorf("dedup table: %w", err)
	}
	if block < 1 || s.Dim%block != 0 || !(ratio >= 1) || math.IsInf(ratio, 0) {
		return c, fmt.Errorf("dedup table: block %d (must divide dim %d), ratio %v (>= 1): %w", block, s.Dim, ratio, embedding.ErrConfig)
	}
	budget := s.SizingBudget()
	sized := int64(float64(budget) * ratio * float64(block) / float64(block+1))
	rows, err := embedding.HashedForBudget(sized, s.Cardinalities(), s.Dim)
	if err != nil {
		return c, fmt.Errorf("dedup table: %w", err)
	}
	c = Config{Method: Method, Dim: s.Dim, Block: block, Rows: rows, After: after, Threshold: thr, Bits: bits,
		Optimizer: s.Optimizer, Seed: s.Seed, Storage: s.Storage}
	if ratio > 1 {
		// The physical rows that fit beside the remap.
		c.MaxPhysical = int(max(1, (budget-RemapBytes(c.Logical()))/(4*int64(block))))
	}
	return c.WithDefaults()
}

// Plan reads a table's config (no index).
func (method) Plan(raw json.RawMessage, _ embedding.Index) (*embedding.Plan, error) {
	var c Config
	if err := embedding.DecodeConfig(raw, &c); err != nil {
		return nil, fmt.Errorf("dedup table: %w", err)
	}
	c, err := c.WithDefaults()
	if err != nil {
		return nil, fmt.Errorf("dedup table: %w: %w", embedding.ErrCorrupt, err)
	}
	return c.plan(), nil
}

// Load restores a table saved by its Save.
func (method) Load(r io.Reader) (embedding.Trainable, error) { return Load(r) }

// Describe records the table for an artifact: its config (with the remap
// after the dedup), its plan and the physical blocks (one row set of
// Block-float rows); no index.
func (t *Table) Describe() (embedding.Description, error) {
	js, err := json.Marshal(t.cfg)
	if err != nil {
		return embedding.Description{}, fmt.Errorf("dedup table: encode config: %w", err)
	}
	return embedding.Description{Method: Method, Config: js, Plan: t.Plan(), Width: t.cfg.Block, Sets: t.RowSets()}, nil
}

var (
	_ embedding.TrainTable = (*Table)(nil)
	_ embedding.Describer  = (*Table)(nil)
	_ embedding.RowStore   = (*Table)(nil)
)
