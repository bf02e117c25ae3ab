package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/embtab/embtab/datasets"
	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/hashing"
	"github.com/embtab/embtab/trainer"
)

// This file alone defines, registers, trains, exports and serves a table
// method that no package of the module knows: "toy-halfsum", whose field
// vector is the mean of two hashed rows of one shared row set (a weighted
// sum, weights 1/2, that the kernels gather and the plan combines). It
// shows the seam: a method is a config, a key plan and row stores, and
// the trainer, the artifact and the server take it by name.

const toyMethod = "toy-halfsum"

func init() { embedding.RegisterMethod(toyMethod, toyHalfSum{}) }

// toyConfig is what the manifest records of a toy table.
type toyConfig struct {
	Fields int                 `json:"fields"`
	Dim    int                 `json:"dim"`
	Rows   int                 `json:"rows"`
	Seed   uint64              `json:"seed"`
	Opt    embedding.Optimizer `json:"optimizer"`
}

type toyHalfSum struct{}

func (toyHalfSum) New(s embedding.Spec) (embedding.Trainable, error) {
	if err := s.CheckParams(toyMethod); err != nil {
		return nil, err
	}
	rows := int(s.SizingBudget() / int64(s.Dim*4))
	if rows < 2 {
		return nil, fmt.Errorf("toy table: %d rows: %w", rows, embedding.ErrBudgetTooSmall)
	}
	c := toyConfig{Fields: len(s.Fields), Dim: s.Dim, Rows: rows, Seed: s.Seed, Opt: s.Optimizer}
	set, err := embedding.NewRows(rows, s.Dim, s.Optimizer)
	if err != nil {
		return nil, err
	}
	set.InitUniform(0, rows, embedding.DefaultInitScale, s.Seed, 0)
	p, err := toyHalfSum{}.plan(c)
	if err != nil {
		return nil, err
	}
	pl, err := embedding.NewPlanned(p, []*embedding.Rows{set})
	if err != nil {
		return nil, err
	}
	return &toyTable{cfg: c, set: set, Planned: pl}, nil
}

func (toyHalfSum) Load(r io.Reader) (embedding.Trainable, error) {
	c, err := readToyConfig(r)
	if err != nil {
		return nil, err
	}
	set, err := embedding.NewRows(c.Rows, c.Dim, c.Opt)
	if err != nil {
		return nil, err
	}
	if err := set.Load(r); err != nil {
		return nil, err
	}
	p, err := toyHalfSum{}.plan(c)
	if err != nil {
		return nil, err
	}
	pl, err := embedding.NewPlanned(p, []*embedding.Rows{set})
	if err != nil {
		return nil, err
	}
	return &toyTable{cfg: c, set: set, Planned: pl}, nil
}

func (toyHalfSum) Plan(raw json.RawMessage, _ embedding.Index) (*embedding.Plan, error) {
	var c toyConfig
	if err := embedding.DecodeConfig(raw, &c); err != nil {
		return nil, err
	}
	return toyHalfSum{}.plan(c)
}

// plan: field f reads rows Bucket(Probe(id, 2f)) and Bucket(Probe(id,
// 2f+1)) and averages them.
func (toyHalfSum) plan(c toyConfig) (*embedding.Plan, error) {
	if c.Fields < 1 || c.Dim < 1 || c.Rows < 1 {
		return nil, fmt.Errorf("toy config %+v: %w", c, embedding.ErrCorrupt)
	}
	p := &embedding.Plan{Dim: c.Dim, Sets: []embedding.SetShape{{Rows: c.Rows, Width: c.Dim}}}
	n := uint64(c.Rows)
	for f := range c.Fields {
		p.Fields = append(p.Fields, embedding.FieldPlan{NumKeys: 2, Combine: embedding.SumRows, Width: c.Dim, Used: c.Dim,
			Weights: []float32{0.5, 0.5},
			Keys: func(dst []embedding.Key, id uint64) []embedding.Key {
				return append(dst,
					embedding.Key{Row: uint32(hashing.Bucket(hashing.Probe(id, 2*f), n))},
					embedding.Key{Row: uint32(hashing.Bucket(hashing.Probe(id, 2*f+1), n))})
			}})
	}
	return p, p.Validate()
}

// toyTable is the toy method's table: its config, its one row store, and
// the shared engine.
type toyTable struct {
	cfg toyConfig
	set *embedding.Rows
	*embedding.Planned
}

// Save writes the config (a JSON line) and the rows.
func (t *toyTable) Save(w io.Writer) error {
	js, err := json.Marshal(t.cfg)
	if err != nil {
		return err
	}
	if _, err := w.Write(append(js, '\n')); err != nil {
		return err
	}
	return t.set.Save(w)
}

// Load restores rows saved by a table of the same config.
func (t *toyTable) Load(r io.Reader) error {
	c, err := readToyConfig(r)
	if err != nil {
		return err
	}
	if c != t.cfg {
		return fmt.Errorf("toy table: saved %+v, table %+v: %w", c, t.cfg, embedding.ErrConfigMismatch)
	}
	return t.set.Load(r)
}

// readToyConfig reads Save's config line, one byte at a time so that the
// rows after it stay unread.
func readToyConfig(r io.Reader) (toyConfig, error) {
	var line []byte
	b := make([]byte, 1)
	for {
		if _, err := io.ReadFull(r, b); err != nil {
			return toyConfig{}, fmt.Errorf("toy table: %w", err)
		}
		if b[0] == '\n' {
			break
		}
		if line = append(line, b[0]); len(line) > 4096 {
			return toyConfig{}, fmt.Errorf("toy table: config line too long: %w", embedding.ErrCorrupt)
		}
	}
	var c toyConfig
	return c, embedding.DecodeConfig(line, &c)
}

func (t *toyTable) Describe() (embedding.Description, error) {
	js, err := json.Marshal(t.cfg)
	if err != nil {
		return embedding.Description{}, err
	}
	return embedding.Description{Method: toyMethod, Config: js, Plan: t.Plan(), Width: t.cfg.Dim, Sets: t.RowSets()}, nil
}

// TestToyMethod trains the toy method through the trainer by name, exports
// it, and checks that the server's embeddings are the training table's
// and its scores the trainer's, with no other file of the module changed.
func TestToyMethod(t *testing.T) {
	f := testFixture(t)
	if !containsString(embedding.Methods(), toyMethod) {
		t.Fatalf("methods %v lack %s", embedding.Methods(), toyMethod)
	}
	dir, run := trainMethod(t, toyMethod, defaultTrainConfig())
	tbl := trainedTable(t, run)
	if _, ok := tbl.(*toyTable); !ok {
		t.Fatalf("checkpoint table %T, want the toy table", tbl)
	}
	_, hs, _ := newTestServer(t, testConfig(dir))
	checkEmbed(t, f, hs.URL, tbl, 8, true)
	code, out := do(t, "GET", hs.URL+"/v1/model", nil)
	if code != http.StatusOK || !strings.Contains(string(out), toyMethod) {
		t.Fatalf("/v1/model: %d %s", code, out)
	}
	// Scores are the trainer's: its table and net on the same rows.
	ck, err := trainer.ReadCheckpoint(filepath.Join(run, trainer.CheckpointFile))
	if err != nil {
		t.Fatal(err)
	}
	nf, nd, d := f.schema.NumCat(), f.schema.NumDense(), tbl.Dim()
	for i := range 3 {
		emb := make([]float32, nf*d)
		ck.Table.Lookup(f.rows.IDs[i*nf:(i+1)*nf], emb)
		dense := slices.Clone(f.rows.Dense[i*nd : (i+1)*nd])
		datasets.TransformDense(dense)
		want := make([]float32, 1)
		if err := ck.Net.Predict(dense, emb, 1, want); err != nil {
			t.Fatal(err)
		}
		if _, got := scores(t, hs.URL, map[string]any{"features": f.instance(i)}); len(got) != 1 || got[0] != want[0] {
			t.Errorf("row %d: served score %v, trainer %v", i, got, want)
		}
	}
}
