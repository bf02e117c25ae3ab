package ttrec

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/embtab/embtab/embedding"
)

func init() { embedding.RegisterMethod(Method, method{}) }

// method is TT-Rec as an [embedding.Method].
type method struct{}

// New sizes a table to spec's budget with [ForBudget] (no dimension
// plans). Setting: max_rank, the largest rank (default [DefaultMaxRank],
// at most [MaxRank]; `train --max-rank`).
func (method) New(s embedding.Spec) (embedding.Trainable, error) {
	if err := s.CheckParams(Method, "max_rank"); err != nil {
		return nil, err
	}
	maxRank, err := s.IntParam("max_rank", DefaultMaxRank)
	if err != nil {
		return nil, fmt.Errorf("ttrec table: %w", err)
	}
	if maxRank < 1 || maxRank > MaxRank {
		return nil, fmt.Errorf("ttrec table: max_rank %d (1..%d): %w", maxRank, MaxRank, embedding.ErrConfig)
	}
	if s.Dim < 1 || len(s.Fields) == 0 || s.Budget < 0 {
		return nil, fmt.Errorf("ttrec table: dim %d, %d fields, budget %d: %w", s.Dim, len(s.Fields), s.Budget, embedding.ErrConfig)
	}
	if s.FieldDims != nil {
		return nil, fmt.Errorf("ttrec table: per-field dims (a dimension plan) are for full, hashed and unified tables: %w", embedding.ErrConfig)
	}
	fields, err := ForBudget(s.SizingBudget(), s.Cardinalities(), s.Dim, maxRank)
	if err != nil {
		return nil, fmt.Errorf("ttrec table: %w", err)
	}
	return New(Config{Dim: s.Dim, Fields: fields, Optimizer: s.Optimizer, Seed: s.Seed, Storage: s.Storage})
}

// Plan reads a table's config (no index).
func (method) Plan(raw json.RawMessage, _ embedding.Index) (*embedding.Plan, error) {
	var c Config
	if err := embedding.DecodeConfig(raw, &c); err != nil {
		return nil, fmt.Errorf("ttrec table: %w", err)
	}
	c, err := c.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("ttrec table: %w: %w", embedding.ErrCorrupt, err)
	}
	p := c.plan()
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("ttrec table: %w: %w", embedding.ErrCorrupt, err)
	}
	return p, nil
}

// Load restores a table saved by its Save.
func (method) Load(r io.Reader) (embedding.Trainable, error) { return Load(r) }
