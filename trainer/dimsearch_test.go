package trainer

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/embtab/embtab/artifact"
	"github.com/embtab/embtab/dimsearch"
	"github.com/embtab/embtab/embedding"
)

// TestDimSearch runs every search method end to end on a small generated
// set: the plan fits the budget, the final table is built from it (its
// bytes are the plan's), and the model still learns.
func TestDimSearch(t *testing.T) {
	data := genData(t, 12000)
	ctx := context.Background()
	base := Config{Data: data, Model: "dlrm", Table: "full", Dim: 8, Batch: 512, Epochs: 2, Threads: 2}
	stats, err := Scan(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	budget := stats.FullServingBytes / 2
	// Mixed dimensions reach every model zero-padded: one model per case.
	cases := []struct {
		method, table, model string
	}{
		{dimsearch.MethodUniform, "full", "fm"},
		{dimsearch.MethodOptEmbed, "full", "dlrm"},
		{dimsearch.MethodDNIS, "full", "dcnv2"},
		{dimsearch.MethodOptEmbed, "unified", "deepfm"},
		{dimsearch.MethodDNIS, "full", "lr"},
		{dimsearch.MethodOptEmbed, "hashed", "dlrm"},
	}
	for _, c := range cases {
		t.Run(c.method+"/"+c.table+"/"+c.model, func(t *testing.T) {
			cfg := base
			cfg.DimSearch, cfg.Table, cfg.MemoryBudget, cfg.Out, cfg.Model = c.method, c.table, budget, t.TempDir(), c.model
			cfg.Search.Generations, cfg.Search.Population = 3, 8
			res, err := Train(ctx, cfg, Options{})
			if err != nil {
				t.Fatal(err)
			}
			p := res.DimPlan
			if p == nil || p.Method != c.method || len(p.Fields) != len(stats.Cardinalities) {
				t.Fatalf("plan %+v", p)
			}
			if p.Bytes > budget {
				t.Errorf("plan costs %d bytes, budget %d", p.Bytes, budget)
			}
			if res.ServingBytes > budget {
				t.Errorf("table serves %d bytes, budget %d", res.ServingBytes, budget)
			}
			if c.table == "full" && res.ServingBytes != p.Bytes {
				t.Errorf("full table serves %d bytes, its plan says %d", res.ServingBytes, p.Bytes)
			}
			if res.TestAUC < 0.56 {
				t.Errorf("test AUC %.4f: the searched model did not learn", res.TestAUC)
			}
			saved, err := dimsearch.ReadPlan(filepath.Join(cfg.Out, PlanFile))
			if err != nil {
				t.Fatal(err)
			}
			if saved.Bytes != p.Bytes || len(saved.Dims()) != len(p.Dims()) {
				t.Fatalf("saved plan %+v differs from the result's %+v", saved, p)
			}
			// The artifact records the per-field dimensions and the plan.
			a, err := artifact.Open(filepath.Join(cfg.Out, ArtifactDir), artifact.OpenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			js, err := a.ReadExtra(PlanExtra)
			if err != nil {
				t.Fatal(err)
			}
			var ap dimsearch.Plan
			if err := json.Unmarshal(js, &ap); err != nil || !slices.Equal(ap.Dims(), p.Dims()) {
				t.Fatalf("artifact plan %s: %v", js, err)
			}
			if c.table == "full" && !slices.Equal(a.Manifest().Table.FieldDims, p.Dims()) {
				t.Errorf("artifact field dims %v, plan %v", a.Manifest().Table.FieldDims, p.Dims())
			}
			a.Close()
			t.Logf("dims %v kept %v bytes %d/%d val AUC %.4f test AUC %.4f", p.Dims(), keptRows(p), p.Bytes, budget, p.ValAUC, res.TestAUC)

			// Training again from the saved plan gives the same model.
			again := base
			again.DimPlan, again.Table, again.MemoryBudget, again.Model = filepath.Join(cfg.Out, PlanFile), c.table, budget, c.model
			res2, err := Train(ctx, again, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if res2.TestAUC != res.TestAUC || res2.EmbeddingBytes != res.EmbeddingBytes {
				t.Errorf("--dim-plan run: AUC %v bytes %d, search run %v %d", res2.TestAUC, res2.EmbeddingBytes, res.TestAUC, res.EmbeddingBytes)
			}
		})
	}
}

func keptRows(p *dimsearch.Plan) []int64 {
	k := make([]int64, len(p.Fields))
	for f, fp := range p.Fields {
		k[f] = fp.KeptRows
	}
	return k
}

func TestDimSearchErrors(t *testing.T) {
	data := genData(t, 3000)
	ctx := context.Background()
	cases := []struct {
		name string
		cfg  Config
		is   error
	}{
		{"no budget", Config{DimSearch: "optembed", Table: "full"}, nil},
		{"qr table", Config{DimSearch: "dnis", Table: "qr", MemoryBudget: 1 << 20}, nil},
		{"unknown method", Config{DimSearch: "nas", Table: "full", MemoryBudget: 1 << 20}, nil},
		{"plan and search", Config{DimSearch: "dnis", DimPlan: "p.json", Table: "full", MemoryBudget: 1 << 20}, nil},
		{"budget below dim 1", Config{DimSearch: "uniform", Table: "full", MemoryBudget: 64}, embedding.ErrBudgetTooSmall},
		{"optembed budget below dim 1", Config{DimSearch: "optembed", Table: "full", MemoryBudget: 64}, embedding.ErrBudgetTooSmall},
		{"missing plan", Config{DimPlan: "/nonexistent/plan.json", Table: "full"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := c.cfg
			cfg.Data, cfg.Model, cfg.Dim, cfg.Batch, cfg.Threads = data, "lr", 4, 256, 1
			_, err := Train(ctx, cfg, Options{})
			if err == nil {
				t.Fatal("no error")
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Fatalf("%v, want %v", err, c.is)
			}
			t.Log(err)
		})
	}
}

// TestDimSearchResume checks that a resumed run reuses its finished
// search, and searches again when the plan on disk is another search's.
func TestDimSearchResume(t *testing.T) {
	data := genData(t, 4000)
	ctx := context.Background()
	out := t.TempDir()
	cfg := Config{Data: data, Model: "lr", Table: "full", Dim: 4, Batch: 256, Threads: 1, Out: out,
		DimSearch: dimsearch.MethodOptEmbed, MemoryBudget: 120 << 10}
	cfg.Search.Generations, cfg.Search.Population = 2, 4
	if _, err := Train(ctx, cfg, Options{StopAfterSteps: 2}); !errors.Is(err, ErrStopped) {
		t.Fatalf("stopped run: %v", err)
	}
	first, err := dimsearch.ReadPlan(filepath.Join(out, PlanFile))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Train(ctx, cfg, Options{Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.SearchSeconds != 0 || !slices.Equal(res.DimPlan.Dims(), first.Dims()) {
		t.Errorf("resume searched again (%.2fs) or changed the plan: %v vs %v", res.SearchSeconds, res.DimPlan.Dims(), first.Dims())
	}
	// The same directory, another method: the old plan must not be used
	// (the run searches again, then its checkpoint does not match).
	other := cfg
	other.DimSearch = dimsearch.MethodUniform
	res, err = Train(ctx, other, Options{Resume: true})
	if err == nil && res.DimPlan.Method != dimsearch.MethodUniform {
		t.Fatalf("resume with --dim-search uniform trained the %s plan", res.DimPlan.Method)
	}
	if err != nil && !errors.Is(err, ErrCheckpointMismatch) {
		t.Fatal(err)
	}
}
