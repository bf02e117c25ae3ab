package main

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/embtab/embtab/trainer"
)

// TestFieldOOV: a full-table model counts, on one request in 8, the
// values its vocabulary does not hold, per field.
func TestFieldOOV(t *testing.T) {
	f := testFixture(t)
	out := filepath.Join(t.TempDir(), "run")
	cfg := trainer.Config{Data: filepath.Join(fixtureDir, "g.parquet"), Model: "lr", Table: "full", Dim: 4, Batch: 500, Epochs: 1, Threads: 2, Out: out}
	if _, err := trainer.Train(context.Background(), cfg, trainer.Options{}); err != nil {
		t.Fatal(err)
	}
	_, hs, reg := newTestServer(t, testConfig(filepath.Join(out, "model")))
	c1 := f.schema.Categorical[0]
	const requests = 16
	for i := range requests {
		inst := f.instance(i % 8)
		inst[c1] = "never-seen-in-training"
		scores(t, hs.URL, map[string]any{"features": inst})
	}
	mf, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	vals, oov := map[string]float64{}, map[string]float64{}
	for _, fam := range mf {
		for _, m := range fam.GetMetric() {
			field := ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "field" {
					field = l.GetValue()
				}
			}
			switch fam.GetName() {
			case "embtab_field_values_sampled_total":
				vals[field] = m.GetCounter().GetValue()
			case "embtab_field_oov_sampled_total":
				oov[field] = m.GetCounter().GetValue()
			}
		}
	}
	if vals[c1] != requests/oovSample || oov[c1] != vals[c1] {
		t.Errorf("%s: %v values, %v OOV; want %d and %d", c1, vals[c1], oov[c1], requests/oovSample, requests/oovSample)
	}
	var sv, so float64
	for k := range vals {
		sv, so = sv+vals[k], so+oov[k]
	}
	if len(vals) != len(f.schema.Categorical) || so >= sv {
		t.Errorf("%d fields counted, %v of %v values OOV", len(vals), so, sv)
	}
}
