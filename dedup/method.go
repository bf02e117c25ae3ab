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
//   - fp: > 0 for the benchmark's element-wise similarity (the share of
//     floats within fp; then set threshold to its sim, say 0.7);
//   - ratio: the expected dedup ratio, logical over physical blocks
//     (default 1): > 1 oversizes the logical table by it, and the dedup
//     then merges below the threshold, most similar pairs first, until
//     the physical rows and the remap fit the budget (Config.MaxPhysical);
//   - chunks: Dim/B blocks per vector instead of block (the --chunks flag);
//   - config: the path of a JSON [Shape] file (the --table-config flag:
//     the train command passes only config and chunks), which the
//     settings above override.
func (method) New(s embedding.Spec) (embedding.Trainable, error) {
	c, err := ConfigFor(s)
	if err != nil {
		return nil, err
	}
	return New(c)
}

// Shape is what the config setting's JSON file may give.
type Shape struct {
	Block     int     `json:"block,omitempty"`
	After     *int    `json:"after,omitempty"`
	Threshold float64 `json:"threshold,omitempty"`
	Bits      int     `json:"bits,omitempty"`
	FP        float64 `json:"fp,omitempty"`
	Ratio     float64 `json:"ratio,omitempty"`
}

// ConfigFor returns the config of the table New builds for spec.
func ConfigFor(s embedding.Spec) (Config, error) {
	var c Config
	if err := s.CheckParams(Method, "block", "after", "threshold", "bits", "fp", "ratio", "chunks", "config"); err != nil {
		return c, err
	}
	if s.Dim < 1 || len(s.Fields) == 0 || s.Budget < 0 {
		return c, fmt.Errorf("dedup table: dim %d, %d fields, budget %d: %w", s.Dim, len(s.Fields), s.Budget, embedding.ErrConfig)
	}
	if s.FieldDims != nil {
		return c, fmt.Errorf("dedup table: per-field dims (a dimension plan) are for full, hashed and unified tables: %w", embedding.ErrConfig)
	}
	sh := Shape{Block: s.Dim / 2, Threshold: DefaultThreshold, Bits: DefaultBits, Ratio: 1}
	if s.Dim%2 != 0 || sh.Block < 1 {
		sh.Block = s.Dim
	}
	after := DefaultAfter
	if s.Params["config"] != "" {
		var f Shape
		if err := s.SettingsFile(Method, &f); err != nil {
			return c, err
		}
		if f.Block != 0 {
			sh.Block = f.Block
		}
		if f.After != nil {
			after = *f.After
		}
		if f.Threshold != 0 {
			sh.Threshold = f.Threshold
		}
		if f.Bits != 0 {
			sh.Bits = f.Bits
		}
		if f.FP != 0 {
			sh.FP = f.FP
		}
		if f.Ratio != 0 {
			sh.Ratio = f.Ratio
		}
	}
	block, err := s.IntParam("block", sh.Block)
	if err != nil {
		return c, fmt.Errorf("dedup table: %w", err)
	}
	chunks, err := s.IntParam("chunks", 0)
	if err != nil {
		return c, fmt.Errorf("dedup table: %w", err)
	}
	if chunks != 0 {
		if chunks < 1 || s.Dim%chunks != 0 || s.Params["block"] != "" {
			return c, fmt.Errorf("dedup table: %d chunks for dim %d (set block or chunks, not both): %w", chunks, s.Dim, embedding.ErrConfig)
		}
		block = s.Dim / chunks
	}
	if after, err = s.IntParam("after", after); err != nil {
		return c, fmt.Errorf("dedup table: %w", err)
	}
	bits, err := s.IntParam("bits", sh.Bits)
	if err != nil {
		return c, fmt.Errorf("dedup table: %w", err)
	}
	thr, err := s.FloatParam("threshold", sh.Threshold)
	if err != nil {
		return c, fmt.Errorf("dedup table: %w", err)
	}
	fp, err := s.FloatParam("fp", sh.FP)
	if err != nil {
		return c, fmt.Errorf("dedup table: %w", err)
	}
	ratio, err := s.FloatParam("ratio", sh.Ratio)
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
	c = Config{Method: Method, Dim: s.Dim, Block: block, Rows: rows, After: after, Threshold: thr, FP: fp, Bits: bits,
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
	_ embedding.TrainTable     = (*Table)(nil)
	_ embedding.FieldTrainable = (*Table)(nil)
	_ embedding.Describer      = (*Table)(nil)
	_ embedding.RowStore       = (*Table)(nil)
)
