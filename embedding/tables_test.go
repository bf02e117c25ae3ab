package embedding_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math"
	"runtime"
	"slices"
	"testing"

	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/hashing"
)

var rowwise = embedding.Optimizer{Name: embedding.RowwiseAdagrad, LR: 0.05}

func lookup(t embedding.Table, ids ...uint64) []float32 {
	out := make([]float32, len(ids)*t.Dim())
	t.Lookup(ids, out)
	return out
}

func ones(n int) []float32 {
	g := make([]float32, n)
	for i := range g {
		g[i] = 1
	}
	return g
}

func TestHashedRows(t *testing.T) {
	cfg := embedding.Config{Method: embedding.MethodHashed, Dim: 4, Rows: []int{7, 5}, Optimizer: rowwise, Seed: 1}
	h := must(embedding.NewHashed(cfg))
	// Every id of field f reads row Bucket(id, rows[f]) of Params(f).
	for id := uint64(0); id < 2000; id += 97 {
		id := hashing.Mix64(id)
		out := lookup(h, id, id)
		for f, n := range cfg.Rows {
			row := hashing.Bucket(id, uint64(n))
			if !slices.Equal(out[f*4:f*4+4], h.Params(f)[row*4:row*4+4]) {
				t.Fatalf("field %d id %#x: lookup %v is not row %d", f, id, out[f*4:f*4+4], row)
			}
		}
	}
	if got := h.Config(); got.InitScale != embedding.DefaultInitScale || got.Optimizer.Eps != 1e-8 {
		t.Errorf("Config() = %+v: defaults not filled in", got)
	}
	if b := h.Bytes(); b.Params != 12*4*4 || b.Optimizer != 12*4 || b.Index != 0 {
		t.Errorf("Bytes() = %+v", b)
	}
}

func TestFullOOV(t *testing.T) {
	vocab := [][]uint64{{10, 20, 30, 0}, {}}
	f := must(embedding.NewFull(vocab, embedding.Config{Dim: 4, Optimizer: rowwise, Seed: 9}))
	if got := f.Config().Rows; !slices.Equal(got, []int{5, 1}) {
		t.Fatalf("Rows = %v, want [5 1]", got)
	}
	// Known ids have their own rows; unknown ids share the OOV row.
	seen := map[[4]float32]uint64{}
	for _, id := range []uint64{10, 20, 30, 0} {
		v := [4]float32(lookup(f, id, 1)[:4])
		if other, dup := seen[v]; dup {
			t.Fatalf("ids %d and %d share a vector", id, other)
		}
		seen[v] = id
	}
	oov := lookup(f, 11, 1)
	for _, id := range []uint64{11, 12, 1 << 60} {
		got := lookup(f, id, id)
		if !slices.Equal(got, oov) {
			t.Fatalf("unknown id %d: %v, want the OOV rows %v", id, got, oov)
		}
		if _, dup := seen[[4]float32(got[:4])]; dup {
			t.Fatal("OOV row equals a known id's row")
		}
	}
	if !slices.Equal(lookup(f, 10, 2)[:4], f.Params(0)[:4]) || !slices.Equal(oov[:4], f.Params(0)[16:20]) {
		t.Fatal("row order: vocab[k] should be row k and OOV the last row")
	}
	// Training an unknown id trains the OOV row, not the known ones.
	known := lookup(f, 10, 1)
	f.Apply([]uint64{99, 5}, ones(8))
	if slices.Equal(lookup(f, 12, 1), oov) {
		t.Fatal("Apply of an unknown id did not train the OOV row")
	}
	if !slices.Equal(lookup(f, 10, 1)[:4], known[:4]) {
		t.Fatal("Apply of an unknown id changed a known id")
	}
	if got := f.Vocab(0); !slices.Equal(got, vocab[0]) {
		t.Fatalf("Vocab(0) = %v, want %v", got, vocab[0])
	}
	if b := f.Bytes(); b.Index <= 0 || b.Params != 6*4*4 {
		t.Fatalf("Bytes() = %+v", b)
	}
	if _, err := embedding.NewFull([][]uint64{{1, 2, 1}}, embedding.Config{Dim: 4, Optimizer: rowwise}); !errors.Is(err, embedding.ErrDuplicateID) {
		t.Fatalf("duplicate vocabulary id: error %v, want ErrDuplicateID", err)
	}
}

// qrPairs finds ids of field 0 in the relations the tests need.
func qrPairs(q, r uint64) (base, sameQ, sameR, sameBoth uint64) {
	base = hashing.Mix64(1)
	bq, br := hashing.QR(base, q, r)
	bx := hashing.Bucket(base, q*r)
	var found [3]bool
	for i := uint64(2); !(found[0] && found[1] && found[2]); i++ {
		id := hashing.Mix64(i)
		iq, ir := hashing.QR(id, q, r)
		switch {
		case hashing.Bucket(id, q*r) == bx && !found[2]:
			sameBoth, found[2] = id, true
		case iq == bq && ir != br && !found[0]:
			sameQ, found[0] = id, true
		case ir == br && iq != bq && !found[1]:
			sameR, found[1] = id, true
		}
	}
	return
}

func TestQRDistinctPairs(t *testing.T) {
	for _, combine := range []string{embedding.CombineMul, embedding.CombineSum} {
		t.Run(combine, func(t *testing.T) {
			cfg := embedding.Config{Method: embedding.MethodQR, Dim: 4, Rows: []int{5}, RemRows: []int{7},
				Combine: combine, Optimizer: rowwise, Seed: 5}
			tbl := must(embedding.NewQR(cfg))
			// Train every row so that none is at its initial value of 1.
			var all []uint64
			for i := range uint64(200) {
				all = append(all, hashing.Mix64(i+1000))
			}
			tbl.Apply(all, ones(len(all)*4))
			base, sameQ, sameR, sameBoth := qrPairs(5, 7)
			vb := lookup(tbl, base)
			if !slices.Equal(vb, lookup(tbl, sameBoth)) {
				t.Fatal("ids in one virtual bucket should share their vector")
			}
			for name, id := range map[string]uint64{"quotient": sameQ, "remainder": sameR} {
				if slices.Equal(vb, lookup(tbl, id)) {
					t.Fatalf("ids sharing only the %s row have equal vectors", name)
				}
			}
			// Gradients flow to both rows: training base moves the ids
			// that share either of its rows.
			vq, vr := lookup(tbl, sameQ), lookup(tbl, sameR)
			tbl.Apply([]uint64{base}, ones(4))
			if slices.Equal(vq, lookup(tbl, sameQ)) || slices.Equal(vr, lookup(tbl, sameR)) {
				t.Fatal("Apply did not reach both the quotient and the remainder row")
			}
			// The combination is the product (or sum) of Params' rows.
			quo, rem := tbl.Params(0)
			qi, ri := hashing.QR(base, 5, 7)
			got := lookup(tbl, base)
			for j := range 4 {
				want := quo[int(qi)*4+j] * rem[int(ri)*4+j]
				if combine == embedding.CombineSum {
					want = quo[int(qi)*4+j] + rem[int(ri)*4+j]
				}
				if got[j] != want {
					t.Fatalf("lookup[%d] = %v, want %v", j, got[j], want)
				}
			}
		})
	}
}

func TestQRInit(t *testing.T) {
	cfg := embedding.Config{Method: embedding.MethodQR, Dim: 4, Rows: []int{50}, RemRows: []int{60},
		Optimizer: rowwise, InitScale: 0.1, Seed: 5}
	tbl := must(embedding.NewQR(cfg))
	quo, rem := tbl.Params(0)
	for _, x := range rem {
		if x != 1 {
			t.Fatalf("mul: remainder rows should start at 1, got %v", x)
		}
	}
	for _, x := range quo {
		if x < -0.1 || x > 0.1 {
			t.Fatalf("mul: quotient value %v outside the init scale", x)
		}
	}
}

func TestInitUniform(t *testing.T) {
	const n, dim = 3*4096 + 17, 5
	opt := embedding.Optimizer{Name: embedding.SGD, LR: 1}
	a := must(embedding.NewRows(n, dim, opt))
	a.InitUniform(0, n, 0.25, 7, 3)
	// Independent of GOMAXPROCS.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	b := must(embedding.NewRows(n, dim, opt))
	b.InitUniform(0, n, 0.25, 7, 3)
	if !slices.Equal(a.Params(), b.Params()) {
		t.Fatal("init depends on GOMAXPROCS")
	}
	// Row i of a range depends only on (seed, stream, i).
	c := must(embedding.NewRows(n+10, dim, opt))
	c.InitUniform(10, n+10, 0.25, 7, 3)
	if !slices.Equal(a.Params(), c.Params()[10*dim:]) {
		t.Fatal("init depends on the range's position")
	}
	var sum, sumSq float64
	for _, x := range a.Params() {
		if x < -0.25 || x >= 0.25 {
			t.Fatalf("value %v outside [-0.25, 0.25)", x)
		}
		sum += float64(x)
		sumSq += float64(x) * float64(x)
	}
	m := float64(len(a.Params()))
	if mean, v := sum/m, sumSq/m; math.Abs(mean) > 0.005 || math.Abs(v-0.25*0.25/3) > 0.001 {
		t.Fatalf("mean %v, second moment %v: want 0 and %v for U(-0.25, 0.25)", mean, v, 0.25*0.25/3)
	}
	d := must(embedding.NewRows(n, dim, opt))
	d.InitUniform(0, n, 0.25, 8, 3)
	if slices.Equal(a.Params(), d.Params()) {
		t.Fatal("different seeds give the same init")
	}
}

func TestNewErrors(t *testing.T) {
	base := embedding.Config{Method: embedding.MethodHashed, Dim: 4, Rows: []int{3}, Optimizer: rowwise}
	with := func(f func(c *embedding.Config)) embedding.Config {
		c := base
		f(&c)
		return c
	}
	cases := []struct {
		name string
		cfg  embedding.Config
		want error
	}{
		{"method", with(func(c *embedding.Config) { c.Method = "lsh" }), embedding.ErrUnknownMethod},
		{"full", with(func(c *embedding.Config) { c.Method = embedding.MethodFull }), embedding.ErrVocabRequired},
		{"dim", with(func(c *embedding.Config) { c.Dim = 0 }), embedding.ErrConfig},
		{"no fields", with(func(c *embedding.Config) { c.Rows = nil }), embedding.ErrConfig},
		{"zero rows", with(func(c *embedding.Config) { c.Rows = []int{3, 0} }), embedding.ErrConfig},
		{"too many rows", with(func(c *embedding.Config) { c.Rows = []int{math.MaxInt32, 1} }), embedding.ErrTooManyRows},
		{"optimizer", with(func(c *embedding.Config) { c.Optimizer.Name = "" }), embedding.ErrUnknownOptimizer},
		{"scale", with(func(c *embedding.Config) { c.InitScale = -1 }), embedding.ErrConfig},
		{"hashed combine", with(func(c *embedding.Config) { c.Combine = "mul" }), embedding.ErrConfig},
		{"qr rem rows", with(func(c *embedding.Config) { c.Method = embedding.MethodQR }), embedding.ErrConfig},
		{"qr combine", with(func(c *embedding.Config) {
			c.Method, c.RemRows, c.Combine = embedding.MethodQR, []int{2}, "max"
		}), embedding.ErrConfig},
	}
	for _, c := range cases {
		if _, err := embedding.New(c.cfg); !errors.Is(err, c.want) {
			t.Errorf("%s: New error %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := embedding.NewQR(base); !errors.Is(err, embedding.ErrConfig) {
		t.Errorf("NewQR of a hashed config: error %v, want ErrConfig", err)
	}
}

// saved returns t's Save stream.
func saved(t *testing.T, tbl embedding.Persister) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := tbl.Save(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestLoadAnyTable(t *testing.T) {
	opt := embedding.Optimizer{Name: embedding.LazyAdam, LR: 0.01}
	tables := map[string]embedding.Trainable{
		"hashed": must(embedding.New(embedding.Config{Method: "hashed", Dim: 3, Rows: []int{10, 20}, Optimizer: opt, Seed: 1})),
		"qr": must(embedding.New(embedding.Config{Method: "qr", Dim: 3, Rows: []int{4, 5}, RemRows: []int{6, 7},
			Combine: "sum", Optimizer: opt, Seed: 2})),
		"full": must(embedding.NewFull([][]uint64{{1, 2, 3}, {4}}, embedding.Config{Dim: 3, Optimizer: opt, Seed: 3})),
	}
	ids := []uint64{1, 4, 2, 5, 3, 4, 9, 9}
	for name, tbl := range tables {
		t.Run(name, func(t *testing.T) {
			tbl.Apply(ids, ones(len(ids)*3))
			data := saved(t, tbl.(embedding.Persister))
			got, err := embedding.Load(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			c1 := tbl.(interface{ Config() embedding.Config }).Config()
			c2 := got.(interface{ Config() embedding.Config }).Config()
			j1, _ := json.Marshal(c1)
			j2, _ := json.Marshal(c2)
			if !bytes.Equal(j1, j2) {
				t.Fatalf("config %s, want %s", j2, j1)
			}
			if !slices.Equal(lookup(got, ids...), lookup(tbl, ids...)) {
				t.Fatal("loaded table differs")
			}
			if !bytes.Equal(saved(t, got.(embedding.Persister)), data) {
				t.Fatal("second Save differs")
			}
			// The config in the stream round-trips through JSON.
			var c embedding.Config
			n := binary.LittleEndian.Uint32(data[12:])
			if err := json.Unmarshal(data[16:16+n], &c); err != nil || c.Method != name {
				t.Fatalf("header config %s: %v", data[16:16+n], err)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	cfg := embedding.Config{Method: "hashed", Dim: 3, Rows: []int{10}, Optimizer: rowwise, Seed: 1}
	data := saved(t, must(embedding.NewHashed(cfg)))
	other := cfg
	other.Seed = 2
	otherData := saved(t, must(embedding.NewHashed(other)))
	corrupt := func(f func(b []byte) []byte) []byte { return f(slices.Clone(data)) }
	cases := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, io.EOF},
		{"magic", corrupt(func(b []byte) []byte { b[0] = 'X'; return b }), embedding.ErrBadMagic},
		{"version", corrupt(func(b []byte) []byte { b[8] = 9; return b }), embedding.ErrVersion},
		{"config length", corrupt(func(b []byte) []byte { b[15] = 0x7F; return b }), embedding.ErrCorrupt},
		{"config json", corrupt(func(b []byte) []byte { b[16] = '['; return b }), embedding.ErrCorrupt},
		{"end marker", corrupt(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), embedding.ErrCorrupt},
		{"truncated", data[:len(data)-20], io.ErrUnexpectedEOF},
		{"other config", otherData, embedding.ErrConfigMismatch},
	}
	for _, c := range cases {
		err := must(embedding.NewHashed(cfg)).Load(bytes.NewReader(c.data))
		if !errors.Is(err, c.want) {
			t.Errorf("%s: Load error %v, want %v", c.name, err, c.want)
		}
	}
	// A full table's Load takes another vocabulary but not another config.
	opt := embedding.Optimizer{Name: embedding.SGD, LR: 1}
	f1 := must(embedding.NewFull([][]uint64{{1}}, embedding.Config{Dim: 2, Optimizer: opt}))
	f2 := must(embedding.NewFull([][]uint64{{5, 6, 7}}, embedding.Config{Dim: 2, Optimizer: opt}))
	if err := f1.Load(bytes.NewReader(saved(t, f2))); err != nil {
		t.Fatalf("full Load of another vocabulary: %v", err)
	}
	if !slices.Equal(f1.Vocab(0), []uint64{5, 6, 7}) || !slices.Equal(lookup(f1, 6), lookup(f2, 6)) {
		t.Fatal("full Load did not take the saved vocabulary")
	}
	f3 := must(embedding.NewFull([][]uint64{{1}}, embedding.Config{Dim: 3, Optimizer: opt}))
	if err := f1.Load(bytes.NewReader(saved(t, f3))); !errors.Is(err, embedding.ErrConfigMismatch) {
		t.Fatalf("full Load of another dim: error %v, want ErrConfigMismatch", err)
	}
	if !slices.Equal(f1.Vocab(0), []uint64{5, 6, 7}) {
		t.Fatal("failed full Load changed the table")
	}
}
