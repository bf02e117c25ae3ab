package kernels_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"testing"

	"github.com/embtab/embtab/bytesize"
	"github.com/embtab/embtab/kernels"
)

// The benchmarks gather from one table of raw bytes, read with each codec
// at each dim (rows = size / RowBytes, rows packed as FBGEMM packs them),
// at uniformly random rows: the worst case for caches, and the case of
// ../shared/peers/gather_limit.c. An op is a batch of benchBags bags of
// benchBagSize indices (a Criteo request's 26 fields), sum-pooled.
//
// Environment:
//
//	EMBTAB_KERNELS_TABLE      table size (bytesize syntax), default 2GiB
//	EMBTAB_KERNELS_IMPL       force an implementation: avx512, avx2, generic
//	EMBTAB_KERNELS_HUGEPAGES  1: madvise(MADV_HUGEPAGE) the table (Linux)
//
// For example, a quick run:
//
//	EMBTAB_KERNELS_TABLE=256MiB go test ./kernels -run '^$' -bench GatherDequant -benchtime 100x
const (
	benchBags    = 2048
	benchBagSize = 26
	benchBatches = 16 // distinct batches of indices, cycled
)

var (
	benchOnce  sync.Once
	benchData  []byte
	benchError error
)

// benchTable returns the benchmark table's bytes: every byte in
// [0x30, 0x3f], so that whatever codec reads them, values, scales and
// biases are normal floats of modest size (no NaN, Inf or subnormal
// slowing the arithmetic).
func benchTable(b *testing.B) []byte {
	benchOnce.Do(func() {
		size := int64(2 << 30)
		if s := os.Getenv("EMBTAB_KERNELS_TABLE"); s != "" {
			if size, benchError = bytesize.Parse(s); benchError != nil {
				return
			}
		}
		if os.Getenv("EMBTAB_KERNELS_HUGEPAGES") == "1" {
			// Anonymous memory on a 2 MiB boundary, advised before the
			// first touch so that pages fault in huge (the Go heap's
			// arenas do not get them reliably).
			if benchData, benchError = hugePageBytes(int(size)); benchError != nil {
				return
			}
		} else {
			benchData = make([]byte, size)
		}
		x := uint64(88172645463325252)
		for i := 0; i+8 <= len(benchData); i += 8 {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			v := x&0x0f0f0f0f0f0f0f0f | 0x3030303030303030
			for k := range 8 {
				benchData[i+k] = byte(v >> (8 * k))
			}
		}
	})
	if benchError != nil {
		b.Fatal(benchError)
	}
	return benchData
}

func BenchmarkGatherDequant(b *testing.B) {
	if impl := os.Getenv("EMBTAB_KERNELS_IMPL"); impl != "" {
		useImpl(b, impl)
	}
	data := benchTable(b)
	b.Logf("table %s, impl %s", bytesize.Format(int64(len(data))), kernels.Impl())
	for _, c := range codecs {
		for _, dim := range []int{16, 32, 64, 128} {
			rb := c.RowBytes(dim)
			rows := len(data) / rb
			tab := kernels.Table{Codec: c, Data: data[:rows*rb], Rows: rows, Dim: dim, Stride: rb}
			for _, threads := range []int{1, 2} {
				b.Run(fmt.Sprintf("%s/%d/%d", c.Name(), dim, threads), func(b *testing.B) {
					benchGather(b, tab, threads)
				})
			}
		}
	}
}

func benchGather(b *testing.B, tab kernels.Table, threads int) {
	rng := rand.New(rand.NewPCG(uint64(tab.Dim), uint64(tab.Codec.RowBytes(1))))
	per := benchBags * benchBagSize
	indices := make([]int32, benchBatches*per)
	for i := range indices {
		indices[i] = int32(rng.IntN(tab.Rows))
	}
	offsets := make([]int32, benchBags+1)
	for i := range offsets {
		offsets[i] = int32(i * benchBagSize)
	}
	out := make([]float32, benchBags*tab.Dim)
	b.ResetTimer()
	for i := range b.N {
		k := i % benchBatches
		bags := kernels.Bags[int32]{Indices: indices[k*per : (k+1)*per], Offsets: offsets}
		if err := kernels.GatherDequant(out, tab, bags, kernels.Sum, threads); err != nil {
			b.Fatal(err)
		}
	}
	rowsPerSec := float64(b.N) * float64(per) / b.Elapsed().Seconds()
	b.ReportMetric(rowsPerSec, "rows/s")
	b.ReportMetric(rowsPerSec*float64(tab.Codec.RowBytes(tab.Dim))/1e9, "GB/s")
	b.ReportMetric(0, "ns/op") // rows/s is the figure of merit
}
