package trainer

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/embtab/embtab/artifact"
	"github.com/embtab/embtab/datasets"
)

// TestTrainBagsLearn trains on a label only a bag explains: an example is
// positive when its bag of tags holds one of the first 8 of 40; its one
// categorical field is noise.
func TestTrainBagsLearn(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bags.parquet")
	s := &datasets.Schema{Dataset: "bags", Label: "label", Categorical: []string{"item"}, Bags: []datasets.Bag{{Name: "tags"}}}
	rng := rand.New(rand.NewPCG(3, 4))
	writeParquet(t, path, s, 6000, func(_ int64, rec *datasets.Record) {
		rec.Cat[0] = strconv.Itoa(rng.IntN(50))
		rec.Bags[0] = rec.Bags[0][:0]
		rec.Label = 0
		for range rng.IntN(4) {
			tag := rng.IntN(40)
			rec.Bags[0] = append(rec.Bags[0], "t"+strconv.Itoa(tag))
			if tag < 8 {
				rec.Label = 1
			}
		}
	})
	for _, tc := range []struct {
		table, pooling string
	}{{"full", BagSum}, {"full", BagMean}, {"hashed", BagSum}, {"qr", BagSum}} {
		t.Run(tc.table+"/"+tc.pooling, func(t *testing.T) {
			cfg := Config{Data: path, Model: "fm", Table: tc.table, BagPooling: tc.pooling, Dim: 4, Batch: 128, Threads: 2,
				Epochs: 3, EmbLR: 0.1, Out: t.TempDir()}
			if tc.table != "full" {
				cfg.MemoryBudget = 2000
			}
			res, err := Train(context.Background(), cfg, Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("test AUC %.4f on %d rows", res.TestAUC, res.TestRows)
			if res.TestAUC < 0.85 {
				t.Fatalf("test AUC %.4f, want >= 0.85 (the label is in the bag)", res.TestAUC)
			}
			a, err := artifact.Open(filepath.Join(cfg.Out, ArtifactDir), artifact.OpenOptions{})
			if err != nil {
				t.Fatalf("the served model: %v", err)
			}
			defer a.Close()
			if l := a.Manifest().Slots; l == nil || l.Slots != 2 || l.Bags[0].Pooling != tc.pooling {
				t.Fatalf("manifest slots %+v", l)
			}
		})
	}
	_, err := Train(context.Background(), Config{Data: path, Model: "fm", Storage: "alpt", Threads: 1}, Options{})
	if err == nil {
		t.Fatal("alpt storage with bags: no error")
	}
}

// TestTrainDINLearns trains DIN on a label only attention explains: an
// example is positive when its candidate item is in its history.
func TestTrainDINLearns(t *testing.T) {
	path := filepath.Join(t.TempDir(), "din.parquet")
	s := &datasets.Schema{Dataset: "din", Label: "label", Categorical: []string{"user", "item"}, Bags: []datasets.Bag{{Name: "hist", Of: "item"}}}
	rng := rand.New(rand.NewPCG(5, 6))
	writeParquet(t, path, s, 8000, func(_ int64, rec *datasets.Record) {
		rec.Cat[0] = strconv.Itoa(rng.IntN(100))
		item := rng.IntN(30)
		rec.Cat[1] = strconv.Itoa(item)
		rec.Bags[0] = rec.Bags[0][:0]
		rec.Label = 0
		for range 1 + rng.IntN(5) {
			h := rng.IntN(30)
			rec.Bags[0] = append(rec.Bags[0], strconv.Itoa(h))
			if h == item {
				rec.Label = 1
			}
		}
	})
	res, err := Train(context.Background(), Config{Data: path, Model: "din", SeqLen: 5, Dim: 8, Batch: 128, Threads: 2, Epochs: 10, LR: 3e-3}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("din test AUC %.4f on %d rows", res.TestAUC, res.TestRows)
	if res.TestAUC < 0.8 {
		t.Fatalf("din test AUC %.4f, want >= 0.8 (the label is the candidate's presence in the history)", res.TestAUC)
	}
	// DIN without a sequence bag is an error naming what it needs.
	noSeq := &datasets.Schema{Dataset: "x", Label: "label", Categorical: []string{"item"}, Bags: []datasets.Bag{{Name: "tags"}}}
	if _, _, err := sequenceBag(noSeq); err == nil {
		t.Fatal("din without a sequence bag: no error")
	}
}

// writeParquet converts n records made by fill to a Parquet file at path.
func writeParquet(t *testing.T, path string, s *datasets.Schema, n int64, fill func(int64, *datasets.Record)) {
	t.Helper()
	if _, err := datasets.Convert(context.Background(), datasets.FuncReader(s, n, fill), path, datasets.ConvertOptions{}); err != nil {
		t.Fatal(err)
	}
}
