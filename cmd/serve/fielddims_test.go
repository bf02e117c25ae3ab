package main

import (
	"encoding/json"
	"math"
	"net/http"
	"path/filepath"
	"slices"
	"testing"

	"github.com/embtab/embtab/artifact"
	"github.com/embtab/embtab/datasets"
	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/lookup/storetest"
	"github.com/embtab/embtab/trainer"
)

// fieldDimsTables returns, for the fixture's schema and dim, a hashed and
// a full table whose fields have per-field dims 1..dim (cycling), trained
// a few steps with random gradients. The full table's vocabulary is the
// ids of the fixture's first 8 rows, so the later rows hit OOV rows too.
func fieldDimsTables(t *testing.T, f *fixture) map[string]embedding.Trainable {
	t.Helper()
	nf, d := f.schema.NumCat(), f.ck.Table.Dim()
	dims := make([]int, nf)
	for k := range dims {
		dims[k] = 1 + k%d
	}
	rows := make([]int, nf)
	vocab := make([][]uint64, nf)
	for k := range nf {
		rows[k] = 50 + 7*k
		for i := range 8 {
			if id := f.rows.IDs[i*nf+k]; !slices.Contains(vocab[k], id) {
				vocab[k] = append(vocab[k], id)
			}
		}
	}
	opt := embedding.Optimizer{Name: embedding.RowwiseAdagrad, LR: 0.1}
	hashed, err := embedding.NewHashed(embedding.Config{Dim: d, Rows: rows, Optimizer: opt, Seed: 5, FieldDims: dims})
	if err != nil {
		t.Fatal(err)
	}
	full, err := embedding.NewFull(vocab, embedding.Config{Dim: d, Optimizer: opt, Seed: 6, FieldDims: dims})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]embedding.Trainable{"hashed": hashed, "full": full}
	for _, tbl := range out {
		storetest.Train(tbl, 3, 4)
		// And the fixture's own ids, so that their rows move too.
		ids := f.rows.IDs[:16*nf]
		g := make([]float32, len(ids)*d)
		for i := range g {
			g[i] = float32(i%5) - 2
		}
		tbl.Apply(ids, g)
	}
	return out
}

// TestServeFieldDims serves artifacts of tables with per-field dims: the
// embeddings equal the table's Lookup (zero-padded fields included) and
// the scores its net's prediction on them, for the fp32 artifact, and an
// int8 re-quantization serves close scores.
func TestServeFieldDims(t *testing.T) {
	f := testFixture(t)
	nf, nd, d := f.schema.NumCat(), f.schema.NumDense(), f.ck.Table.Dim()
	for name, tbl := range fieldDimsTables(t, f) {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "model")
			if err := trainer.ExportArtifact(dir, tbl, f.ck.Net, f.schema, f.ck.Config); err != nil {
				t.Fatal(err)
			}
			a, err := artifact.Open(dir, artifact.OpenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(a.RowSets()) != nf || a.RowSets()[0].Dim() != 1 {
				t.Fatalf("artifact has %d row sets, set 0 of dim %d; want one per field", len(a.RowSets()), a.RowSets()[0].Dim())
			}
			int8Dir := filepath.Join(t.TempDir(), "model-int8")
			if _, err := artifact.Requantize(a, int8Dir, "int8", artifact.WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			a.Close()

			const n = 16
			want := make([]float32, n*nf*d)
			tbl.Lookup(f.rows.IDs[:n*nf], want)
			dense := slices.Clone(f.rows.Dense[:n*nd])
			datasets.TransformDense(dense)
			_, hs, _ := newTestServer(t, testConfig(dir))

			// /v1/embed: every field's vector, padding included.
			var inst []any
			for i := range n {
				inst = append(inst, f.instance(i))
			}
			code, out := do(t, "POST", hs.URL+"/v1/embed", map[string]any{"instances": inst[:4]})
			if code != http.StatusOK {
				t.Fatalf("embed: %d %s", code, out)
			}
			var r embedResponse
			if err := json.Unmarshal(out, &r); err != nil {
				t.Fatal(err)
			}
			if r.Dim != d || len(r.Embeddings) != 4 {
				t.Fatalf("embed response %s", out)
			}
			for i := range 4 {
				for k, field := range f.schema.Categorical {
					v := want[(i*nf+k)*d : (i*nf+k+1)*d]
					if !slices.Equal(r.Embeddings[i][field], v) {
						t.Fatalf("instance %d field %s (dim %d): %v, want %v", i, field, 1+k%d, r.Embeddings[i][field], v)
					}
				}
			}

			// /v1/score: one row at a time is bit-identical to the net.
			for i := range n {
				_, got := scores(t, hs.URL, map[string]any{"features": f.instance(i)})
				p := make([]float32, 1)
				if err := f.ck.Net.Predict(dense[i*nd:(i+1)*nd], want[i*nf*d:(i+1)*nf*d], 1, p); err != nil {
					t.Fatal(err)
				}
				if len(got) != 1 || got[0] != p[0] {
					t.Errorf("row %d: served %v, net %v", i, got, p)
				}
			}

			// The int8 artifact serves scores close to the fp32 ones.
			_, hq, _ := newTestServer(t, testConfig(int8Dir))
			_, q := scores(t, hq.URL, map[string]any{"instances": inst})
			_, fp := scores(t, hs.URL, map[string]any{"instances": inst})
			for i := range fp {
				if math.Abs(float64(q[i]-fp[i])) > 0.02 {
					t.Errorf("row %d: int8 score %v, fp32 %v", i, q[i], fp[i])
				}
			}
		})
	}
}
