package multiplex_test

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/multiplex"
)

func TestWithDefaults(t *testing.T) {
	opt := embedding.Optimizer{Name: embedding.SGD, LR: 0.1}
	for _, c := range []struct {
		name string
		in   multiplex.Config
		want multiplex.Config // fields checked: Fields, Dim, Tables, ChunkDim, Chunks, Probes
	}{
		{"multiplex", multiplex.Config{Method: "multiplex", Fields: 2, Dim: 8, Rows: []int{10}},
			multiplex.Config{Fields: 2, Dim: 8, Tables: 1}},
		{"multiprobe", multiplex.Config{Method: "multiprobe", Fields: 2, Dim: 8, Rows: []int{10}},
			multiplex.Config{Fields: 2, Dim: 8, Tables: 1, Probes: 2}},
		{"unified even dim", multiplex.Config{Method: "unified", Fields: 2, Dim: 8, Rows: []int{10}},
			multiplex.Config{Fields: 2, Dim: 8, Tables: 1, ChunkDim: 4, Chunks: []int{2, 2}}},
		{"unified odd dim", multiplex.Config{Method: "unified", Fields: 2, Dim: 5, Rows: []int{10}},
			multiplex.Config{Fields: 2, Dim: 5, Tables: 1, ChunkDim: 5, Chunks: []int{1, 1}}},
		{"unified chunk dim", multiplex.Config{Method: "unified", Fields: 2, Dim: 12, ChunkDim: 3, Rows: []int{10, 10}},
			multiplex.Config{Fields: 2, Dim: 12, Tables: 2, ChunkDim: 3, Chunks: []int{4, 4}}},
		{"unified chunks", multiplex.Config{Method: "unified", Dim: 12, Chunks: []int{1, 3, 2}, Rows: []int{10}},
			multiplex.Config{Fields: 3, Dim: 12, Tables: 1, ChunkDim: 4, Chunks: []int{1, 3, 2}}},
		{"unified derived dim", multiplex.Config{Method: "unified", ChunkDim: 2, Chunks: []int{1, 3}, Rows: []int{10}},
			multiplex.Config{Fields: 2, Dim: 6, Tables: 1, ChunkDim: 2, Chunks: []int{1, 3}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.in.Optimizer = opt
			got, err := c.in.WithDefaults()
			if err != nil {
				t.Fatal(err)
			}
			if got.Fields != c.want.Fields || got.Dim != c.want.Dim || got.Tables != c.want.Tables ||
				got.ChunkDim != c.want.ChunkDim || !slices.Equal(got.Chunks, c.want.Chunks) || got.Probes != c.want.Probes {
				t.Fatalf("WithDefaults = %+v, want %+v", got, c.want)
			}
			if got.InitScale != embedding.DefaultInitScale {
				t.Fatalf("init scale %v", got.InitScale)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	opt := embedding.Optimizer{Name: embedding.SGD, LR: 0.1}
	for _, c := range []struct {
		name string
		cfg  multiplex.Config
		want error
	}{
		{"method", multiplex.Config{Method: "hashed", Fields: 1, Dim: 4, Rows: []int{1}}, multiplex.ErrUnknownMethod},
		{"no fields", multiplex.Config{Method: "multiplex", Dim: 4, Rows: []int{1}}, multiplex.ErrConfig},
		{"no dim", multiplex.Config{Method: "multiplex", Fields: 1, Rows: []int{1}}, multiplex.ErrConfig},
		{"no rows", multiplex.Config{Method: "multiplex", Fields: 1, Dim: 4}, multiplex.ErrConfig},
		{"zero rows", multiplex.Config{Method: "multiplex", Fields: 1, Dim: 4, Rows: []int{0}}, multiplex.ErrConfig},
		{"two tables", multiplex.Config{Method: "multiplex", Fields: 1, Dim: 4, Rows: []int{1, 1}}, multiplex.ErrConfig},
		{"chunks on multiplex", multiplex.Config{Method: "multiplex", Fields: 1, Dim: 4, Chunks: []int{1}, Rows: []int{1}}, multiplex.ErrConfig},
		{"probes on unified", multiplex.Config{Method: "unified", Fields: 1, Dim: 4, Probes: 2, Rows: []int{1}}, multiplex.ErrConfig},
		{"negative probes", multiplex.Config{Method: "multiprobe", Fields: 1, Dim: 4, Probes: -1, Rows: []int{1}}, multiplex.ErrConfig},
		{"chunks vs fields", multiplex.Config{Method: "unified", Fields: 3, Dim: 4, Chunks: []int{1, 2}, Rows: []int{1}}, multiplex.ErrConfig},
		{"zero chunks", multiplex.Config{Method: "unified", Dim: 4, Chunks: []int{1, 0}, Rows: []int{1}}, multiplex.ErrConfig},
		{"chunks exceed dim", multiplex.Config{Method: "unified", Dim: 4, ChunkDim: 4, Chunks: []int{1, 2}, Rows: []int{1}}, multiplex.ErrConfig},
		{"chunk dim not dividing", multiplex.Config{Method: "unified", Fields: 1, Dim: 6, ChunkDim: 4, Rows: []int{1}}, multiplex.ErrConfig},
		{"dim not dividing chunks", multiplex.Config{Method: "unified", Dim: 5, Chunks: []int{2}, Rows: []int{1}}, multiplex.ErrConfig},
		{"more tables than chunks", multiplex.Config{Method: "unified", Dim: 4, Chunks: []int{1}, Tables: 2, Rows: []int{1, 1}}, multiplex.ErrConfig},
		{"too many rows", multiplex.Config{Method: "unified", Fields: 2, Dim: 4, Tables: 2, Rows: []int{embedding.MaxRows, 1}}, embedding.ErrTooManyRows},
		{"init scale", multiplex.Config{Method: "multiplex", Fields: 1, Dim: 4, Rows: []int{1}, InitScale: -1}, multiplex.ErrConfig},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.cfg.Optimizer = opt
			_, err := multiplex.New(c.cfg)
			if !errors.Is(err, c.want) {
				t.Fatalf("err %v, want %v", err, c.want)
			}
			if errors.Is(c.want, multiplex.ErrConfig) && !errors.Is(err, embedding.ErrConfig) {
				t.Fatalf("err %v does not match embedding.ErrConfig", err)
			}
		})
	}
	if _, err := multiplex.New(multiplex.Config{Method: "multiplex", Fields: 1, Dim: 4, Rows: []int{1},
		Optimizer: embedding.Optimizer{Name: "nope"}}); !errors.Is(err, embedding.ErrUnknownOptimizer) {
		t.Fatalf("unknown optimizer: err %v", err)
	}
}

func TestForBudget(t *testing.T) {
	for _, c := range []struct {
		name   string
		budget int64
		fields int
		dim    int
		shape  multiplex.Config
		rows   []int
	}{
		{"multiplex", 1000*8*4 + 31, 3, 8, multiplex.Config{Method: "multiplex"}, []int{1000}},
		{"multiprobe", 1000 * 8 * 4, 3, 8, multiplex.Config{Method: "multiprobe", Probes: 3}, []int{1000}},
		// Half-width chunks buy twice the rows for the same bytes.
		{"unified default", 1000 * 8 * 4, 3, 8, multiplex.Config{Method: "unified"}, []int{2000}},
		{"unified pool", 1001 * 4 * 4, 2, 8, multiplex.Config{Method: "unified", ChunkDim: 4, Chunks: []int{2, 1}, Tables: 3}, []int{334, 334, 333}},
		{"unified padded", 100 * 2 * 4, 2, 8, multiplex.Config{Method: "unified", ChunkDim: 2, Chunks: []int{1, 3}}, []int{100}},
		{"minimum", 2 * 4 * 4, 2, 8, multiplex.Config{Method: "unified", Tables: 2}, []int{1, 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := multiplex.ForBudget(c.budget, c.fields, c.dim, c.shape)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(cfg.Rows, c.rows) || cfg.Fields != c.fields || cfg.Dim != c.dim {
				t.Fatalf("ForBudget = %+v, want rows %v", cfg, c.rows)
			}
			if cfg.ParamBytes() > c.budget {
				t.Fatalf("params %d > budget %d", cfg.ParamBytes(), c.budget)
			}
			cfg.Optimizer = embedding.Optimizer{Name: embedding.SGD, LR: 0.1}
			tbl, err := multiplex.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if tbl.Bytes().Params != cfg.ParamBytes() {
				t.Fatalf("table has %d parameter bytes, config %d", tbl.Bytes().Params, cfg.ParamBytes())
			}
		})
	}
	for _, c := range []struct {
		name   string
		budget int64
		shape  multiplex.Config
		want   error
	}{
		{"too small", 8*4 - 1, multiplex.Config{Method: "multiplex"}, embedding.ErrBudgetTooSmall},
		{"too small for pool", 3 * 4 * 4, multiplex.Config{Method: "unified", Tables: 4, Chunks: []int{2, 2}}, embedding.ErrBudgetTooSmall},
		{"negative", -1, multiplex.Config{Method: "multiplex"}, multiplex.ErrConfig},
		{"fields mismatch", 1000, multiplex.Config{Method: "multiplex", Fields: 3}, multiplex.ErrConfig},
		{"dim mismatch", 1000, multiplex.Config{Method: "multiplex", Dim: 4}, multiplex.ErrConfig},
		{"no method", 1000, multiplex.Config{}, multiplex.ErrUnknownMethod},
		{"too many rows", 1 << 40, multiplex.Config{Method: "multiplex"}, embedding.ErrTooManyRows},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := multiplex.ForBudget(c.budget, 2, 8, c.shape); !errors.Is(err, c.want) {
				t.Fatalf("err %v, want %v", err, c.want)
			}
		})
	}
}

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.json", `{"method": "unified", "chunk_dim": 4, "chunks": [2, 1, 2], "tables": 2,
		"optimizer": {"name": "rowwise_adagrad", "lr": 0.1}, "seed": 5}`)
	c, err := multiplex.LoadConfig(good)
	if err != nil {
		t.Fatal(err)
	}
	if c.Method != multiplex.MethodUnified || c.ChunkDim != 4 || !slices.Equal(c.Chunks, []int{2, 1, 2}) ||
		c.Tables != 2 || c.Seed != 5 || c.Optimizer.Name != embedding.RowwiseAdagrad {
		t.Fatalf("LoadConfig = %+v", c)
	}
	c, err = multiplex.ForBudget(1000*4*4, 3, 8, c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := multiplex.New(c); err != nil {
		t.Fatalf("New from a loaded, sized config: %v", err)
	}

	for _, f := range []struct {
		name, data string
		want       error
	}{
		{"unknown key", `{"method": "unified", "chunkz": [1]}`, multiplex.ErrConfig},
		{"bad method", `{"method": "qr"}`, multiplex.ErrUnknownMethod},
		{"wrong method setting", `{"method": "multiplex", "probes": 3}`, multiplex.ErrConfig},
		{"trailing data", `{"method": "multiplex"} {}`, multiplex.ErrConfig},
		{"not json", `method: unified`, multiplex.ErrConfig},
	} {
		t.Run(f.name, func(t *testing.T) {
			if _, err := multiplex.LoadConfig(write(f.name+".json", f.data)); !errors.Is(err, f.want) {
				t.Fatalf("err %v, want %v", err, f.want)
			}
		})
	}
	if _, err := multiplex.LoadConfig(filepath.Join(dir, "missing.json")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: err %v", err)
	}
}

func TestRegisterFlags(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ue.json")
	if err := os.WriteFile(path, []byte(`{"method": "unified", "chunks": [1, 1], "tables": 2}`), 0o644); err != nil {
		t.Fatal(err)
	}
	c := multiplex.Config{Method: multiplex.MethodMultiplex}
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	c.RegisterFlags(fs, "ue-")
	if err := fs.Parse([]string{"--ue-config", path, "--ue-chunks", "2, 1", "--ue-chunk-dim=3"}); err != nil {
		t.Fatal(err)
	}
	if c.Method != multiplex.MethodUnified || !slices.Equal(c.Chunks, []int{2, 1}) || c.ChunkDim != 3 || c.Tables != 2 {
		t.Fatalf("flags gave %+v", c)
	}
	fs = flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.RegisterFlags(fs, "")
	if err := fs.Parse([]string{"--chunks", "1,x"}); err == nil {
		t.Fatal("bad --chunks accepted")
	}
}
