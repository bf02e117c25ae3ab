package retrieval

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/embtab/embtab/ann"
	"github.com/embtab/embtab/kernels/gemm"
)

// synthRetriever builds a Retriever over n random unit item vectors of
// dim 8 with item fields movie_id, genres ("G<i%5>|G<(i+1)%5>" for even
// items, "G<i%5>" for odd ones) and bucket (i%10), and an in-memory
// index.
func synthRetriever(t testing.TB, n int) *Retriever {
	t.Helper()
	const dim = 8
	rng := rand.New(rand.NewPCG(3, 4))
	items := make([]float32, n*dim)
	for i := range n {
		v := items[i*dim : (i+1)*dim]
		var s float64
		for j := range v {
			v[j] = float32(rng.NormFloat64())
			s += float64(v[j]) * float64(v[j])
		}
		for j := range v {
			v[j] /= float32(math.Sqrt(s))
		}
	}
	cat := &Catalog{ItemFields: []string{"movie_id", "genres", "bucket"}, Users: []string{"u1"}}
	for i := range n {
		g := fmt.Sprintf("G%d", i%5)
		if i%2 == 0 {
			g += fmt.Sprintf("|G%d", (i+1)%5)
		}
		cat.Items = append(cat.Items, Entity{Key: fmt.Sprint(i + 1), Values: []string{fmt.Sprint(i + 1), g, fmt.Sprint(i % 10)}})
	}
	tw := &Towers{cfg: TowersConfig{Name: ModelName, Fields: []string{"user_id", "movie_id", "genres", "bucket"},
		UserFields: []int{0}, ItemFields: []int{1, 2, 3}, Dim: 4, Hidden: 4, Out: dim, Nested: []int{dim}}}
	r, err := newRetriever(tw, cat, items, items[:dim])
	if err != nil {
		t.Fatal(err)
	}
	if r.Index, err = BuildIndex(items, dim, 0, 1); err != nil {
		t.Fatal(err)
	}
	return r
}

func randomQuery(seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 9))
	q := make([]float32, 8)
	for j := range q {
		q[j] = float32(rng.NormFloat64())
	}
	return q
}

// TestFilterDuplicateValues: a filter listing one value many times costs
// what listing it once does and gives the same items.
func TestFilterDuplicateValues(t *testing.T) {
	r := synthRetriever(t, 2000)
	ctx := context.Background()
	dups := make([]string, 200000)
	for i := range dups {
		dups[i] = "G1"
	}
	start := time.Now()
	ok, count, err := r.passing(ctx, map[string][]string{"genres": dups, "bucket": dups[:1000]}, nil)
	if err != nil || count != 0 || len(ok) != 2000 {
		t.Fatalf("passing: %d, %v", count, err)
	}
	for i := range dups {
		dups[i] = "G" + fmt.Sprint(i%3)
	}
	ok, count, err = r.passing(ctx, map[string][]string{"genres": dups}, nil)
	if err != nil {
		t.Fatal(err)
	}
	okOnce, countOnce, _ := r.passing(ctx, map[string][]string{"genres": {"G0", "G1", "G2"}}, nil)
	if count != countOnce || !slices.Equal(ok, okOnce) {
		t.Errorf("200000 values: %d pass, the 3 distinct values: %d", count, countOnce)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("filters of 200000 values took %v", d)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := r.Retrieve(cancelled, randomQuery(1), 5, Options{Filter: map[string][]string{"bucket": {"1"}}}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled retrieve: %v", err)
	}
}

// TestMultiValuedFilter: genres matches any one of an item's genres (or
// its whole value); other fields match the whole value only.
func TestMultiValuedFilter(t *testing.T) {
	r := synthRetriever(t, 100)
	ctx := context.Background()
	tests := []struct {
		filter map[string][]string
		want   func(i int) bool
	}{
		{map[string][]string{"genres": {"G2"}}, func(i int) bool { return i%5 == 2 || i%2 == 0 && (i+1)%5 == 2 }},
		{map[string][]string{"genres": {"G0|G1"}}, func(i int) bool { return i%10 == 0 }},
		{map[string][]string{"genres": {"G3", "G4"}, "bucket": {"3", "8"}}, func(i int) bool { return i%10 == 3 || i%10 == 8 }},
		{map[string][]string{"bucket": {"3|8"}}, func(int) bool { return false }},
	}
	for _, tc := range tests {
		ok, count, err := r.passing(ctx, tc.filter, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := 0
		for i := range 100 {
			if ok[i] != tc.want(i) {
				t.Errorf("filter %v: item %d (%q) passes %v", tc.filter, i, r.Catalog.Items[i].Values, ok[i])
			}
			if tc.want(i) {
				want++
			}
		}
		if count != want {
			t.Errorf("filter %v: %d pass, want %d", tc.filter, count, want)
		}
	}
}

// TestFilteredIndexSearch: with more than 4096 items and a filter passing
// more than a tenth of them, Retrieve searches the index (bounded
// candidates) and gives what exact filtered search gives.
func TestFilteredIndexSearch(t *testing.T) {
	const n = 6000
	r := synthRetriever(t, n)
	ctx := context.Background()
	tests := []Options{
		// 4200 pass: above the exact-scan limit and a tenth of the items.
		{Ef: 400, Filter: map[string][]string{"bucket": {"0", "1", "2", "3", "4", "5", "6"}}},
		{Ef: 400, Filter: map[string][]string{"bucket": {"0", "1", "2", "3", "4", "5", "6", "7"}}, Exclude: []int32{5, 17, 33, 900, -1, n + 3}},
		{Ef: 400, Exclude: []int32{1, 2, 3, 4, 5, 6, 7, 8}},
		// A few hundred pass: exact scoring.
		{Filter: map[string][]string{"bucket": {"4"}, "genres": {"G4"}}},
	}
	for ti, o := range tests {
		if ok, count, _ := r.passing(ctx, o.Filter, o.Exclude); ti < 3 && count <= exactScanLimit {
			t.Fatalf("case %d: %d pass (of %v), want the index path", ti, count, len(ok))
		}
		for s := range uint64(20) {
			q := randomQuery(s)
			for _, k := range []int{1, 10, 50} {
				got, err := r.Retrieve(ctx, q, k, o)
				if err != nil {
					t.Fatal(err)
				}
				want, err := r.ExactAll(q, k, o)
				if err != nil {
					t.Fatal(err)
				}
				if !sameItems(got, want) {
					t.Errorf("case %d query %d k %d: retrieve %v, exact %v", ti, s, k, got, want)
				}
			}
		}
	}
	// k beyond the candidate bound: exact scoring of the passing set.
	o := tests[0]
	got, err := r.Retrieve(ctx, randomQuery(1), n, o)
	want, _ := r.ExactAll(randomQuery(1), n, o)
	if err != nil || len(got) != 4200 || !sameItems(got, want) {
		t.Errorf("k = n: %d hits, %v", len(got), err)
	}
}

// TestBadInput: inputs that used to panic give errors or empty results.
func TestBadInput(t *testing.T) {
	r := synthRetriever(t, 50)
	ctx := context.Background()
	q := randomQuery(1)
	for _, k := range []int{-5, 0} {
		if h, err := r.ExactAll(q, k, Options{}); err != nil || len(h) != 0 {
			t.Errorf("ExactAll k %d: %v, %v", k, h, err)
		}
		if h, err := r.Retrieve(ctx, q, k, Options{Filter: map[string][]string{"bucket": {"1"}}}); err != nil || len(h) != 0 {
			t.Errorf("Retrieve k %d: %v, %v", k, h, err)
		}
	}
	if _, err := r.ExactAll(q[:3], 3, Options{}); err == nil {
		t.Error("ExactAll with a short query: no error")
	}
	if got := topK([]float32{1, 2}, make([]int32, 2), 0); len(got) != 0 {
		t.Errorf("topK k 0: %v", got)
	}
	g := gemm.NewContext(1)
	defer g.Close()
	if out, err := ExactTopK(g, make([]float32, 16), nil, 8, 10); err != nil || len(out) != 2 || len(out[0]) != 0 {
		t.Errorf("ExactTopK over no items: %v, %v", out, err)
	}
	if _, err := ExactTopK(g, q, q, 0, 1); err == nil {
		t.Error("ExactTopK dim 0: no error")
	}
	// k above the item count: recall over the items there are.
	items := make([]float32, 5*8)
	for i := range items {
		items[i] = float32(i%7) - 3
	}
	res, err := EvaluateANN(g, q, items, 8, 10, []int{10}, nil, nil, 1)
	if err != nil || len(res) != 1 || res[0].Recall != 1 {
		t.Errorf("EvaluateANN with k > items: %+v, %v", res, err)
	}
	if _, err := EvaluateANN(g, q, items, 8, 0, []int{10}, nil, nil, 1); err == nil {
		t.Error("EvaluateANN k 0: no error")
	}
}

// TestTowersConfigValidate checks the rejections of TowersConfig.
func TestTowersConfigValidate(t *testing.T) {
	ok := TowersConfig{Name: ModelName, Fields: []string{"a", "b", "c"}, UserFields: []int{0, 1}, ItemFields: []int{2},
		Dim: 2, Hidden: 2, Out: 4, Nested: []int{2, 4}}
	if err := ok.validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		edit func(c *TowersConfig)
	}{
		{"duplicate user field", func(c *TowersConfig) { c.UserFields = []int{0, 1, 0} }},
		{"duplicate item field", func(c *TowersConfig) { c.ItemFields = []int{2, 2} }},
		{"field out of range", func(c *TowersConfig) { c.ItemFields = []int{3} }},
		{"nested not ending at out", func(c *TowersConfig) { c.Nested = []int{2} }},
		{"name", func(c *TowersConfig) { c.Name = "dlrm" }},
	}
	for _, tc := range tests {
		c := ok
		c.UserFields, c.ItemFields, c.Nested = slices.Clone(ok.UserFields), slices.Clone(ok.ItemFields), slices.Clone(ok.Nested)
		tc.edit(&c)
		if err := c.validate(); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}

// TestNewRetrieverRejects checks what opening a retriever verifies.
func TestNewRetrieverRejects(t *testing.T) {
	base := synthRetriever(t, 20)
	tw, cat := base.Towers, base.Catalog
	inf := float32(math.Inf(1))
	tests := []struct {
		name  string
		edit  func(c *Catalog, items, users []float32) (*Catalog, []float32, []float32)
		wants string
	}{
		{"item field names", func(c *Catalog, it, us []float32) (*Catalog, []float32, []float32) {
			c.ItemFields = []string{"movie_id", "bucket", "genres"}
			return c, it, us
		}, "item field 1"},
		{"item field count", func(c *Catalog, it, us []float32) (*Catalog, []float32, []float32) {
			c.ItemFields = c.ItemFields[:2]
			return c, it, us
		}, "item fields"},
		{"NaN item vector", func(c *Catalog, it, us []float32) (*Catalog, []float32, []float32) {
			it[8*7+3] = float32(math.NaN())
			return c, it, us
		}, "item vector 7"},
		{"Inf user vector", func(c *Catalog, it, us []float32) (*Catalog, []float32, []float32) {
			us[2] = inf
			return c, it, us
		}, "user vector 0"},
		{"vector count", func(c *Catalog, it, us []float32) (*Catalog, []float32, []float32) {
			return c, it[:8*19], us
		}, "item and"},
		{"seen out of range", func(c *Catalog, it, us []float32) (*Catalog, []float32, []float32) {
			c.Seen = [][]int32{{3, 20}}
			return c, it, us
		}, "saw item 20"},
		{"seen count", func(c *Catalog, it, us []float32) (*Catalog, []float32, []float32) {
			c.Seen = [][]int32{{1}, {2}}
			return c, it, us
		}, "seen lists"},
		{"duplicate item key", func(c *Catalog, it, us []float32) (*Catalog, []float32, []float32) {
			c.Items[4].Key = c.Items[3].Key
			return c, it, us
		}, "appears twice"},
	}
	for _, tc := range tests {
		c := *cat
		c.Items = slices.Clone(cat.Items)
		c2, it, us := tc.edit(&c, slices.Clone(base.items), slices.Clone(base.users))
		if _, err := newRetriever(tw, c2, it, us); err == nil || !strings.Contains(err.Error(), tc.wants) {
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.wants)
		}
	}
}

// TestCheckIndexIDs: an index whose ids are not all catalog positions is
// rejected when the retriever opens it.
func TestCheckIndexIDs(t *testing.T) {
	r := synthRetriever(t, 30)
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		last uint64
		ok   bool
	}{{"good", 29, true}, {"id out of range", 1 << 40, false}} {
		ix, err := ann.New(ann.Config{Dim: 8, Metric: ann.InnerProduct})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 30 {
			id := uint64(i)
			if i == 29 {
				id = tc.last
			}
			if err := ix.Add(id, r.ItemVector(i)); err != nil {
				t.Fatal(err)
			}
		}
		path := filepath.Join(dir, tc.name+".ann")
		if err := ix.SaveFile(path); err != nil {
			t.Fatal(err)
		}
		mm, err := ann.OpenMmap(path)
		if err != nil {
			t.Fatal(err)
		}
		r.Index = mm
		err = r.checkIndex(path)
		mm.Close()
		if (err == nil) != tc.ok {
			t.Errorf("%s: checkIndex = %v", tc.name, err)
		}
	}
}

// TestRankMetricsTiesAndAbsent: ties count against the held-out item, and
// absent users are left out of the metrics rather than scored as zero
// vectors.
func TestRankMetricsTiesAndAbsent(t *testing.T) {
	const dim = 2
	// Items 0..29; items 0..19 share one vector, the rest score lower.
	iv := make([]float32, 30*dim)
	for i := range 30 {
		iv[i*dim] = 1
		if i >= 20 {
			iv[i*dim] = 0.5
		}
	}
	sp := &Split{Seen: [][]int32{{}, {}, {}}}
	// User 0's target (item 5) ties with 19 others; user 1's target (item
	// 25) ties with 9 others below them; user 2 is absent.
	sp.Test = []Event{{User: 0, Item: 5}, {User: 1, Item: 25}, {User: 2, Item: 0}}
	sp.Valid = []Event{{User: 0, Item: 29}, {User: 1, Item: 29}, {User: 2, Item: 29}}
	uv := []float32{1, 0, 1, 0, 0, 0}
	g := gemm.NewContext(1)
	defer g.Close()
	met, err := RankMetrics(g, uv, iv, dim, 0, sp, TestSet, &Absent{Users: []bool{false, false, true}})
	if err != nil {
		t.Fatal(err)
	}
	// User 0: rank 19 (a miss at 10, a hit at 50); user 1: rank 20 + 8.
	if met.Users != 2 || met.Skipped != 1 || met.Recall10 != 0 || met.Recall50 != 1 || met.NDCG10 != 0 {
		t.Errorf("metrics %+v, want 2 users, 1 skipped, recall@10 0, recall@50 1", met)
	}
	// An all-zero user vector (what a missing user used to get) ties every
	// item: no credit.
	met, err = RankMetrics(g, []float32{0, 0, 0, 0, 0, 0}, iv, dim, 0, sp, TestSet, nil)
	if err != nil {
		t.Fatal(err)
	}
	if met.Users != 3 || met.Recall10 != 0 || met.Recall50 != 1 {
		t.Errorf("zero vectors: %+v, want no recall@10 (28 ties ahead of each target)", met)
	}
}

// TestFirstPositives: a repeated (user, item) positive counts once, so
// the held-out item cannot also be a training item.
func TestFirstPositives(t *testing.T) {
	ev := func(u, i int32, ts int64) Event { return Event{User: u, Item: i, Time: ts} }
	in := &Interactions{Users: make([]Entity, 2), Events: firstPositives([]Event{
		ev(0, 7, 1), ev(0, 3, 2), ev(0, 7, 3), ev(0, 4, 4), ev(0, 7, 5), ev(1, 7, 1), ev(1, 7, 2), ev(1, 2, 3), ev(1, 9, 4),
	})}
	want := []Event{ev(0, 7, 1), ev(0, 3, 2), ev(0, 4, 4), ev(1, 7, 1), ev(1, 2, 3), ev(1, 9, 4)}
	if !slices.Equal(in.Events, want) {
		t.Fatalf("events %v, want %v", in.Events, want)
	}
	sp := in.LeaveLastOut()
	for i, e := range sp.Test {
		for _, held := range []int32{e.Item, sp.Valid[i].Item} {
			if _, found := slices.BinarySearch(sp.Seen[e.User], held); found {
				t.Errorf("user %d: held-out item %d also trains", e.User, held)
			}
		}
	}
}

// TestNonFiniteLogits: a NaN in the towers is a clear training error,
// not a silently finite loss.
func TestNonFiniteLogits(t *testing.T) {
	in, sp := loadSynth(t, 30, 40, 10)
	m, err := NewModel(Config{Table: "full", Dim: 4, Hidden: 6, Out: 5, Batch: 8}, in, sp)
	if err != nil {
		t.Fatal(err)
	}
	m.Towers.item.b2[0] = float32(math.NaN())
	st, err := newTrainState(m, sp)
	if err != nil {
		t.Fatal(err)
	}
	defer st.g.Close()
	if _, err := st.lossAndGrads([]int32{0, 3, 7, 11}); err == nil || !strings.Contains(err.Error(), "non-finite") {
		t.Errorf("loss with a NaN weight: %v, want a non-finite error", err)
	}
}
