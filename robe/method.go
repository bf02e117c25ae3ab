package robe

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"github.com/embtab/embtab/embedding"
)

func init() { embedding.RegisterMethod(Method, method{}) }

// method is ROBE as an [embedding.Method].
type method struct{}

// Shape is what the config setting's JSON file may give (the block and
// sign settings override it).
type Shape struct {
	Block int  `json:"block,omitempty"`
	Sign  bool `json:"sign,omitempty"`
}

// New sizes a ROBE table to spec's budget: floor(SizingBudget / (4·Z))
// rows of Z floats (no index). Settings:
//
//   - block: Z, floats per block (a divisor of Dim; default
//     [DefaultBlock], or Dim when that does not divide it);
//   - chunks: Dim/Z blocks per vector instead (the --chunks flag);
//   - sign: "true" or "1" for the sign hash;
//   - config: the path of a JSON [Shape] file.
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
	if err := s.CheckParams(Method, "block", "chunks", "sign", "config"); err != nil {
		return c, err
	}
	if s.Dim < 1 || len(s.Fields) == 0 || s.Budget < 0 {
		return c, fmt.Errorf("robe table: dim %d, %d fields, budget %d: %w", s.Dim, len(s.Fields), s.Budget, embedding.ErrConfig)
	}
	if s.FieldDims != nil {
		return c, fmt.Errorf("robe table: per-field dims (a dimension plan) are for full, hashed and unified tables: %w", embedding.ErrConfig)
	}
	var shape Shape
	if err := s.SettingsFile(Method, &shape); err != nil {
		return c, err
	}
	block, err := s.IntParam("block", shape.Block)
	if err != nil {
		return c, fmt.Errorf("robe table: %w", err)
	}
	chunks, err := s.IntParam("chunks", 0)
	if err != nil {
		return c, fmt.Errorf("robe table: %w", err)
	}
	switch {
	case chunks < 0 || block < 0:
		return c, fmt.Errorf("robe table: block %d, chunks %d: %w", block, chunks, embedding.ErrConfig)
	case chunks > 0 && s.Params["block"] != "":
		return c, fmt.Errorf("robe table: set block or chunks, not both: %w", embedding.ErrConfig)
	case chunks > 0:
		if s.Dim%chunks != 0 {
			return c, fmt.Errorf("robe table: %d chunks do not divide dim %d: %w", chunks, s.Dim, embedding.ErrConfig)
		}
		block = s.Dim / chunks
	case block == 0:
		block = DefaultBlock
		if s.Dim%block != 0 {
			block = s.Dim
		}
	}
	if s.Dim%block != 0 {
		return c, fmt.Errorf("robe table: block %d does not divide dim %d: %w", block, s.Dim, embedding.ErrConfig)
	}
	sign := shape.Sign
	if v, ok := s.Params["sign"]; ok {
		if sign, err = strconv.ParseBool(v); err != nil {
			return c, fmt.Errorf("robe table: setting sign=%q: not a boolean: %w", v, embedding.ErrConfig)
		}
	}
	budget := s.SizingBudget()
	rows := budget / (4 * int64(block))
	if rows < 1 {
		return c, fmt.Errorf("robe table: a budget of %d bytes holds no block of %d floats: %w", budget, block, embedding.ErrBudgetTooSmall)
	}
	if rows > embedding.MaxRows {
		return c, fmt.Errorf("robe table: a budget of %d bytes is %d blocks of %d floats (max %d rows): use a larger block: %w",
			budget, rows, block, embedding.MaxRows, embedding.ErrTooManyRows)
	}
	c = Config{Method: Method, Fields: len(s.Fields), Dim: s.Dim, Block: block, Rows: int(rows), Sign: sign,
		Optimizer: s.Optimizer, Seed: s.Seed, Storage: s.Storage}
	return c.WithDefaults()
}

// Plan reads a table's config (no index).
func (method) Plan(raw json.RawMessage, _ embedding.Index) (*embedding.Plan, error) {
	var c Config
	if err := embedding.DecodeConfig(raw, &c); err != nil {
		return nil, fmt.Errorf("robe table: %w", err)
	}
	c, err := c.WithDefaults()
	if err != nil {
		return nil, fmt.Errorf("robe table: %w: %w", embedding.ErrCorrupt, err)
	}
	return c.plan(), nil
}

// Load restores a table saved by its Save.
func (method) Load(r io.Reader) (embedding.Trainable, error) { return Load(r) }

// Describe records the table for an artifact: its config, its plan and
// the array (one row set of Block-float rows); no index.
func (t *Table) Describe() (embedding.Description, error) {
	js, err := json.Marshal(t.cfg)
	if err != nil {
		return embedding.Description{}, fmt.Errorf("robe table: encode config: %w", err)
	}
	return embedding.Description{Method: Method, Config: js, Plan: t.Plan(), Width: t.cfg.Block, Sets: t.RowSets()}, nil
}

var (
	_ embedding.TrainTable = (*Table)(nil)
	_ embedding.Describer  = (*Table)(nil)
	_ embedding.RowStore   = (*Table)(nil)
)
