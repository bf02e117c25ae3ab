package multiplex

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/embtab/embtab/embedding"
)

// The package's methods, registered with package embedding by name.
func init() {
	for _, m := range []string{MethodMultiplex, MethodUnified, MethodMultiProbe} {
		embedding.RegisterMethod(m, method{name: m})
	}
}

// method is one of the package's table methods as an [embedding.Method].
type method struct{ name string }

// New sizes a table of the method to spec's budget (the pool costs its
// fp32 rows; the index is the hash function and costs nothing). Settings:
//
//   - config: the path of a shape file ([LoadConfig]) giving chunks,
//     chunk_dim, tables or probes;
//   - chunks (unified): that many chunks of Dim/chunks floats in every
//     field; the default shape is 2 chunks of Dim/2 (1 of Dim when Dim is
//     odd), so the same bytes buy twice the rows of a multiplex table;
//   - probes (multiprobe): the summed probes per id (default
//     [DefaultProbes]).
//
// A unified table takes per-field dims (a dimension plan): field f gets
// ceil(FieldDims[f] / chunk_dim) chunks, chunk_dim being Dim/chunks with
// the chunks setting, else Dim/4 (Dim/2, then 1, when 4 does not divide
// Dim).
func (m method) New(s embedding.Spec) (embedding.Trainable, error) {
	if err := s.CheckParams(m.name, "config", "chunks", "probes"); err != nil {
		return nil, err
	}
	if s.Dim < 1 || len(s.Fields) == 0 {
		return nil, fmt.Errorf("%s table: dim %d, %d fields: %w", m.name, s.Dim, len(s.Fields), ErrConfig)
	}
	shape := Config{Method: m.name}
	if path := s.Params["config"]; path != "" {
		var err error
		if shape, err = LoadConfig(path); err != nil {
			return nil, fmt.Errorf("%s table: table config: %w", m.name, err)
		}
		if shape.Method != "" && shape.Method != m.name {
			return nil, fmt.Errorf("table config %s describes a %s table, not %s: %w", path, shape.Method, m.name, ErrConfig)
		}
		shape.Method = m.name
	}
	probes, err := s.IntParam("probes", 0)
	if err != nil {
		return nil, fmt.Errorf("%s table: %w", m.name, err)
	}
	chunks, err := s.IntParam("chunks", 0)
	if err != nil {
		return nil, fmt.Errorf("%s table: %w", m.name, err)
	}
	if probes < 0 || chunks < 0 {
		return nil, fmt.Errorf("%s table: probes %d, chunks %d: %w", m.name, probes, chunks, ErrConfig)
	}
	if probes > 0 {
		shape.Probes = probes
	}
	nf := len(s.Fields)
	if chunks > 0 {
		shape.Chunks = make([]int, nf)
		for f := range shape.Chunks {
			shape.Chunks[f] = chunks
		}
		if shape.ChunkDim == 0 {
			shape.ChunkDim = s.Dim / chunks
		}
	}
	if s.FieldDims != nil {
		if m.name != MethodUnified {
			return nil, fmt.Errorf("%s table: per-field dims (a dimension plan) are for full, hashed and unified tables: %w", m.name, ErrConfig)
		}
		cd := planChunkDim(s.Dim, chunks)
		shape.ChunkDim = cd
		shape.Chunks = make([]int, nf)
		for f, d := range s.FieldDims {
			shape.Chunks[f] = max(1, (d+cd-1)/cd)
		}
	}
	c, err := ForBudget(s.SizingBudget(), nf, s.Dim, shape)
	if err != nil {
		return nil, err
	}
	c.Optimizer, c.Seed, c.Storage = s.Optimizer, s.Seed, s.Storage
	return New(c)
}

// planChunkDim is the unified chunk width a dimension plan's dims are cut
// into (see method.New).
func planChunkDim(dim, chunks int) int {
	switch {
	case chunks > 0:
		return max(1, dim/chunks)
	case dim%4 == 0:
		return dim / 4
	case dim%2 == 0:
		return dim / 2
	}
	return 1
}

// Plan reads a table's config (no index).
func (m method) Plan(raw json.RawMessage, _ embedding.Index) (*embedding.Plan, error) {
	var c Config
	if err := embedding.DecodeConfig(raw, &c); err != nil {
		return nil, fmt.Errorf("%s table: %w", m.name, err)
	}
	c, err := c.WithDefaults()
	if err != nil {
		return nil, fmt.Errorf("%s table: %w: %w", m.name, embedding.ErrCorrupt, err)
	}
	if c.Method != m.name {
		return nil, fmt.Errorf("%s table: config says method %q: %w", m.name, c.Method, embedding.ErrCorrupt)
	}
	return c.plan(), nil
}

// Describe records the table for an artifact: its config, plan and pool
// (row set p is pool table p, of the rows' width).
func (t *Table) Describe() (embedding.Description, error) {
	js, err := json.Marshal(t.cfg)
	if err != nil {
		return embedding.Description{}, fmt.Errorf("%s table: encode config: %w", t.cfg.Method, err)
	}
	return embedding.Description{Method: t.cfg.Method, Config: js, Plan: t.Plan(), Width: t.cfg.width(), Sets: t.RowSets()}, nil
}

// Load restores a table saved by its Save; the stream must hold a table
// of this method.
func (m method) Load(r io.Reader) (embedding.Trainable, error) {
	t, err := Load(r)
	if err != nil {
		return nil, err
	}
	if t.cfg.Method != m.name {
		return nil, fmt.Errorf("load %s table: the stream holds a %s table: %w", m.name, t.cfg.Method, embedding.ErrConfigMismatch)
	}
	return t, nil
}
