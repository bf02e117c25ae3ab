package trainer

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/embtab/embtab/datasets"
	"github.com/embtab/embtab/embedding"
)

// recTable is a FieldTrainable whose vector of (id, field) is id+field in
// every float, and which records ApplyFields.
type recTable struct {
	fields, dim int
	ids         []uint64
	flds        []int
	grads       []float32
}

func (r *recTable) Fields() int            { return r.fields }
func (r *recTable) Dim() int               { return r.dim }
func (r *recTable) Bytes() embedding.Bytes { return embedding.Bytes{} }
func (r *recTable) Lookup(ids []uint64, out []float32) {
	panic("recTable: Lookup: the bag step must use LookupFields")
}
func (r *recTable) Apply(ids []uint64, grads []float32) {
	panic("recTable: Apply: the bag step must use ApplyFields")
}
func (r *recTable) LookupFields(ids []uint64, fields []int, out []float32) {
	for i, id := range ids {
		for x := range r.dim {
			out[i*r.dim+x] = float32(id) + float32(fields[i])
		}
	}
}
func (r *recTable) ApplyFields(ids []uint64, fields []int, grads []float32) {
	r.ids, r.flds, r.grads = append(r.ids[:0], ids...), append(r.flds[:0], fields...), append(r.grads[:0], grads...)
}

func TestBagStepPoolsAndRoutes(t *testing.T) {
	// Two one-hot fields a, b; bag "own" (its own field 2) and bag "hist"
	// sharing field b (1).
	s := &datasets.Schema{Label: "y", Categorical: []string{"a", "b"}, Bags: []datasets.Bag{{Name: "own"}, {Name: "hist", Of: "b"}}}
	b := &datasets.Batch{Rows: 2, IDs: []uint64{10, 20, 30, 40},
		Bags: []datasets.BagColumn{
			{Offsets: []int32{0, 2, 2}, IDs: []uint64{100, 200}},   // example 0: two values; example 1: empty
			{Offsets: []int32{0, 1, 4}, IDs: []uint64{5, 6, 7, 8}}, // one; three
		}}
	for _, pooling := range []string{BagMean, BagSum} {
		tab := &recTable{fields: 3, dim: 2}
		bs, err := newBagStep(tab, s, pooling, -1, 0)
		if err != nil {
			t.Fatal(err)
		}
		emb := make([]float32, 2*4*2)
		bs.lookup(b, emb, 2)
		mean := pooling == BagMean
		pool := func(sum float32, n int) float32 {
			if mean && n > 0 {
				return sum / float32(n)
			}
			return sum
		}
		// Per example and slot: a, b, own, hist (the vector of (id, f) is id+f).
		want := []float32{
			10, 20 + 1, pool(100+2+200+2, 2), pool(5+1, 1),
			30, 40 + 1, 0, pool(6+1+7+1+8+1, 3),
		}
		for i, w := range want {
			if emb[2*i] != w || emb[2*i+1] != w {
				t.Errorf("%s: slot %d = %v, want %v", pooling, i, emb[2*i:2*i+2], w)
			}
		}
		dEmb := make([]float32, len(emb))
		for i := range dEmb {
			dEmb[i] = float32(i + 1)
		}
		bs.apply(b, dEmb)
		wantFields := []int{0, 1, 0, 1, 2, 2, 1, 1, 1, 1}
		wantIDs := []uint64{10, 20, 30, 40, 100, 200, 5, 6, 7, 8}
		w := func(n int) float32 {
			if mean {
				return 1 / float32(n)
			}
			return 1
		}
		// The gradient of each pair (first float; dEmb of slot s of
		// example i is 2*(4i+s)+1).
		g := func(i, slot int) float32 { return float32(2*(4*i+slot) + 1) }
		wantGrad := []float32{g(0, 0), g(0, 1), g(1, 0), g(1, 1), w(2) * g(0, 2), w(2) * g(0, 2), g(0, 3), w(3) * g(1, 3), w(3) * g(1, 3), w(3) * g(1, 3)}
		for i := range wantIDs {
			if tab.ids[i] != wantIDs[i] || tab.flds[i] != wantFields[i] || tab.grads[2*i] != wantGrad[i] {
				t.Errorf("%s: pair %d = (%d, field %d, grad %v), want (%d, %d, %v)", pooling, i, tab.ids[i], tab.flds[i], tab.grads[2*i], wantIDs[i], wantFields[i], wantGrad[i])
			}
		}
	}
	if _, err := newBagStep(&recTable{fields: 2, dim: 2}, s, BagMean, -1, 0); err == nil {
		t.Error("a table of 2 fields for data of 3: no error")
	}

	// "hist" as DIN's sequence of 2 slots (after "own"'s pooled slot):
	// example 0 holds [5] and a padding slot, example 1 the last two of
	// [6, 7, 8].
	tab := &recTable{fields: 3, dim: 1}
	bs, err := newBagStep(tab, s, BagSum, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if bs.slots != 5 || bs.bags[1].slot != 3 || bs.bags[0].slot != 2 {
		t.Fatalf("slots %d, bag slots %+v", bs.slots, bs.bags)
	}
	emb := make([]float32, 2*5)
	bs.lookup(b, emb, 1)
	want := []float32{10, 21, 304, 6, 0, 30, 41, 0, 8, 9}
	if !slices.Equal(emb, want) {
		t.Fatalf("sequence layout %v, want %v", emb, want)
	}
	dEmb := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	bs.apply(b, dEmb)
	if !slices.Equal(tab.ids, []uint64{10, 20, 30, 40, 100, 200, 5, 7, 8}) ||
		!slices.Equal(tab.grads, []float32{1, 2, 6, 7, 3, 3, 4, 9, 10}) {
		t.Fatalf("sequence pairs %v grads %v", tab.ids, tab.grads)
	}
}

// TestTrainBagsLearn trains on a label only a bag explains: an example is
// positive when its bag of tags holds one of the first 8 of 40; its one
// categorical field is noise.
func TestTrainBagsLearn(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bags.parquet")
	s := &datasets.Schema{Dataset: "bags", Label: "label", Categorical: []string{"item"}, Bags: []datasets.Bag{{Name: "tags"}}}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := datasets.NewParquetWriter(f, s, 0)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	rec := datasets.NewRecord(s)
	for range 6000 {
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
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
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
			if _, err := os.Stat(filepath.Join(cfg.Out, ArtifactDir)); !os.IsNotExist(err) {
				t.Fatalf("a model with bags wrote a serving artifact (%v): serving bags is not built", err)
			}
		})
	}
	_, err = Train(context.Background(), Config{Data: path, Model: "fm", Storage: "alpt", Threads: 1}, Options{})
	if err == nil {
		t.Fatal("alpt storage with bags: no error")
	}
}
