package main

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/embtab/embtab/artifact"
	"github.com/embtab/embtab/datasets"
	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/hashing"
	"github.com/embtab/embtab/trainer"
)

// bagRows writes a small data set with a multi-hot bag of its own
// ("genres") and a history bag sharing the item field, and returns its
// path and records.
func bagRows(t *testing.T) (string, []*datasets.Record) {
	t.Helper()
	s := &datasets.Schema{Dataset: "bags", Label: "label", Dense: []string{"age"}, Categorical: []string{"user", "item"},
		Bags: []datasets.Bag{{Name: "genres"}, {Name: "hist", Of: "item"}}}
	path := filepath.Join(t.TempDir(), "bags.parquet")
	rng := rand.New(rand.NewPCG(8, 9))
	var recs []*datasets.Record
	fill := func(_ int64, rec *datasets.Record) {
		rec.Dense[0], rec.DenseValid[0] = int64(rng.IntN(60)), true
		item := rng.IntN(40)
		rec.Cat[0], rec.Cat[1] = "u"+strconv.Itoa(rng.IntN(50)), strconv.Itoa(item)
		rec.Bags[0], rec.Bags[1], rec.Label = nil, nil, 0
		for range rng.IntN(3) {
			rec.Bags[0] = append(rec.Bags[0], "g"+strconv.Itoa(rng.IntN(8)))
		}
		for range rng.IntN(6) {
			h := rng.IntN(40)
			rec.Bags[1] = append(rec.Bags[1], strconv.Itoa(h))
			if h == item {
				rec.Label = 1
			}
		}
		c := datasets.NewRecord(s)
		c.CopyFrom(rec)
		recs = append(recs, c)
	}
	if _, err := datasets.Convert(context.Background(), datasets.FuncReader(s, 2000, fill), path, datasets.ConvertOptions{}); err != nil {
		t.Fatal(err)
	}
	return path, recs
}

// bagInstance is record rec as request features.
func bagInstance(rec *datasets.Record) map[string]any {
	inst := map[string]any{"age": rec.Dense[0], "user": rec.Cat[0], "item": rec.Cat[1]}
	for k, name := range []string{"genres", "hist"} {
		vs := rec.Bags[k]
		if vs == nil {
			vs = []string{}
		}
		inst[name] = vs
	}
	return inst
}

// trainedScore is the trainer's prediction for rec: the checkpoint's table
// through the artifact's slot layout, then its net.
func trainedScore(t *testing.T, ck *trainer.Checkpoint, a *artifact.Artifact, rec *datasets.Record) float32 {
	t.Helper()
	man := a.Manifest()
	s := &man.Schema
	h := hashing.New(uint64(man.Hash.Seed), len(man.Fields))
	ids := []uint64{h.HashString(0, rec.Cat[0]), h.HashString(1, rec.Cat[1])}
	cols := make([]datasets.BagColumn, len(s.Bags))
	for k := range s.Bags {
		cols[k].Offsets = []int32{0}
		for _, v := range rec.Bags[k] {
			cols[k].IDs = append(cols[k].IDs, h.HashString(s.BagField(k), v))
		}
		cols[k].Offsets = append(cols[k].Offsets, int32(len(cols[k].IDs)))
	}
	d := ck.Table.Dim()
	p := man.Slots.NewPass()
	if err := p.Pairs(1, ids, cols, d); err != nil {
		t.Fatal(err)
	}
	ck.Table.(embedding.FieldTrainable).LookupFields(p.IDs, p.Fields, p.Vals)
	emb := make([]float32, man.Slots.Slots*d)
	p.Pool(emb, d)
	dense := []float32{float32(rec.Dense[0])}
	datasets.TransformDense(dense)
	out := make([]float32, 1)
	if err := ck.Net.Predict(dense, emb, 1, out); err != nil {
		t.Fatal(err)
	}
	return out[0]
}

// TestServeBags: models with bags (pooled by mean; DIN's sequence) serve
// the trainer's scores bit for bit, from bag values given per instance or
// in the context; /v1/embed returns a pooled bag's vector and refuses a
// sequence; a bag over --max-bag-values is a 413.
func TestServeBags(t *testing.T) {
	data, recs := bagRows(t)
	for _, model := range []string{"deepfm", "din"} {
		t.Run(model, func(t *testing.T) {
			out := t.TempDir()
			cfg := trainer.Config{Data: data, Model: model, Table: "full", Dim: 4, Batch: 200, Epochs: 1, Threads: 2, SeqLen: 4, Out: out}
			if _, err := trainer.Train(context.Background(), cfg, trainer.Options{}); err != nil {
				t.Fatal(err)
			}
			ck, err := trainer.ReadCheckpoint(filepath.Join(out, trainer.CheckpointFile))
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(out, trainer.ArtifactDir)
			a, err := artifact.Open(dir, artifact.OpenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			c := testConfig(dir)
			c.MaxBagValues = 8
			c.ModelName = "bags"
			_, hs, _ := newTestServer(t, c)
			for i := range 6 {
				_, got := scores(t, hs.URL, map[string]any{"features": bagInstance(recs[i])})
				if want := trainedScore(t, ck, a, recs[i]); len(got) != 1 || got[0] != want {
					t.Errorf("row %d: served %v, trainer %v", i, got, want)
				}
			}
			// The history and user in the context, two candidate items.
			inst := bagInstance(recs[0])
			ctx := map[string]any{"user": inst["user"], "hist": inst["hist"], "age": inst["age"]}
			cands := []map[string]any{{"item": "3", "genres": []string{"g1"}}, {"item": recs[0].Cat[1], "genres": recs[0].Bags[0]}}
			_, got := scores(t, hs.URL, map[string]any{"context": ctx, "instances": cands})
			if len(got) != 2 || got[1] != trainedScore(t, ck, a, recs[0]) {
				t.Errorf("context request: %v, want the second %v", got, trainedScore(t, ck, a, recs[0]))
			}
			// The Open Inference Protocol: a bag is a BYTES tensor [N, L], "" padding.
			r0, r1 := recs[0], recs[1]
			pad := func(vs []string, l int) []string { return append(slices.Clone(vs), make([]string, l-len(vs))...) }
			lg, lh := max(len(r0.Bags[0]), len(r1.Bags[0]), 1), max(len(r0.Bags[1]), len(r1.Bags[1]), 1)
			infer := map[string]any{"inputs": []map[string]any{
				{"name": "user", "datatype": "BYTES", "shape": []int{2}, "data": []string{r0.Cat[0], r1.Cat[0]}},
				{"name": "item", "datatype": "BYTES", "shape": []int{2}, "data": []string{r0.Cat[1], r1.Cat[1]}},
				{"name": "age", "datatype": "FP32", "shape": []int{2}, "data": []float64{float64(r0.Dense[0]), float64(r1.Dense[0])}},
				{"name": "genres", "datatype": "BYTES", "shape": []int{2, lg}, "data": slices.Concat(pad(r0.Bags[0], lg), pad(r1.Bags[0], lg))},
				{"name": "hist", "datatype": "BYTES", "shape": []int{2, lh}, "data": slices.Concat(pad(r0.Bags[1], lh), pad(r1.Bags[1], lh))},
			}, "outputs": []map[string]any{{"name": "score"}}}
			code, body := do(t, "POST", hs.URL+"/v2/models/bags/infer", infer)
			if code != http.StatusOK {
				t.Fatalf("infer: %d %s", code, body)
			}
			var ir struct {
				Outputs []struct {
					Data []float32 `json:"data"`
				} `json:"outputs"`
			}
			if err := json.Unmarshal(body, &ir); err != nil {
				t.Fatal(err)
			}
			if len(ir.Outputs) != 1 || len(ir.Outputs[0].Data) != 2 || ir.Outputs[0].Data[1] != trainedScore(t, ck, a, r1) {
				t.Errorf("infer scores %s, want the second %v", body, trainedScore(t, ck, a, r1))
			}
			long := bagInstance(recs[0])
			long["hist"] = []string{"1", "2", "3", "4", "5", "6", "7", "8", "9"}
			if code, body := do(t, "POST", hs.URL+"/v1/score", map[string]any{"features": long}); code != http.StatusRequestEntityTooLarge {
				t.Errorf("a bag of 9 values over a limit of 8: %d %s", code, body)
			}
			code, body = do(t, "POST", hs.URL+"/v1/embed", map[string]any{"features": bagInstance(recs[1]), "fields": []string{"genres", "item"}})
			if code != http.StatusOK {
				t.Fatalf("embed: %d %s", code, body)
			}
			var er embedResponse
			if err := json.Unmarshal(body, &er); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(er.Fields, []string{"genres", "item"}) || len(er.Embeddings) != 1 || len(er.Embeddings[0]["genres"]) != 4 {
				t.Fatalf("embed response %s", body)
			}
			code, body = do(t, "POST", hs.URL+"/v1/embed", map[string]any{"features": bagInstance(recs[1]), "fields": []string{"hist"}})
			if want := map[string]int{"deepfm": http.StatusOK, "din": http.StatusBadRequest}[model]; code != want {
				t.Errorf("embed of the history bag: %d %s, want %d", code, body, want)
			}
		})
	}
}
