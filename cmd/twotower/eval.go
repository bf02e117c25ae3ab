package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/embtab/embtab/artifact"
	"github.com/embtab/embtab/kernels/gemm"
	"github.com/embtab/embtab/retrieval"
)

// evalResult is the outcome of eval.
type evalResult struct {
	Model        string            `json:"model"`
	ID           string            `json:"id"`
	Test         retrieval.Metrics `json:"test"`
	MissingUsers int               `json:"missing_users"`
	MissingItems int               `json:"missing_items"`
	Index        []indexRecall     `json:"index"`
}

type indexRecall struct {
	Ef     int     `json:"ef"`
	Recall float64 `json:"recall_at_10"`
	QPS    float64 `json:"qps"`
}

func runEval(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("eval", "Evaluate an exported two-tower artifact on a dataset's leave-last-out test items: recall@10/50\nand NDCG@10 of its stored vectors (exact search), and recall@10 of its mmap'ed HNSW index against exact search.", stderr)
	model := fs.String("model", "", "two-tower artifact directory (train --out DIR writes DIR/model; required)")
	data := fs.String("data", defaultData, "MovieLens directory or converted Parquet file")
	format := fs.String("format", "movielens1m", "source format: movielens1m, movielens100k or parquet")
	efs := fs.IntSlice("ef", []int{10, 20, 40, 80}, "HNSW ef values to measure")
	threads := fs.Int("threads", 2, "threads of the exact search")
	quiet := fs.Bool("quiet", false, "no progress bar")
	asJSON := fs.Bool("json", false, "print the result as one JSON line")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *model == "" {
		return fmt.Errorf("--model is required")
	}
	if *threads < 1 {
		return fmt.Errorf("--threads %d: want >= 1", *threads)
	}
	if err := checkEfs(*efs); err != nil {
		return err
	}
	a, err := artifact.Open(*model, artifact.OpenOptions{})
	if err != nil {
		return err
	}
	defer a.Close()
	r, err := retrieval.OpenRetriever(a)
	if err != nil {
		return err
	}
	defer r.Close()
	tc := r.Towers.Config()
	names := func(fs []int) []string {
		var n []string
		for _, f := range fs {
			n = append(n, tc.Fields[f])
		}
		return n
	}
	d, err := loadData(ctx, *format, *data, names(tc.UserFields), names(tc.ItemFields), stderr, *quiet)
	if err != nil {
		return err
	}
	dim := r.Dim()
	res := evalResult{Model: *model, ID: a.Manifest().ID}
	// The artifact's vectors in the dataset's user and item order; the
	// users and items it lacks are left out of the metrics.
	absent := &retrieval.Absent{Users: make([]bool, len(d.in.Users)), Items: make([]bool, len(d.in.Items))}
	uv := make([]float32, len(d.in.Users)*dim)
	for i, u := range d.in.Users {
		if v, ok := r.UserVector(u.Key); ok {
			copy(uv[i*dim:], v)
		} else {
			res.MissingUsers++
			absent.Users[i] = true
		}
	}
	itemAt := map[string]int{}
	for i, it := range r.Catalog.Items {
		itemAt[it.Key] = i
	}
	iv := make([]float32, len(d.in.Items)*dim)
	for i, it := range d.in.Items {
		j, ok := itemAt[it.Key]
		if !ok {
			res.MissingItems++
			absent.Items[i] = true
			continue
		}
		copy(iv[i*dim:], r.ItemVector(j))
	}
	g := gemm.NewContext(*threads)
	defer g.Close()
	if res.Test, err = evalVectors(g, d, uv, iv, dim, 0, retrieval.TestSet, absent); err != nil {
		return err
	}
	// The index against exact search over the artifact's items, for the
	// test users the artifact has.
	var q []float32
	for _, e := range d.sp.Test {
		if !absent.Users[e.User] {
			q = append(q, uv[int(e.User)*dim:int(e.User+1)*dim]...)
		}
	}
	nq := len(q) / dim
	exact := make([][]int32, nq)
	relevant := 0
	for i := range nq {
		hits, err := r.ExactAll(q[i*dim:(i+1)*dim], 10, retrieval.Options{})
		if err != nil {
			return err
		}
		for _, h := range hits {
			exact[i] = append(exact[i], h.Item)
		}
		relevant += len(hits)
	}
	for _, ef := range *efs {
		start := time.Now()
		hit := 0
		for i := range nq {
			res, err := r.Index.Search(q[i*dim:(i+1)*dim], 10, max(ef, 10))
			if err != nil {
				return err
			}
			for _, x := range res {
				if slices.Contains(exact[i], int32(x.ID)) {
					hit++
				}
			}
		}
		qps := float64(nq) / time.Since(start).Seconds()
		recall := 0.0
		if relevant > 0 {
			recall = float64(hit) / float64(relevant)
		}
		res.Index = append(res.Index, indexRecall{Ef: ef, Recall: recall, QPS: qps})
	}
	if *asJSON {
		return emitJSON(stdout, res)
	}
	fmt.Fprintf(stdout, "%s: recall@10 %.4f, recall@50 %.4f, NDCG@10 %.4f on %d test users (%d users and %d items of the data not in the artifact; %d test users left out for them)\n",
		*model, res.Test.Recall10, res.Test.Recall50, res.Test.NDCG10, res.Test.Users, res.MissingUsers, res.MissingItems, res.Test.Skipped)
	for _, x := range res.Index {
		fmt.Fprintf(stdout, "  index ef %3d: recall@10 vs exact %.4f, %.0f queries/s\n", x.Ef, x.Recall, x.QPS)
	}
	return nil
}
