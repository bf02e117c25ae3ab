package retrieval

import (
	"context"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/embtab/embtab/internal/shareddata"
	"github.com/embtab/embtab/kernels/gemm"
)

func loadML1M(t *testing.T) (*Interactions, *Split) {
	t.Helper()
	r, err := OpenSource("movielens1m", filepath.Join(shareddata.Dir(t), "movielens", "ml-1m"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	in, err := LoadInteractions(context.Background(), r, nil)
	if err != nil {
		t.Fatal(err)
	}
	return in, in.LeaveLastOut()
}

// TestMovieLens1M trains briefly on the real data and checks that the
// held-out items rank far better than at random.
func TestMovieLens1M(t *testing.T) {
	if testing.Short() {
		t.Skip("trains on MovieLens 1M")
	}
	in, sp := loadML1M(t)
	t.Logf("%d ratings, %d positives, %d users, %d items, %d train, %d test users",
		in.Ratings, len(in.Events), len(in.Users), len(in.Items), len(sp.Train), len(sp.Test))
	m, err := NewModel(Config{Table: "hashed", Epochs: 2, Threads: 2, Nested: []int{8, 16}}, in, sp)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var losses []float64
	if err := Train(context.Background(), m, sp, TrainHooks{Epoch: func(e int, loss float64) error {
		t.Logf("epoch %d loss %.4f (%v)", e, loss, time.Since(start))
		losses = append(losses, loss)
		return nil
	}}); err != nil {
		t.Fatal(err)
	}
	// Two epochs, each with a finite loss, the second lower.
	if len(losses) != 2 || math.IsNaN(losses[0]) || math.IsInf(losses[0], 0) || !(losses[1] < losses[0]) {
		t.Errorf("epoch losses %v: want two finite losses, decreasing", losses)
	}
	g := gemm.NewContext(2)
	defer g.Close()
	met, err := Evaluate(g, m, sp, TestSet, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("test %+v", met)
	random := 10 / float64(len(in.Items))
	if met.Recall10 < 5*random {
		t.Errorf("recall@10 %.4f, not better than 5x random (%.4f)", met.Recall10, random)
	}
	// recall@50 counts a superset of recall@10's hits; NDCG@10 is positive
	// when recall@10 is, and at most 1.
	if !(met.Recall50 >= met.Recall10) || !(met.NDCG10 > 0 && met.NDCG10 <= 1) {
		t.Errorf("inconsistent metrics %+v", met)
	}
}
