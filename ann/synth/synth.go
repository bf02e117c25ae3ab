// Package synth generates clustered random vectors for testing and
// benchmarking package ann: embeddings of items and users fall in
// clusters, which is what makes graph search both useful and hard to get
// right (uniform random vectors in high dimension have no near
// neighbours to speak of).
//
// The output depends only on the arguments: the same seed gives the same
// vectors on every platform. Functions keep no state and are safe for
// concurrent use.
package synth

import (
	"math"
	"math/rand/v2"
)

// Spread is the standard deviation of a point around its cluster centre,
// relative to the centres' (1).
const Spread = 0.35

// Centers returns the clusters·dim coordinates of the cluster centres for
// seed, each drawn from N(0, 1).
func Centers(clusters, dim int, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 1))
	c := make([]float32, clusters*dim)
	for i := range c {
		c[i] = float32(rng.NormFloat64())
	}
	return c
}

// Clustered returns n vectors of dim values, row after row: each picks a
// centre of Centers(clusters, dim, seed) uniformly and adds N(0, Spread²)
// noise per value, with noise drawn from stream (use different streams
// for base vectors and queries of the same clusters).
func Clustered(n, dim, clusters int, seed, stream uint64) []float32 {
	c := Centers(clusters, dim, seed)
	rng := rand.New(rand.NewPCG(seed, 2+stream))
	out := make([]float32, n*dim)
	for i := 0; i < n; i++ {
		k := rng.IntN(clusters)
		for j := 0; j < dim; j++ {
			out[i*dim+j] = c[k*dim+j] + float32(Spread*rng.NormFloat64())
		}
	}
	return out
}

// BruteForce returns, for each of the queries (rows of dim values), the
// indices of the k base rows with the largest inner product (l2 false) or
// smallest squared L2 distance (l2 true), nearest first; ties go to the
// smaller index. It uses threads goroutines (at least 1).
func BruteForce(base, queries []float32, dim, k int, l2 bool, threads int) [][]int32 {
	nq, nb := len(queries)/dim, len(base)/dim
	out := make([][]int32, nq)
	threads = max(threads, 1)
	done := make(chan struct{}, threads)
	for t := 0; t < threads; t++ {
		go func(t int) {
			defer func() { done <- struct{}{} }()
			ids := make([]int32, 0, k+1)
			ds := make([]float32, 0, k+1)
			for q := t; q < nq; q += threads {
				qv := queries[q*dim : (q+1)*dim]
				ids, ds = ids[:0], ds[:0]
				worst := float32(math.Inf(1))
				for i := 0; i < nb; i++ {
					x := base[i*dim : (i+1)*dim]
					var d float32
					if l2 {
						for j, v := range qv {
							e := v - x[j]
							d += e * e
						}
					} else {
						for j, v := range qv {
							d -= v * x[j]
						}
					}
					if len(ids) == k && d >= worst {
						continue
					}
					p := len(ids)
					for p > 0 && ds[p-1] > d {
						p--
					}
					ids = append(ids[:p], append([]int32{int32(i)}, ids[p:]...)...)
					ds = append(ds[:p], append([]float32{d}, ds[p:]...)...)
					if len(ids) > k {
						ids, ds = ids[:k], ds[:k]
					}
					if len(ids) == k {
						worst = ds[k-1]
					}
				}
				out[q] = append([]int32(nil), ids...)
			}
		}(t)
	}
	for t := 0; t < threads; t++ {
		<-done
	}
	return out
}
