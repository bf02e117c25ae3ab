package retrieval

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/embtab/embtab/ann/vecfile"
	"github.com/embtab/embtab/artifact"
	"github.com/embtab/embtab/kernels/gemm"
)

var genreNames = []string{"Action", "Comedy", "Drama", "Horror", "Romance", "Sci-Fi", "Thriller", "War"}

// writeSynthML writes a small MovieLens 1M directory: users like the
// movies of one genre (user u: genre u mod 8) and rate them 4 or 5, and
// rate a few others 1 or 2. Timestamps increase within each user.
func writeSynthML(t testing.TB, users, movies, perUser int, seed uint64) string {
	t.Helper()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(seed, 7))
	var ub, mb, rb strings.Builder
	for u := 1; u <= users; u++ {
		fmt.Fprintf(&ub, "%d::%s::%d::%d::%05d\n", u, []string{"F", "M"}[u%2], []int{1, 18, 25, 35}[u%4], u%21, 10000+u%50)
	}
	byGenre := make([][]int, len(genreNames))
	for m := 1; m <= movies; m++ {
		g := m % len(genreNames)
		byGenre[g] = append(byGenre[g], m)
		fmt.Fprintf(&mb, "%d::Movie %d (%d)::%s|%s\n", m, m, 1950+m%50, genreNames[g], genreNames[(g+3)%len(genreNames)])
	}
	ts := int64(978300000)
	for u := 1; u <= users; u++ {
		g := u % len(genreNames)
		liked := rng.Perm(len(byGenre[g]))
		for k := range perUser {
			ts += int64(rng.IntN(3)) // ties happen
			if k%4 == 3 {
				fmt.Fprintf(&rb, "%d::%d::%d::%d\n", u, 1+rng.IntN(movies), 1+rng.IntN(2), ts)
				continue
			}
			m := byGenre[g][liked[k%len(liked)]]
			fmt.Fprintf(&rb, "%d::%d::%d::%d\n", u, m, 4+rng.IntN(2), ts)
		}
	}
	for name, b := range map[string]*strings.Builder{"users.dat": &ub, "movies.dat": &mb, "ratings.dat": &rb} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func loadSynth(t testing.TB, users, movies, perUser int) (*Interactions, *Split) {
	t.Helper()
	r, err := OpenSource("movielens1m", writeSynthML(t, users, movies, perUser, 1))
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

func TestLeaveLastOut(t *testing.T) {
	ev := func(u, i int32, ts int64) Event { return Event{User: u, Item: i, Time: ts} }
	tests := []struct {
		name              string
		events            []Event // sorted by user, time, item as LoadInteractions sorts
		users             int
		train, valid, tst []Event
	}{
		{"three", []Event{ev(0, 5, 1), ev(0, 2, 2), ev(0, 9, 3)}, 1,
			[]Event{ev(0, 5, 1)}, []Event{ev(0, 2, 2)}, []Event{ev(0, 9, 3)}},
		{"too few train only", []Event{ev(0, 1, 1), ev(0, 2, 2), ev(1, 3, 1), ev(1, 4, 5), ev(1, 5, 6)}, 2,
			[]Event{ev(0, 1, 1), ev(0, 2, 2), ev(1, 3, 1)}, []Event{ev(1, 4, 5)}, []Event{ev(1, 5, 6)}},
		{"ties by item", []Event{ev(0, 1, 7), ev(0, 3, 7), ev(0, 8, 7), ev(0, 9, 7)}, 1,
			[]Event{ev(0, 1, 7), ev(0, 3, 7)}, []Event{ev(0, 8, 7)}, []Event{ev(0, 9, 7)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := &Interactions{Events: tc.events, Users: make([]Entity, tc.users)}
			sp := in.LeaveLastOut()
			if !slices.Equal(sp.Train, tc.train) || !slices.Equal(sp.Valid, tc.valid) || !slices.Equal(sp.Test, tc.tst) {
				t.Fatalf("split = %v / %v / %v, want %v / %v / %v", sp.Train, sp.Valid, sp.Test, tc.train, tc.valid, tc.tst)
			}
			for _, e := range sp.Train {
				if _, ok := slices.BinarySearch(sp.Seen[e.User], e.Item); !ok {
					t.Errorf("train item %d of user %d not in Seen %v", e.Item, e.User, sp.Seen[e.User])
				}
			}
		})
	}
}

func TestLoadInteractions(t *testing.T) {
	in, sp := loadSynth(t, 40, 60, 12)
	if len(in.Users) != 40 || len(in.Items) == 0 || len(in.Items) > 60 {
		t.Fatalf("%d users, %d items", len(in.Users), len(in.Items))
	}
	for i := 1; i < len(in.Items); i++ {
		if keyCompare(in.Items[i-1].Key, in.Items[i].Key) >= 0 {
			t.Fatalf("items not sorted by key: %q then %q", in.Items[i-1].Key, in.Items[i].Key)
		}
	}
	// Positives only: 3 of every 4 ratings are 4 or 5.
	if want := int64(40 * 12); in.Ratings != want {
		t.Errorf("%d ratings, want %d", in.Ratings, want)
	}
	// 9 positives per user, over the 7 or 8 movies of its genre: repeats
	// count once.
	if n := len(in.Events); n < 40*6 || n > 40*8 {
		t.Errorf("%d positives, want 6 to 8 per user", n)
	}
	type pair struct{ u, i int32 }
	seen := map[pair]bool{}
	for _, e := range in.Events {
		if seen[pair{e.User, e.Item}] {
			t.Fatalf("user %d has item %d twice", e.User, e.Item)
		}
		seen[pair{e.User, e.Item}] = true
	}
	if len(sp.Test) != 40 || len(sp.Valid) != 40 {
		t.Errorf("%d test and %d valid users, want 40", len(sp.Test), len(sp.Valid))
	}
	for i, e := range sp.Test {
		if v := sp.Valid[i]; v.User != e.User || v.Time > e.Time {
			t.Errorf("user %d: valid %v after test %v", e.User, v, e)
		}
	}
	if got := in.Items[0].Values; len(got) != len(DefaultItemFields) || got[0] != in.Items[0].Key {
		t.Errorf("item values %q", got)
	}
}

func TestKeyCompare(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"2", "10", -1}, {"10", "2", 1}, {"10", "10", 0}, {"a", "b", -1}, {"010", "9", 1}, {"9", "a", -1},
		{"10", "9a", -1}, {"9a", "10", 1}, {"", "0", 1}, {"0", "1", -1}, {"b", "a", 1},
	}
	for _, tc := range tests {
		if got := keyCompare(tc.a, tc.b); got != tc.want {
			t.Errorf("keyCompare(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestExpf(t *testing.T) {
	for _, x := range []float32{-87, -50, -10, -1.5, -0.3, 0, 1e-6, 0.2, 0.7, 1, 3.3, 20, 80} {
		got, want := float64(expf(x)), math.Exp(float64(x))
		if math.Abs(got-want) > 4e-7*want {
			t.Errorf("expf(%g) = %g, want %g", x, got, want)
		}
	}
	if expf(float32(math.Inf(-1))) != 0 || expf(-100) != 0 || !math.IsInf(float64(expf(100)), 1) {
		t.Error("expf out of range")
	}
}

// TestGradients checks the hand-written backward pass against central
// differences of the loss, for tower weights of both towers, with nested
// dims and the logQ correction.
func TestGradients(t *testing.T) {
	in, sp := loadSynth(t, 30, 40, 10)
	m, err := NewModel(Config{Table: "full", Dim: 4, Hidden: 6, Out: 5, Nested: []int{2, 5}, Temperature: 0.5, Batch: 8}, in, sp)
	if err != nil {
		t.Fatal(err)
	}
	st, err := newTrainState(m, sp)
	if err != nil {
		t.Fatal(err)
	}
	defer st.g.Close()
	batch := []int32{0, 3, 7, 11, 15, 20, 21, 40}
	if _, err := st.lossAndGrads(batch); err != nil {
		t.Fatal(err)
	}
	analytic := st.denseGrads()
	saved := make([][]float32, len(analytic))
	for i, g := range analytic {
		saved[i] = slices.Clone(g)
	}
	params := st.params
	names := []string{"user W1", "user b1", "user W2", "user b2", "item W1", "item b1", "item W2", "item b2"}
	for k, p := range params {
		for _, i := range []int{0, len(p) / 2, len(p) - 1} {
			const h = 1e-3
			orig := p[i]
			p[i] = orig + h
			lp, err := st.lossAndGrads(batch)
			if err != nil {
				t.Fatal(err)
			}
			p[i] = orig - h
			lm, _ := st.lossAndGrads(batch)
			p[i] = orig
			num := (lp - lm) / (2 * h)
			got := float64(saved[k][i])
			if math.Abs(num-got) > 2e-3+0.03*math.Abs(num) {
				t.Errorf("%s[%d]: analytic %g, numeric %g", names[k], i, got, num)
			}
		}
	}
}

func trainSynth(t *testing.T, cfg Config) (*Model, *Interactions, *Split) {
	t.Helper()
	in, sp := loadSynth(t, 160, 120, 24)
	m, err := NewModel(cfg, in, sp)
	if err != nil {
		t.Fatal(err)
	}
	if err := Train(context.Background(), m, sp, TrainHooks{}); err != nil {
		t.Fatal(err)
	}
	return m, in, sp
}

func TestTrainLearns(t *testing.T) {
	methods := []string{"full", "hashed/int8", "unified", "hybrid", "qr", "multiplex", "multiprobe"}
	if testing.Short() {
		methods = methods[:2]
	}
	for _, name := range methods {
		method, storage, _ := strings.Cut(name, "/")
		t.Run(name, func(t *testing.T) {
			cfg := Config{Table: method, Storage: storage, Epochs: 8, Batch: 64, Dim: 8, Hidden: 32, Out: 16, Nested: []int{4, 8},
				Temperature: 0.1, LR: 0.005}
			m, in, sp := trainSynth(t, cfg)
			g := gemm.NewContext(1)
			defer g.Close()
			met, err := Evaluate(g, m, sp, TestSet, 0)
			if err != nil {
				t.Fatal(err)
			}
			// Each user's test item is one of the ~15 movies of its genre:
			// a model that learned the genres ranks it in the top 50 of
			// 120 far more often than chance (50/120).
			random := 10 / float64(len(in.Items))
			t.Logf("%s: %+v (random recall@10 %.3f)", name, met, random)
			if met.Recall10 < 2*random || met.Recall50 < 0.6 {
				t.Errorf("%s: recall@10 %.3f, recall@50 %.3f: the model did not learn the genres", method, met.Recall10, met.Recall50)
			}
		})
	}
}

func TestTrainDeterministic(t *testing.T) {
	cfg := Config{Table: "hashed", Epochs: 2, Batch: 32, Dim: 4, Hidden: 8, Out: 8, Seed: 3}
	a, _, _ := trainSynth(t, cfg)
	b, _, _ := trainSynth(t, cfg)
	va, err := a.ItemVectors(nil)
	if err != nil {
		t.Fatal(err)
	}
	vb, _ := b.ItemVectors(nil)
	if !slices.Equal(va, vb) {
		t.Fatal("two runs with the same seed gave different item vectors")
	}
}

func TestTowersSaveLoad(t *testing.T) {
	in, sp := loadSynth(t, 20, 30, 8)
	m, err := NewModel(Config{Dim: 4, Hidden: 5, Out: 6, Nested: []int{3}}, in, sp)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := m.Towers.Save(&buf); err != nil {
		t.Fatal(err)
	}
	got, err := LoadTowers(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.user.w1, m.Towers.user.w1) || !slices.Equal(got.item.b2, m.Towers.item.b2) ||
		!slices.Equal(got.cfg.Nested, []int{3, 6}) {
		t.Fatal("towers differ after a save and load")
	}
	data := buf.Bytes()
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"magic", append([]byte("XXXXXXXX"), data[8:]...)},
		{"flipped weight", func() []byte { b := slices.Clone(data); b[len(b)-20] ^= 1; return b }()},
		{"truncated", data[:len(data)-9]},
	}
	for _, tc := range tests {
		if _, err := LoadTowers(bytes.NewReader(tc.b)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: LoadTowers = %v, want ErrCorrupt", tc.name, err)
		}
	}
}

func TestTopK(t *testing.T) {
	tests := []struct {
		scores []float32
		k      int
		want   []int32
	}{
		{[]float32{1, 5, 3, 5, 0}, 3, []int32{1, 3, 2}},
		{[]float32{1, 2}, 5, []int32{1, 0}},
		{[]float32{-1, -2, -3}, 1, []int32{0}},
	}
	for _, tc := range tests {
		got := topK(tc.scores, make([]int32, len(tc.scores)), min(tc.k, len(tc.scores)))
		if !slices.Equal(got, tc.want) {
			t.Errorf("topK(%v, %d) = %v, want %v", tc.scores, tc.k, got, tc.want)
		}
	}
}

func TestEvaluateANN(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n, dim, nq = 2000, 16, 200
	items := make([]float32, n*dim)
	for i := range items {
		items[i] = float32(rng.NormFloat64())
	}
	q := make([]float32, nq*dim)
	for i := range q {
		q[i] = float32(rng.NormFloat64())
	}
	g := gemm.NewContext(1)
	defer g.Close()
	res, err := EvaluateANN(g, q, items, dim, 10, []int{10, 200}, []int{8}, []int{n}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 3 {
		t.Fatalf("%d results, want 3", len(res))
	}
	if res[1].Recall < 0.95 {
		t.Errorf("hnsw at ef 200: recall %.3f", res[1].Recall)
	}
	// Re-ranking every item with all dims is exact search.
	if a := res[2]; a.Method != "adaptive" || a.Recall != 1 {
		t.Errorf("adaptive over all items: %+v, want recall 1", a)
	}
}

func TestExportAndRetrieve(t *testing.T) {
	cfg := Config{Table: "hybrid", Epochs: 2, Batch: 64, Dim: 8, Hidden: 16, Out: 8}
	m, in, sp := trainSynth(t, cfg)
	ctx := context.Background()
	g := gemm.NewContext(1)
	defer g.Close()
	iv, err := m.ItemVectors(g)
	if err != nil {
		t.Fatal(err)
	}
	uv, err := m.UserVectors(g, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	vm, err := ExportVectors(filepath.Join(dir, "vectors"), in.Users, in.Items, uv, iv, 8)
	if err != nil {
		t.Fatal(err)
	}
	if len(vm.Files) != 6 {
		t.Fatalf("%d vector files, want 6", len(vm.Files))
	}
	back, d, err := vecfile.ReadFvecsFile(filepath.Join(dir, "vectors", "items.fvecs"))
	if err != nil || d != 8 || !slices.Equal(back, iv) {
		t.Fatalf("items.fvecs: dim %d, %d values, err %v", d, len(back), err)
	}
	rows, err := parquet.ReadFile[VectorRow](filepath.Join(dir, "vectors", "users.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(in.Users) || rows[5].Key != in.Users[5].Key || !slices.Equal(rows[5].Vector, uv[5*8:6*8]) {
		t.Fatalf("users.parquet: %d rows, row 5 = %+v", len(rows), rows[5])
	}

	ix, err := BuildIndex(iv, 8, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	art := filepath.Join(dir, "model")
	if _, err := ExportArtifact(art, m, ix, uv, iv, nil); err != nil {
		t.Fatal(err)
	}
	a, err := artifact.Open(art, artifact.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if !IsTwoTower(a.Manifest()) {
		t.Fatal("IsTwoTower = false for a two-tower artifact")
	}
	r, err := OpenRetriever(a)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for u := 0; u < len(in.Users); u += 17 {
		q, ok := r.UserVector(in.Users[u].Key)
		if !ok || !slices.Equal(q, uv[u*8:(u+1)*8]) {
			t.Fatalf("user %s: stored vector missing or different", in.Users[u].Key)
		}
		got, err := r.Retrieve(ctx, q, 10, Options{Ef: len(in.Items)})
		if err != nil {
			t.Fatal(err)
		}
		want, _ := r.ExactAll(q, 10, Options{})
		if !sameItems(got, want) {
			t.Errorf("user %d: retrieve %v, exact %v", u, got, want)
		}
		filter := map[string][]string{"first_genre": {"Comedy", "War"}}
		got, err = r.Retrieve(ctx, q, 5, Options{Filter: filter})
		if err != nil {
			t.Fatal(err)
		}
		want, _ = r.ExactAll(q, 5, Options{Filter: filter})
		if !sameItems(got, want) || len(got) != 5 {
			t.Errorf("user %d filtered: retrieve %v, exact %v", u, got, want)
		}
		for _, h := range got {
			if g := in.Items[h.Item].Values[2]; g != "Comedy" && g != "War" {
				t.Errorf("filtered hit %s has first_genre %s", h.Key, g)
			}
		}
	}
	if _, err := r.Retrieve(ctx, make([]float32, 8), 3, Options{Filter: map[string][]string{"title": {"x"}}}); !errors.Is(err, ErrFilter) {
		t.Errorf("filter on an unknown field: %v, want ErrFilter", err)
	}
	if h, err := r.Retrieve(ctx, make([]float32, 8), 3, Options{Filter: map[string][]string{"year": {"3000"}}}); err != nil || len(h) != 0 {
		t.Errorf("filter matching nothing: %v, %v", h, err)
	}
	// The catalog keeps each user's training items; excluding them drops
	// them from the results.
	for u := 0; u < len(in.Users); u += 31 {
		seen := r.Seen(in.Users[u].Key)
		if !slices.Equal(seen, sp.Seen[u]) || len(seen) == 0 {
			t.Fatalf("user %s: catalog seen %v, split %v", in.Users[u].Key, seen, sp.Seen[u])
		}
		q, _ := r.UserVector(in.Users[u].Key)
		got, err := r.Retrieve(ctx, q, 20, Options{Exclude: seen, Ef: 200})
		if err != nil {
			t.Fatal(err)
		}
		want, _ := r.ExactAll(q, 20, Options{Exclude: seen})
		if !sameItems(got, want) {
			t.Errorf("user %d without seen items: retrieve %v, exact %v", u, got, want)
		}
		for _, h := range got {
			if slices.Contains(seen, h.Item) {
				t.Errorf("user %d: seen item %d retrieved", u, h.Item)
			}
		}
	}
}

func sameItems(a, b []Hit) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Item != b[i].Item && math.Abs(float64(a[i].Score-b[i].Score)) > 1e-6 {
			return false
		}
	}
	return true
}

// TestHistoryRanges: a training event's history is its user's last n
// events strictly earlier in time (an event of the same second is not).
func TestHistoryRanges(t *testing.T) {
	train := []Event{
		{User: 0, Item: 1, Time: 10}, {User: 0, Item: 2, Time: 20}, {User: 0, Item: 3, Time: 20}, {User: 0, Item: 4, Time: 30},
		{User: 1, Item: 5, Time: 5}, {User: 1, Item: 6, Time: 7},
	}
	lo, hi := historyRanges(train, 2)
	want := [][2]int32{{0, 0}, {0, 1}, {0, 1}, {1, 3}, {4, 4}, {4, 5}}
	for j, w := range want {
		if lo[j] != w[0] || hi[j] != w[1] {
			t.Errorf("event %d: history [%d, %d), want [%d, %d)", j, lo[j], hi[j], w[0], w[1])
		}
	}
}
