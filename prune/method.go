package prune

import (
	"encoding/json"
	"fmt"
	"io"
	"math"

	"github.com/embtab/embtab/embedding"
)

func init() {
	embedding.RegisterMethod(DeepLight, method{kind: DeepLight})
	embedding.RegisterMethod(PEP, method{kind: PEP})
	embedding.RegisterMethod(AutoSrh, method{kind: AutoSrh})
}

// method is DeepLight, PEP or AutoSrh as an embedding.Method.
type method struct{ kind string }

// New builds a table over the spec's training ids that prunes to the
// spec's budget (serving bytes of the sparse form; none: the full
// table's). Setting: config, a JSON file of [Settings]. The rows start
// uniform within Xavier's bound over the table's rows, sqrt(6/(rows+dim))
// (Hetu's init), unless the spec gives a scale.
func (m method) New(s embedding.Spec) (embedding.Trainable, error) {
	if err := s.CheckParams(m.kind, "config"); err != nil {
		return nil, err
	}
	if s.FieldDims != nil {
		return nil, fmt.Errorf("%s table: per-field dims: pruning keeps single values instead: %w", m.kind, embedding.ErrConfig)
	}
	var set Settings
	if err := s.SettingsFile(m.kind, &set); err != nil {
		return nil, err
	}
	vocab, counts := make([][]uint64, len(s.Fields)), make([][]uint32, len(s.Fields))
	rows := 0
	for f, fr := range s.Fields {
		vocab[f], counts[f] = fr.IDs, fr.Counts
		rows += len(fr.IDs) + 1
	}
	init := s.InitScale
	if init == 0 {
		init = float32(math.Sqrt(6 / float64(rows+s.Dim)))
	}
	return New(vocab, counts, Config{Kind: m.kind, Budget: s.SizingBudget(),
		PruneEvery: set.PruneEvery, Ramp: set.Ramp, ThresholdInit: set.ThresholdInit,
		Groups: set.Groups, L1: set.L1, AlphaLR: set.AlphaLR, Retrain: set.Retrain,
		Full: embedding.Config{Method: embedding.MethodFull, Dim: s.Dim, Optimizer: s.Optimizer, InitScale: init, Seed: s.Seed, Storage: s.Storage}})
}

// Plan reads the sparse form's config and its vocabulary.
func (m method) Plan(raw json.RawMessage, index embedding.Index) (*embedding.Plan, error) {
	var c Sparse
	if err := embedding.DecodeConfig(raw, &c); err != nil {
		return nil, fmt.Errorf("%s table: %w", m.kind, err)
	}
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("%s table: %w: %w", m.kind, embedding.ErrCorrupt, err)
	}
	return c.plan(index)
}

// Load restores a table saved by its Save.
func (m method) Load(r io.Reader) (embedding.Trainable, error) {
	t, err := Load(r)
	if err != nil {
		return nil, err
	}
	if t.cfg.Kind != m.kind {
		return nil, fmt.Errorf("load %s table: stream holds a %s table: %w", m.kind, t.cfg.Kind, embedding.ErrCorrupt)
	}
	return t, nil
}
