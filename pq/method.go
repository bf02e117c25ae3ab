package pq

import (
	"encoding/json"
	"fmt"
	"io"
	"math"

	"github.com/embtab/embtab/embedding"
)

func init() {
	embedding.RegisterMethod(MGQE, method{kind: MGQE})
	embedding.RegisterMethod(DPQ, method{kind: DPQ})
}

// method is MGQE or DPQ as an embedding.Method.
type method struct{ kind string }

// defaults fills in the settings' zero fields for kind.
func (s Settings) defaults(kind string) Settings {
	if kind == DPQ {
		if s.High == 0 {
			s.High = 32
		}
		s.Low, s.TopFraction = s.High, 0
		return s
	}
	if s.High == 0 {
		s.High = 256
	}
	if s.Low == 0 {
		s.Low = 64
	}
	if s.TopFraction == 0 {
		s.TopFraction = 0.1
	}
	return s
}

// New builds a table over the spec's training ids with the most parts
// (dividing Dim) whose serving bytes fit the spec's budget, or the parts
// the settings give. Setting: config, a JSON file of [Settings]. Queries
// and codewords start uniform within Xavier's bound over the query rows,
// sqrt(6/(rows+dim)), unless the spec gives a scale.
func (m method) New(s embedding.Spec) (embedding.Trainable, error) {
	if err := s.CheckParams(m.kind, "config"); err != nil {
		return nil, err
	}
	if s.FieldDims != nil {
		return nil, fmt.Errorf("%s table: per-field dims: %w", m.kind, embedding.ErrConfig)
	}
	var set Settings
	if err := s.SettingsFile(m.kind, &set); err != nil {
		return nil, err
	}
	set = set.defaults(m.kind)
	if !(set.TopFraction >= 0 && set.TopFraction <= 1) {
		return nil, fmt.Errorf("%s table: top fraction %g: %w", m.kind, set.TopFraction, embedding.ErrConfig)
	}
	vocab, counts := make([][]uint64, len(s.Fields)), make([][]uint32, len(s.Fields))
	n, freq := make([]int, len(s.Fields)), make([]int, len(s.Fields))
	rows := 0
	for f, fr := range s.Fields {
		vocab[f], counts[f], n[f] = fr.IDs, fr.Counts, len(fr.IDs)
		if set.Low != set.High {
			freq[f] = int(math.Round(set.TopFraction * float64(n[f])))
		}
		rows += len(fr.IDs) + 1
	}
	budget := s.SizingBudget()
	parts := set.Parts
	if parts == 0 {
		for p := s.Dim; p >= 1; p-- {
			if s.Dim%p == 0 && Bytes(n, freq, s.Dim, p, set.High, set.Low) <= budget {
				parts = p
				break
			}
		}
		if parts == 0 {
			return nil, fmt.Errorf("%s table: one code per id takes %d bytes, budget %d: %w", m.kind,
				Bytes(n, freq, s.Dim, 1, set.High, set.Low), budget, embedding.ErrBudgetTooSmall)
		}
	} else if b := Bytes(n, freq, s.Dim, parts, set.High, set.Low); s.Dim%parts == 0 && b > budget {
		return nil, fmt.Errorf("%s table: %d parts take %d bytes, budget %d: %w", m.kind, parts, b, budget, embedding.ErrBudgetTooSmall)
	}
	init := s.InitScale
	if init == 0 {
		init = float32(math.Sqrt(6 / float64(rows+s.Dim)))
	}
	return New(vocab, counts, set.TopFraction, Config{Kind: m.kind, Parts: parts, High: set.High, Low: set.Low,
		Full: embedding.Config{Method: embedding.MethodFull, Dim: s.Dim, Optimizer: s.Optimizer, InitScale: init, Seed: s.Seed, Storage: s.Storage}})
}

// Plan reads the artifact form's config and its vocabulary.
func (m method) Plan(raw json.RawMessage, index embedding.Index) (*embedding.Plan, error) {
	var s Serving
	if err := embedding.DecodeConfig(raw, &s); err != nil {
		return nil, fmt.Errorf("%s table: %w", m.kind, err)
	}
	if err := s.check(); err != nil {
		return nil, fmt.Errorf("%s table: %w: %w", m.kind, embedding.ErrCorrupt, err)
	}
	return s.plan(index)
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
