package retrieval

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/embtab/embtab/ann"
	"github.com/embtab/embtab/kernels/gemm"
)

// Metrics are the ranking quality of a model over the held-out items of a
// split: the fraction of users whose held-out item ranks in the top 10
// and 50 of all items (exact search, the user's earlier positives
// excluded) and the mean NDCG@10 (1/log2(rank+2) when the item is in the
// top 10, rank from 0; one relevant item per user, so the ideal DCG is 1).
//
// Ties count against the held-out item (pessimistic): its rank is the
// number of other candidate items whose score is greater than or equal to
// its own, so a model that gives many items the same score (an all-zero
// vector, duplicate item vectors) gets no credit for the tie. A held-out
// item with a non-finite score is a miss.
type Metrics struct {
	// Users counts the held-out items ranked; Skipped those left out
	// because the user's or the item's vector is absent (RankMetrics'
	// absent), which are in no metric.
	Users    int     `json:"users"`
	Skipped  int     `json:"skipped,omitempty"`
	Recall10 float64 `json:"recall_at_10"`
	Recall50 float64 `json:"recall_at_50"`
	NDCG10   float64 `json:"ndcg_at_10"`
	// Prefix is the number of leading dims the scores used (Out: all).
	Prefix int `json:"prefix"`
}

// EvalSet chooses the held-out items of Evaluate.
type EvalSet int

// The held-out sets of a leave-last-out split.
const (
	// TestSet ranks each user's last positive, excluding the training and
	// validation items.
	TestSet EvalSet = iota
	// ValidSet ranks the second-to-last, excluding the training items.
	ValidSet
)

// Evaluate computes m's metrics on the test or validation items of sp,
// scoring with the first prefix dims of the vectors (0: all).
func Evaluate(g *gemm.Context, m *Model, sp *Split, set EvalSet, prefix int) (Metrics, error) {
	held := sp.Test
	if set == ValidSet {
		held = sp.Valid
	}
	users := make([]int32, len(held))
	for i, e := range held {
		users[i] = e.User
	}
	uv, err := m.UserVectors(g, users, set == TestSet)
	if err != nil {
		return Metrics{}, fmt.Errorf("evaluate: %w", err)
	}
	iv, err := m.ItemVectors(g)
	if err != nil {
		return Metrics{}, fmt.Errorf("evaluate: %w", err)
	}
	return RankMetrics(g, uv, iv, m.Config.Out, prefix, sp, set, nil)
}

// Absent marks the users and items (indexes of the split's
// Interactions) that have no vector, as when evaluating an artifact
// built from other data: a held-out item of an absent user, or an absent
// held-out item, is left out of the metrics (Metrics.Skipped), and an
// absent item is never a candidate. Nil slices mark none.
type Absent struct {
	Users, Items []bool
}

func (a *Absent) user(u int32) bool { return a != nil && int(u) < len(a.Users) && a.Users[u] }
func (a *Absent) item(i int32) bool { return a != nil && int(i) < len(a.Items) && a.Items[i] }

// RankMetrics computes the metrics of user vectors uv (one per held-out
// item of sp's set, in order) against all item vectors iv (dim values
// each), scoring with their first prefix dims (0: all); absent (nil:
// none) leaves users and items without vectors out.
func RankMetrics(g *gemm.Context, uv, iv []float32, dim, prefix int, sp *Split, set EvalSet, absent *Absent) (Metrics, error) {
	held, other := sp.Test, sp.Valid
	if set == ValidSet {
		held, other = sp.Valid, nil
	}
	if dim < 1 {
		return Metrics{}, fmt.Errorf("rank metrics: dim %d", dim)
	}
	if prefix <= 0 || prefix > dim {
		prefix = dim
	}
	nu, ni := len(held), len(iv)/dim
	if len(uv) != nu*dim || ni == 0 {
		return Metrics{}, fmt.Errorf("rank metrics: %d user values for %d users of dim %d, %d items", len(uv), nu, dim, ni)
	}
	var absentItems []int32
	if absent != nil {
		for i, a := range absent.Items {
			if a && i < ni {
				absentItems = append(absentItems, int32(i))
			}
		}
	}
	met := Metrics{Prefix: prefix}
	const block = 256
	scores := make([]float32, block*ni)
	for lo := 0; lo < nu; lo += block {
		hi := min(lo+block, nu)
		n := hi - lo
		if err := g.Sgemm(gemm.NoTrans, gemm.Trans, n, ni, prefix, 1, uv[lo*dim:], dim, iv, dim, 0, scores, ni, nil); err != nil {
			return Metrics{}, fmt.Errorf("rank metrics: %w", err)
		}
		for i := range n {
			e := held[lo+i]
			if absent.user(e.User) || absent.item(e.Item) {
				met.Skipped++
				continue
			}
			met.Users++
			row := scores[i*ni : (i+1)*ni]
			target := row[e.Item]
			if math.IsNaN(float64(target)) || math.IsInf(float64(target), 0) {
				continue // a miss
			}
			for _, s := range sp.Seen[e.User] {
				row[s] = float32(math.Inf(-1))
			}
			if other != nil {
				row[other[lo+i].Item] = float32(math.Inf(-1))
			}
			for _, j := range absentItems {
				row[j] = float32(math.Inf(-1))
			}
			row[e.Item] = target
			// Pessimistic ties: every other item scoring at least the
			// target ranks before it.
			rank := 0
			for j, s := range row {
				if s >= target && j != int(e.Item) {
					rank++
				}
			}
			if rank < 10 {
				met.Recall10++
				met.NDCG10 += 1 / math.Log2(float64(rank)+2)
			}
			if rank < 50 {
				met.Recall50++
			}
		}
	}
	if met.Users > 0 {
		met.Recall10 /= float64(met.Users)
		met.Recall50 /= float64(met.Users)
		met.NDCG10 /= float64(met.Users)
	}
	return met, nil
}

// ExactTopK returns the k items of highest dot product (all dim values)
// for each query of q (rows of dim values), best first, ties by index.
func ExactTopK(g *gemm.Context, q, items []float32, dim, k int) ([][]int32, error) {
	if dim < 1 {
		return nil, fmt.Errorf("exact top-k: dim %d", dim)
	}
	nq, ni := len(q)/dim, len(items)/dim
	k = min(k, ni)
	out := make([][]int32, nq)
	if k <= 0 {
		for i := range out {
			out[i] = []int32{}
		}
		return out, nil
	}
	const block = 256
	scores := make([]float32, block*ni)
	idx := make([]int32, ni)
	for lo := 0; lo < nq; lo += block {
		hi := min(lo+block, nq)
		if err := g.Sgemm(gemm.NoTrans, gemm.Trans, hi-lo, ni, dim, 1, q[lo*dim:], dim, items, dim, 0, scores, ni, nil); err != nil {
			return nil, fmt.Errorf("exact top-k: %w", err)
		}
		for i := range hi - lo {
			out[lo+i] = topK(scores[i*ni:(i+1)*ni], idx, k)
		}
	}
	return out, nil
}

// topK returns the indexes of the k largest scores, best first, ties by
// index; idx is scratch of len(scores). k <= 0 gives none.
func topK(scores []float32, idx []int32, k int) []int32 {
	if k <= 0 {
		return []int32{}
	}
	for j := range idx {
		idx[j] = int32(j)
	}
	less := func(a, b int32) int {
		return cmp.Or(cmp.Compare(scores[b], scores[a]), cmp.Compare(a, b))
	}
	// Partial selection: keep a sorted top list.
	top := make([]int32, 0, k+1)
	for _, j := range idx {
		if len(top) == k && less(j, top[k-1]) >= 0 {
			continue
		}
		pos, _ := slices.BinarySearchFunc(top, j, less)
		top = slices.Insert(top, pos, j)
		if len(top) > k {
			top = top[:k]
		}
	}
	return top
}

// ANNResult is the quality and speed of one search configuration against
// exact search: recall@K of its top K among the exact top K (all dims),
// and single-thread queries per second.
type ANNResult struct {
	// Method is "hnsw" (an index over all dims) or "adaptive" (an index
	// over the first Prefix dims, Candidates re-ranked with all dims).
	Method     string  `json:"method"`
	Prefix     int     `json:"prefix"`
	Candidates int     `json:"candidates"`
	Ef         int     `json:"ef"`
	K          int     `json:"k"`
	Recall     float64 `json:"recall"`
	QPS        float64 `json:"qps"`
	// BuildSeconds and IndexBytes describe the index searched.
	BuildSeconds float64 `json:"build_seconds"`
	IndexBytes   int64   `json:"index_bytes"`
}

// BuildIndex builds an inner-product HNSW index over the first prefix of
// the dim values of each item vector (0: all), item i under id i.
func BuildIndex(items []float32, dim, prefix int, seed uint64) (*ann.Index, error) {
	if prefix <= 0 || prefix > dim {
		prefix = dim
	}
	ix, err := ann.New(ann.Config{Dim: prefix, Metric: ann.InnerProduct, M: ann.DefaultM,
		EfConstruction: ann.DefaultEfConstruction, EfSearch: ann.DefaultEfSearch, Seed: seed})
	if err != nil {
		return nil, fmt.Errorf("build index: %w", err)
	}
	for i := range len(items) / dim {
		if err := ix.Add(uint64(i), items[i*dim:i*dim+prefix]); err != nil {
			return nil, fmt.Errorf("build index: item %d: %w", i, err)
		}
	}
	return ix, nil
}

// EvaluateANN measures HNSW search over all dims at each ef in efs and
// adaptive search at each prefix in prefixes (< dim) with each candidate
// count in cands (ef = max(candidates, the ef of efs' first value)),
// queries q against items, recall@k against exact search.
//
// Recall is over the exact top min(k, items) of each query (0 without
// queries).
func EvaluateANN(g *gemm.Context, q, items []float32, dim, k int, efs, prefixes, cands []int, seed uint64) ([]ANNResult, error) {
	if k < 1 || dim < 1 || len(items) < dim {
		return nil, fmt.Errorf("evaluate ann: k %d, dim %d, %d item values: want k >= 1 and at least one item", k, dim, len(items))
	}
	exact, err := ExactTopK(g, q, items, dim, k)
	if err != nil {
		return nil, err
	}
	nq := len(q) / dim
	relevant := 0
	for _, e := range exact {
		relevant += len(e)
	}
	recall := func(got [][]int32) float64 {
		if relevant == 0 {
			return 0
		}
		hit := 0
		for i, g := range got {
			for _, id := range g {
				if slices.Contains(exact[i], id) {
					hit++
				}
			}
		}
		return float64(hit) / float64(relevant)
	}
	var res []ANNResult
	start := time.Now()
	full, err := BuildIndex(items, dim, 0, seed)
	if err != nil {
		return nil, err
	}
	build := time.Since(start).Seconds()
	got := make([][]int32, nq)
	for _, ef := range efs {
		start := time.Now()
		for i := range nq {
			r, err := full.Search(q[i*dim:(i+1)*dim], k, max(ef, k))
			if err != nil {
				return nil, fmt.Errorf("evaluate ann: %w", err)
			}
			got[i] = resultIDs(r)
		}
		qps := float64(nq) / time.Since(start).Seconds()
		res = append(res, ANNResult{Method: "hnsw", Prefix: dim, Candidates: k, Ef: ef, K: k, Recall: recall(got), QPS: qps,
			BuildSeconds: build, IndexBytes: full.Bytes()})
	}
	baseEf := ann.DefaultEfSearch
	if len(efs) > 0 {
		baseEf = efs[0]
	}
	for _, p := range prefixes {
		if p <= 0 || p >= dim {
			continue
		}
		start := time.Now()
		ix, err := BuildIndex(items, dim, p, seed)
		if err != nil {
			return nil, err
		}
		build := time.Since(start).Seconds()
		for _, c := range cands {
			c = max(c, k)
			start := time.Now()
			for i := range nq {
				qi := q[i*dim : (i+1)*dim]
				r, err := ix.Search(qi[:p], c, max(c, baseEf))
				if err != nil {
					return nil, fmt.Errorf("evaluate adaptive: %w", err)
				}
				got[i] = Rerank(qi, items, dim, resultIDs(r), k)
			}
			qps := float64(nq) / time.Since(start).Seconds()
			res = append(res, ANNResult{Method: "adaptive", Prefix: p, Candidates: c, Ef: max(c, baseEf), K: k,
				Recall: recall(got), QPS: qps, BuildSeconds: build, IndexBytes: ix.Bytes()})
		}
	}
	return res, nil
}

func resultIDs(r []ann.Result) []int32 {
	out := make([]int32, len(r))
	for i, x := range r {
		out[i] = int32(x.ID)
	}
	return out
}

// Rerank returns the k candidates of highest full dot product with q,
// best first (ties by index).
func Rerank(q, items []float32, dim int, cands []int32, k int) []int32 {
	type scored struct {
		id int32
		s  float32
	}
	sc := make([]scored, len(cands))
	for i, c := range cands {
		v := items[int(c)*dim : int(c+1)*dim]
		var s float32
		for j, x := range q[:dim] {
			s += x * v[j]
		}
		sc[i] = scored{c, s}
	}
	slices.SortFunc(sc, func(a, b scored) int { return cmp.Or(cmp.Compare(b.s, a.s), cmp.Compare(a.id, b.id)) })
	out := make([]int32, 0, k)
	for _, x := range sc[:min(k, len(sc))] {
		out = append(out, x.id)
	}
	return out
}
