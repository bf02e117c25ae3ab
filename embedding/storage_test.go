package embedding_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/hashing"
	"github.com/embtab/embtab/quant"
)

var rowwise01 = embedding.Optimizer{Name: embedding.RowwiseAdagrad, LR: 0.1}

func int8Hashed(t testing.TB, dim int, rows []int, opt embedding.Optimizer, seed uint64) *embedding.Hashed {
	t.Helper()
	tbl, err := embedding.NewHashed(embedding.Config{Dim: dim, Rows: rows, Optimizer: opt, Seed: seed,
		Storage: embedding.StorageInt8})
	if err != nil {
		t.Fatal(err)
	}
	return tbl
}

// readAll returns every row of r, decoded.
func readAll(r *embedding.Rows) []float32 {
	out := make([]float32, r.Len()*r.Dim())
	r.ReadRows(0, out)
	return out
}

func saveBytes(t testing.TB, p embedding.Persister) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := p.Save(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestInt8Bytes(t *testing.T) {
	const rows = 1000
	for _, dim := range []int{16, 64} {
		for _, opt := range optimizersUnderTest {
			fp := must(embedding.NewHashed(embedding.Config{Dim: dim, Rows: []int{rows}, Optimizer: opt}))
			q := int8Hashed(t, dim, []int{rows}, opt, 0)
			bf, bq := fp.Bytes(), q.Bytes()
			if bq.Params != rows*int64(dim+8) {
				t.Errorf("dim %d %s: int8 Params = %d bytes, want rows*(dim+8) = %d", dim, opt.Name, bq.Params, rows*(dim+8))
			}
			if bq.Optimizer != bf.Optimizer || bq.Index != 0 {
				t.Errorf("dim %d %s: int8 Optimizer %d, Index %d; fp32 Optimizer %d", dim, opt.Name, bq.Optimizer, bq.Index, bf.Optimizer)
			}
			if opt.Name == embedding.RowwiseAdagrad {
				t.Logf("dim %d, rowwise adagrad: fp32 %d bytes/row, int8 %d bytes/row: %.2fx smaller (params %.2fx)",
					dim, bf.Total()/rows, bq.Total()/rows, float64(bf.Total())/float64(bq.Total()),
					float64(bf.Params)/float64(bq.Params))
			}
		}
	}
}

// TestInt8BytesAreAllocated checks Bytes against the heap: building an int8
// table holds about Bytes().Total() bytes, not the fp32 size.
func TestInt8BytesAreAllocated(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	const rows, dim = 200_000, 16
	heap := func() uint64 {
		// Two collections: sync.Pool items (the tables' pooled lookup
		// scratch) of earlier tests survive the first.
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	tbl := int8Hashed(t, dim, []int{rows}, rowwise01, 1)
	grew := int64(heap()) - int64(before)
	want := tbl.Bytes().Total() // 200k * (24 + 4) = 5.6 MB; fp32 would be 13.6 MB
	if grew < want*9/10 || grew > want*11/10 {
		t.Errorf("heap grew by %d bytes building the table; Bytes().Total() = %d", grew, want)
	}
	runtime.KeepAlive(tbl)
}

// TestInt8InitRoundsFP32Init checks that an int8 table starts as the fp32
// table of the same config with each row rounded to nearest by quant.Int8.
func TestInt8InitRoundsFP32Init(t *testing.T) {
	cfg := embedding.Config{Method: embedding.MethodQR, Dim: 7, Rows: []int{50, 30}, RemRows: []int{20, 10},
		Combine: embedding.CombineSum, Optimizer: rowwise01, Seed: 5}
	fp := must(embedding.NewQR(cfg))
	cfg.Storage = embedding.StorageInt8
	q := must(embedding.NewQR(cfg))
	want, got := readAll(fp.RowSets()[0]), readAll(q.RowSets()[0])
	d := cfg.Dim
	code := make([]byte, quant.Int8.RowBytes(d))
	dec := make([]float32, d)
	for i := range len(want) / d {
		if err := quant.Int8.EncodeRow(code, want[i*d:(i+1)*d]); err != nil {
			t.Fatal(err)
		}
		if err := quant.Int8.DecodeRow(dec, code); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(dec, got[i*d:(i+1)*d]) {
			t.Fatalf("row %d = %v, want quant.Int8 round trip of the fp32 row %v", i, got[i*d:(i+1)*d], dec)
		}
	}
}

// TestInt8ApplyFollowsSpec recomputes an update from the documented rule:
// decode, optimizer step in float32, re-encode with quant.Int8's stochastic
// rounding seeded from (seed, Apply number, row).
func TestInt8ApplyFollowsSpec(t *testing.T) {
	const n, d, seed = 50, 6, 77
	opt := embedding.Optimizer{Name: embedding.SGD, LR: 0.5}
	r := must(embedding.NewRowsWithStorage(n, d, opt, embedding.Storage{Precision: embedding.StorageInt8, Seed: seed}))
	r.InitUniform(0, n, 0.1, 1, 0)
	rng := rand.New(rand.NewPCG(1, 2))
	for k := range uint64(5) {
		idx := []int32{3, 17, 3, 49}
		g := make([]float32, len(idx)*d)
		for i := range g {
			g[i] = float32(rng.NormFloat64())
		}
		before := readAll(r)
		r.Apply(idx, g)
		after := readAll(r)
		for _, row := range []int{3, 17, 49} {
			w := slices.Clone(before[row*d : (row+1)*d])
			for e, i := range idx {
				if int(i) == row {
					for j := range w {
						w[j] -= opt.LR * g[e*d+j]
					}
				}
			}
			if row == 3 { // two entries: the gradients are summed first
				w = slices.Clone(before[row*d : (row+1)*d])
				for j := range w {
					w[j] -= opt.LR * (g[0*d+j] + g[2*d+j])
				}
			}
			src := rand.NewPCG(hashing.Mix64(hashing.Mix64(seed^0x6A09E667F3BCC909)+k), hashing.Mix64(uint64(row)))
			code := make([]byte, d+8)
			if err := quant.Int8.EncodeRowStochastic(src, code, w); err != nil {
				t.Fatal(err)
			}
			want := make([]float32, d)
			if err := quant.Int8.DecodeRow(want, code); err != nil {
				t.Fatal(err)
			}
			if got := after[row*d : (row+1)*d]; !slices.Equal(got, want) {
				t.Fatalf("apply %d, row %d = %v, want %v", k, row, got, want)
			}
		}
		for row := range n {
			if row != 3 && row != 17 && row != 49 && !slices.Equal(before[row*d:(row+1)*d], after[row*d:(row+1)*d]) {
				t.Fatalf("apply %d changed untouched row %d", k, row)
			}
		}
	}
}

// TestInt8SubStepUpdatesAccumulate shows the point of stochastic rounding:
// updates 40 times smaller than a quantization step still move a value by
// their sum on average (round to nearest would never move it).
func TestInt8SubStepUpdatesAccumulate(t *testing.T) {
	r := must(embedding.NewRowsWithStorage(1, 3, embedding.Optimizer{Name: embedding.SGD, LR: 1},
		embedding.Storage{Precision: embedding.StorageInt8, Seed: 3}))
	r.WriteRows(0, []float32{0, 1, 0.5}) // step 1/255
	const steps, delta = 4000, 1e-4
	g := []float32{0, 0, -delta}
	for range steps {
		r.Apply([]int32{0}, g)
	}
	got := readAll(r)
	// The moved value is about step·Binomial(4000, 255e-4): mean 0.4,
	// standard deviation 0.04.
	if moved := float64(got[2]) - 0.5; math.Abs(moved-steps*delta) > 0.16 {
		t.Errorf("value moved by %v after %d updates of %v, want about %v", moved, steps, delta, steps*delta)
	}
	if got[0] != 0 || math.Abs(float64(got[1])-1) > 1.0/255 {
		t.Errorf("row ends %v, want the untouched values 0 and 1 kept (within a step)", got)
	}
}

// TestInt8ConvergesLikeFP32 fits hashed, full and hybrid tables to random
// target vectors with each optimizer, in fp32 and in int8, and checks that
// int8 training ends close to fp32's loss.
func TestInt8ConvergesLikeFP32(t *testing.T) {
	const ids, dim, batch, steps = 1000, 16, 256, 300
	rng := rand.New(rand.NewPCG(9, 9))
	target := make([]float32, ids*dim)
	for i := range target {
		target[i] = float32(rng.NormFloat64() * 0.3)
	}
	lrs := map[string]float32{embedding.SGD: 0.5, embedding.RowwiseAdagrad: 0.1, embedding.Adagrad: 0.1, embedding.LazyAdam: 0.01}
	// Id k is hashing.Mix64(k). loss is the mean of 0.5‖out - target‖²
	// over every id.
	loss := func(tbl embedding.Table) float64 {
		all := make([]uint64, ids)
		for i := range all {
			all[i] = hashing.Mix64(uint64(i))
		}
		out := make([]float32, ids*dim)
		tbl.Lookup(all, out)
		var l float64
		for i, v := range out {
			e := float64(v - target[i])
			l += 0.5 * e * e
		}
		return l / ids
	}
	train := func(tbl embedding.Trainable) float64 {
		rng := rand.New(rand.NewPCG(1, 1))
		k := make([]int, batch)
		b := make([]uint64, batch)
		out := make([]float32, batch*dim)
		for range steps {
			for i := range b {
				k[i] = rng.IntN(ids)
				b[i] = hashing.Mix64(uint64(k[i]))
			}
			tbl.Lookup(b, out)
			for i, id := range k {
				for j := range dim {
					out[i*dim+j] -= target[id*dim+j]
				}
			}
			tbl.Apply(b, out)
		}
		return loss(tbl)
	}
	vocab := make([]uint64, ids)
	for i := range vocab {
		vocab[i] = hashing.Mix64(uint64(i))
	}
	kinds := []struct {
		name  string
		build func(opt embedding.Optimizer, storage string) embedding.Trainable
	}{
		{"hashed", func(opt embedding.Optimizer, storage string) embedding.Trainable {
			return must(embedding.NewHashed(embedding.Config{Dim: dim, Rows: []int{2 * ids}, Optimizer: opt,
				Seed: 4, Storage: storage}))
		}},
		{"full", func(opt embedding.Optimizer, storage string) embedding.Trainable {
			return must(embedding.NewFull([][]uint64{vocab}, embedding.Config{Dim: dim, Optimizer: opt,
				Seed: 4, Storage: storage}))
		}},
		{"hybrid", func(opt embedding.Optimizer, storage string) embedding.Trainable {
			return must(embedding.NewHybrid([][]uint64{vocab[:ids/2]}, embedding.HybridConfig{Dim: dim,
				TailRows: []int{ids}, Optimizer: opt, Seed: 4, Storage: storage}))
		}},
	}
	for _, k := range kinds {
		kind, build := k.name, k.build
		for _, name := range embedding.OptimizerNames() {
			opt := embedding.Optimizer{Name: name, LR: lrs[name]}
			fp := build(opt, "")
			l0 := loss(fp)
			lf := train(fp)
			lq := train(build(opt, embedding.StorageInt8))
			if !(lf < 0.5*l0) {
				t.Errorf("%s %s: fp32 training did not converge (%v -> %v)", kind, name, l0, lf)
			}
			// int8 storage converges like fp32: within 2% (+0.001) of its
			// loss either way (it is measured at 0.1% or less), and not
			// identical to it (the int8 rows were used: stochastic
			// rounding moves the loss).
			if !(math.Abs(lq-lf) <= 0.02*lf+0.001) {
				t.Errorf("%s %s: int8 loss %v, fp32 %v: more than 2%% apart", kind, name, lq, lf)
			}
			if lq == lf {
				t.Errorf("%s %s: int8 loss equals fp32's exactly (%v): the int8 storage was not used", kind, name, lq)
			}
		}
	}
}

// TestInt8ThreadsBitIdentical trains int8 tables with 1 and 4 threads and
// compares their saved streams (codes, optimizer state, Apply count).
func TestInt8ThreadsBitIdentical(t *testing.T) {
	heads := hybridHeads(64, 0, 200)
	for _, opt := range optimizersUnderTest {
		var streams [2][]byte
		for k, threads := range []int{1, 4} {
			tbl := must(embedding.NewHybrid(heads, embedding.HybridConfig{Dim: 16, TailRows: []int{300, 500, 300},
				Optimizer: opt, Seed: 11, Storage: embedding.StorageInt8}))
			tbl.SetThreads(threads)
			rng := rand.New(rand.NewPCG(3, 4))
			for range 10 {
				ids := make([]uint64, 4096*3)
				for i := range ids {
					ids[i] = heads[2][rng.IntN(len(heads[2]))] ^ uint64(rng.IntN(3))
				}
				g := make([]float32, len(ids)*16)
				for i := range g {
					g[i] = 2*rng.Float32() - 1
				}
				tbl.Apply(ids, g)
			}
			streams[k] = saveBytes(t, tbl)
		}
		if !bytes.Equal(streams[0], streams[1]) {
			t.Errorf("%s: 1 and 4 threads give different tables", opt.Name)
		}
	}
}

func TestInt8SaveFormat(t *testing.T) {
	cfg := embedding.Config{Dim: 4, Rows: []int{30, 20}, Optimizer: embedding.Optimizer{Name: embedding.LazyAdam, LR: 0.01}, Seed: 2}
	fp := must(embedding.NewHashed(cfg))
	cfg.Storage = embedding.StorageInt8
	q := must(embedding.NewHashed(cfg))
	ids := []uint64{1, 2, 3, 4, 5, 6}
	q.Apply(ids, make([]float32, 6*4))
	q.Apply(ids, slices.Repeat([]float32{0.5}, 6*4))
	fs, qs := saveBytes(t, fp), saveBytes(t, q)
	if v := binary.LittleEndian.Uint32(fs[8:]); v != 1 || bytes.Contains(fs, []byte(`"storage"`)) {
		t.Errorf("fp32 stream: version %d, storage key %t; want version 1 and no storage key", v, bytes.Contains(fs, []byte(`"storage"`)))
	}
	if v := binary.LittleEndian.Uint32(qs[8:]); v != 2 || !bytes.Contains(qs, []byte(`"storage":"int8"`)) {
		t.Errorf("int8 stream: version %d; want 2 and storage int8 in the config", v)
	}
	// fp32 stream: header, rows header, 50*4 floats, 50*2*4 floats of
	// state, 50 counts, end. int8: the Apply count and 50*(4+8) bytes of
	// rows instead.
	hdr := 16 + int(binary.LittleEndian.Uint32(qs[12:]))
	if want := hdr + 20 + 8 + 50*12 + 50*8*4 + 50*4 + 8; len(qs) != want {
		t.Errorf("int8 stream is %d bytes, want %d", len(qs), want)
	}
	if got := binary.LittleEndian.Uint64(qs[hdr+20:]); got != 2 {
		t.Errorf("saved Apply count %d, want 2", got)
	}

	// Load rebuilds an int8 table that continues bit-identically.
	loaded, err := embedding.Load(bytes.NewReader(qs))
	if err != nil {
		t.Fatal(err)
	}
	if c := loaded.(*embedding.Hashed).Config(); c.Storage != embedding.StorageInt8 {
		t.Fatalf("loaded config storage %q", c.Storage)
	}
	g := slices.Repeat([]float32{-0.3}, 6*4)
	q.Apply(ids, g)
	loaded.Apply(ids, g)
	if !bytes.Equal(saveBytes(t, q), saveBytes(t, loaded.(embedding.Persister))) {
		t.Error("loaded table trains differently")
	}

	for _, c := range []struct {
		name string
		into embedding.Persister
		data []byte
		want error
	}{
		{"int8 stream into fp32 table", must(embedding.NewHashed(embedding.Config{Dim: 4, Rows: []int{30, 20},
			Optimizer: cfg.Optimizer, Seed: 2})), qs, embedding.ErrConfigMismatch},
		{"fp32 stream into int8 table", int8Hashed(t, 4, []int{30, 20}, cfg.Optimizer, 2), fs, embedding.ErrConfigMismatch},
		{"int8 config in a version 1 stream", q, setVersion(qs, 1), embedding.ErrCorrupt},
		{"fp32 config in a version 2 stream", fp, setVersion(fs, 2), embedding.ErrCorrupt},
		{"int8 config without field dims in a version 3 stream", q, setVersion(qs, 3), embedding.ErrCorrupt},
		{"version 4", q, setVersion(qs, 4), embedding.ErrVersion},
		{"truncated rows", q, qs[:hdr+20+8+100], nil},
		{"truncated Apply count", q, qs[:hdr+20+4], nil},
	} {
		err := c.into.Load(bytes.NewReader(c.data))
		if err == nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s: Load error %v, want %v", c.name, err, c.want)
		}
	}
}

func setVersion(b []byte, v uint32) []byte {
	b = slices.Clone(b)
	binary.LittleEndian.PutUint32(b[8:], v)
	return b
}

func TestInt8HybridSaveLoad(t *testing.T) {
	heads := hybridHeads(10, 5)
	c := embedding.HybridConfig{Dim: 3, TailRows: []int{7, 9}, Optimizer: rowwise01, Seed: 1, Storage: embedding.StorageInt8}
	tbl := must(embedding.NewHybrid(heads, c))
	ids := []uint64{heads[0][1], 5, 6, heads[1][0]}
	tbl.Apply(ids, slices.Repeat([]float32{1, -1, 0.5}, 4))
	s := saveBytes(t, tbl)
	if v := binary.LittleEndian.Uint32(s[8:]); v != 2 {
		t.Errorf("int8 hybrid stream version %d, want 2", v)
	}
	got, err := embedding.LoadHybrid(bytes.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	if got.Config().Storage != embedding.StorageInt8 || !bytes.Equal(saveBytes(t, got), s) {
		t.Errorf("LoadHybrid: storage %q, stream equal %t", got.Config().Storage, bytes.Equal(saveBytes(t, got), s))
	}
	if _, err := embedding.LoadHybrid(bytes.NewReader(setVersion(s, 1))); !errors.Is(err, embedding.ErrCorrupt) {
		t.Errorf("int8 hybrid config in a version 1 stream: %v", err)
	}
	fp := c
	fp.Storage = ""
	if err := must(embedding.NewHybrid(heads, fp)).Load(bytes.NewReader(s)); !errors.Is(err, embedding.ErrConfigMismatch) {
		t.Errorf("int8 hybrid stream into an fp32 table: %v", err)
	}
}

// TestInt8RowStore covers the RowStore path that post-training code takes
// (quantized evaluation, export): Params is nil, ReadRows and WriteRows
// work, and writing back what was read changes nothing.
func TestInt8RowStore(t *testing.T) {
	tbl := int8Hashed(t, 5, []int{40, 25}, rowwise01, 8)
	rng := rand.New(rand.NewPCG(5, 5))
	ids := make([]uint64, 200)
	for i := range ids {
		ids[i] = rng.Uint64()
	}
	g := make([]float32, len(ids)*5)
	for i := range g {
		g[i] = float32(rng.NormFloat64())
	}
	tbl.Apply(ids, g)

	rs := tbl.RowSets()
	if len(rs) != 1 {
		t.Fatalf("%d row sets", len(rs))
	}
	r := rs[0]
	if r.Params() != nil || r.Row(0) != nil || tbl.Params(0) != nil {
		t.Error("Params or Row of int8 storage is not nil")
	}
	if s := r.Storage(); s.Precision != embedding.StorageInt8 || s.Seed != 8 {
		t.Errorf("Storage() = %+v", s)
	}
	all := readAll(r)
	idx := []int32{0, 64, 7, 7}
	out := make([]float32, len(idx)*5)
	r.Gather(idx, out)
	for i, row := range idx {
		if !slices.Equal(out[i*5:(i+1)*5], all[int(row)*5:int(row+1)*5]) {
			t.Fatalf("Gather row %d differs from ReadRows", row)
		}
	}
	part := make([]float32, 3*5)
	r.ReadRows(10, part)
	if !slices.Equal(part, all[50:65]) {
		t.Fatal("ReadRows(10, 3 rows) differs from the whole read")
	}

	saved := saveBytes(t, tbl)
	r.WriteRows(0, all)
	if !bytes.Equal(saveBytes(t, tbl), saved) {
		t.Error("writing back the rows read changed the table")
	}

	// New values are rounded to nearest: within half a step of the row.
	vals := make([]float32, len(all))
	for i := range vals {
		vals[i] = float32(rng.NormFloat64())
	}
	r.WriteRows(0, vals)
	got := readAll(r)
	for i := range r.Len() {
		v := vals[i*5 : (i+1)*5]
		half := (slices.Max(v) - slices.Min(v)) / 255 / 2
		for j := range v {
			if d := math.Abs(float64(got[i*5+j] - v[j])); d > float64(half)*1.001+1e-7 {
				t.Fatalf("row %d value %d: wrote %v, read %v (half a step is %v)", i, j, v[j], got[i*5+j], half)
			}
		}
	}

	// Values int8 cannot hold make the row NaN, not a panic.
	r.WriteRows(3, []float32{1, float32(math.Inf(1)), 0, 0, 0})
	r.ReadRows(3, part[:5])
	for _, v := range part[:5] {
		if !math.IsNaN(float64(v)) {
			t.Fatalf("row written with +Inf reads %v, want NaN", part[:5])
		}
	}

	// Int8Data is quant's int8 format: quant.NewTable reads the same
	// rows, and a copy of it is an exact undo of WriteRows.
	data := r.Int8Data()
	if len(data) != r.Len()*(r.Dim()+8) {
		t.Fatalf("Int8Data has %d bytes, want %d", len(data), r.Len()*(r.Dim()+8))
	}
	qt, err := quant.NewTable(quant.Int8, r.Len(), r.Dim(), r.Dim()+8, data)
	if err != nil {
		t.Fatal(err)
	}
	all = readAll(r)
	fromQuant := make([]float32, len(all))
	rowsAll := make([]int32, r.Len())
	for i := range rowsAll {
		rowsAll[i] = int32(i)
	}
	if err := qt.GatherRows(rowsAll, fromQuant); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(fromQuant[:15], all[:15]) || !slices.Equal(fromQuant[20:], all[20:]) { // row 3 is NaN
		t.Error("quant.Table over Int8Data reads other values than ReadRows")
	}
	undo := slices.Clone(data)
	before := saveBytes(t, tbl)
	r.WriteRows(0, vals)
	copy(r.Int8Data(), undo)
	if !bytes.Equal(saveBytes(t, tbl), before) {
		t.Error("restoring a copy of Int8Data did not restore the table")
	}
	if must(embedding.NewRows(2, 2, rowwise01)).Int8Data() != nil {
		t.Error("Int8Data of an fp32 store is not nil")
	}

	mustPanic(t, "ReadRows past the end", func() { r.ReadRows(r.Len()-1, make([]float32, 10)) })
	mustPanic(t, "WriteRows of a partial row", func() { r.WriteRows(0, make([]float32, 4)) })
	mustPanic(t, "ReadRows before row 0", func() { r.ReadRows(-1, make([]float32, 5)) })
}

func mustPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s did not panic", what)
		}
	}()
	f()
}

// TestInt8DivergingUpdate checks that an update int8 cannot hold reads as
// NaN, as it would in fp32, and touches no other row.
func TestInt8DivergingUpdate(t *testing.T) {
	for _, storage := range []string{"", embedding.StorageInt8} {
		tbl := must(embedding.NewHashed(embedding.Config{Dim: 2, Rows: []int{10},
			Optimizer: embedding.Optimizer{Name: embedding.SGD, LR: 1}, Seed: 1, Storage: storage}))
		before := readAll(tbl.RowSets()[0])
		tbl.Apply([]uint64{42}, []float32{float32(math.Inf(-1)), 0})
		after := readAll(tbl.RowSets()[0])
		row := int(hashing.Bucket(42, 10))
		changed := 0
		for i := range after {
			if !slices.Equal(before[i:i+1], after[i:i+1]) {
				changed++
			}
		}
		if storage == embedding.StorageInt8 {
			if !math.IsNaN(float64(after[2*row])) || !math.IsNaN(float64(after[2*row+1])) || changed != 2 {
				t.Errorf("int8: row after an infinite update %v, %d values changed", after[2*row:2*row+2], changed)
			}
		} else if !math.IsInf(float64(after[2*row]), 1) || changed != 1 {
			t.Errorf("fp32: row after an infinite update %v", after[2*row:2*row+2])
		}
	}
}

func TestStorageConfig(t *testing.T) {
	base := embedding.Config{Method: embedding.MethodHashed, Dim: 4, Rows: []int{10}, Optimizer: rowwise01}
	for in, want := range map[string]string{"": "", "fp32": "", "int8": "int8"} {
		c := base
		c.Storage = in
		got, err := c.WithDefaults()
		if err != nil || got.Storage != want {
			t.Errorf("Storage %q: WithDefaults gives %q, %v; want %q", in, got.Storage, err, want)
		}
	}
	bad := base
	bad.Storage = "bf16"
	if _, err := embedding.NewHashed(bad); !errors.Is(err, embedding.ErrConfig) || !strings.Contains(err.Error(), "bf16") {
		t.Errorf("storage bf16: %v", err)
	}
	if _, err := embedding.NewHybrid([][]uint64{nil}, embedding.HybridConfig{Dim: 4, TailRows: []int{3},
		Optimizer: rowwise01, Storage: "int4"}); !errors.Is(err, embedding.ErrConfig) {
		t.Errorf("hybrid storage int4: %v", err)
	}
	if _, err := embedding.NewRowsWithStorage(3, 4, rowwise01, embedding.Storage{Precision: "fp16"}); !errors.Is(err, embedding.ErrConfig) {
		t.Errorf("rows storage fp16: %v", err)
	}
	r := must(embedding.NewRows(3, 4, rowwise01))
	if s := r.Storage(); s.Precision != embedding.StorageFP32 || r.Params() == nil {
		t.Errorf("NewRows: Storage %+v, Params nil %t", s, r.Params() == nil)
	}
}
