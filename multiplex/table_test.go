package multiplex_test

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/embedding/embtest"
	"github.com/embtab/embtab/hashing"
	"github.com/embtab/embtab/multiplex"
)

var optimizersUnderTest = []embedding.Optimizer{
	{Name: embedding.SGD, LR: 0.05},
	{Name: embedding.RowwiseAdagrad, LR: 0.05},
	{Name: embedding.Adagrad, LR: 0.05},
	{Name: embedding.LazyAdam, LR: 0.01},
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// conformanceConfigs are small tables of every method and shape.
var conformanceConfigs = []struct {
	name string
	cfg  multiplex.Config
}{
	{"multiplex", multiplex.Config{Method: multiplex.MethodMultiplex, Fields: 3, Dim: 8, Rows: []int{1500}}},
	{"unified/default", multiplex.Config{Method: multiplex.MethodUnified, Fields: 3, Dim: 8, Rows: []int{1500}}},
	{"unified/mixed-pool", multiplex.Config{Method: multiplex.MethodUnified, Dim: 12, ChunkDim: 4,
		Chunks: []int{2, 1, 3}, Tables: 2, Rows: []int{800, 700}}},
	{"unified/padded", multiplex.Config{Method: multiplex.MethodUnified, Fields: 2, Dim: 10, ChunkDim: 4,
		Chunks: []int{1, 2}, Rows: []int{700, 600, 500}}},
	{"multiprobe", multiplex.Config{Method: multiplex.MethodMultiProbe, Fields: 3, Dim: 8, Rows: []int{2000}}},
	{"multiprobe/3", multiplex.Config{Method: multiplex.MethodMultiProbe, Fields: 2, Dim: 4, Probes: 3, Rows: []int{3000}}},
}

func TestTable(t *testing.T) {
	for _, c := range conformanceConfigs {
		for _, opt := range optimizersUnderTest {
			t.Run(c.name+"/"+opt.Name, func(t *testing.T) {
				cfg := c.cfg
				cfg.Optimizer, cfg.Seed = opt, 17
				embtest.TestTable(t, func() embedding.Trainable { return must(multiplex.New(cfg)) })
			})
		}
	}
}

// TestLookupSpec checks Lookup against the documented spec: slot j of a
// field reads row Bucket(Probe(id, j), Rows[p]) of pool table j mod
// Tables; unified vectors concatenate and pad with zeros, multiprobe
// vectors sum.
func TestLookupSpec(t *testing.T) {
	for _, c := range conformanceConfigs {
		t.Run(c.name, func(t *testing.T) {
			cfg := c.cfg
			cfg.Optimizer = embedding.Optimizer{Name: embedding.SGD, LR: 0.1}
			tbl := must(multiplex.New(cfg))
			cfg = tbl.Config()
			d, fields := tbl.Dim(), tbl.Fields()
			ids := embtest.IDs(fields)
			batch := make([]uint64, 0, 4*fields)
			for e := range 4 {
				for f := range fields {
					batch = append(batch, ids[f][e])
				}
			}
			out := make([]float32, len(batch)*d)
			tbl.Lookup(batch, out)
			for i, id := range batch {
				want := make([]float32, d)
				j := slotBase(cfg, i%fields)
				switch cfg.Method {
				case multiplex.MethodMultiProbe:
					for k := range cfg.Probes {
						for x, v := range specRow(tbl, cfg, id, j+k, d) {
							want[x] += v
						}
					}
				case multiplex.MethodMultiplex:
					copy(want, specRow(tbl, cfg, id, j, d))
				default:
					for k := range cfg.Chunks[i%fields] {
						copy(want[k*cfg.ChunkDim:], specRow(tbl, cfg, id, j+k, cfg.ChunkDim))
					}
				}
				if !slices.Equal(out[i*d:(i+1)*d], want) {
					t.Fatalf("id %d (field %d): Lookup %v, spec %v", i, i%fields, out[i*d:(i+1)*d], want)
				}
			}
		})
	}
}

// slotBase returns the first slot number of field f.
func slotBase(c multiplex.Config, f int) int {
	switch c.Method {
	case multiplex.MethodMultiProbe:
		return f * c.Probes
	case multiplex.MethodUnified:
		j := 0
		for _, n := range c.Chunks[:f] {
			j += n
		}
		return j
	}
	return f
}

func specRow(tbl *multiplex.Table, c multiplex.Config, id uint64, j, w int) []float32 {
	p := j % c.Tables
	r := int(hashing.Bucket(hashing.Probe(id, j), uint64(c.Rows[p])))
	return tbl.Params(p)[r*w : (r+1)*w]
}

// TestMultiplexIsUnified checks the documented equivalence: a unified table
// with one Dim-wide chunk per field and one table is the multiplexed table.
func TestMultiplexIsUnified(t *testing.T) {
	opt := embedding.Optimizer{Name: embedding.RowwiseAdagrad, LR: 0.1}
	m := must(multiplex.New(multiplex.Config{Method: multiplex.MethodMultiplex, Fields: 3, Dim: 4,
		Rows: []int{100}, Optimizer: opt, Seed: 3}))
	u := must(multiplex.New(multiplex.Config{Method: multiplex.MethodUnified, Dim: 4, ChunkDim: 4,
		Chunks: []int{1, 1, 1}, Rows: []int{100}, Optimizer: opt, Seed: 3}))
	ids := embtest.IDs(3)
	batch := []uint64{ids[0][0], ids[1][0], ids[2][0], ids[0][1], ids[1][1], ids[2][1]}
	g := make([]float32, len(batch)*4)
	for i := range g {
		g[i] = float32(i%7) - 3
	}
	m.Apply(batch, g)
	u.Apply(batch, g)
	if !slices.Equal(m.Params(0), u.Params(0)) {
		t.Fatal("multiplex and single-chunk unified tables differ")
	}
}

// TestInitBound checks that every initial output lies within InitScale,
// sums of probes included.
func TestInitBound(t *testing.T) {
	for _, c := range conformanceConfigs {
		t.Run(c.name, func(t *testing.T) {
			cfg := c.cfg
			cfg.Optimizer, cfg.InitScale = embedding.Optimizer{Name: embedding.SGD, LR: 0.1}, 0.02
			tbl := must(multiplex.New(cfg))
			ids := embtest.IDs(tbl.Fields())
			batch := make([]uint64, 0, embtest.PoolSize*tbl.Fields())
			for k := range embtest.PoolSize {
				for f := range tbl.Fields() {
					batch = append(batch, ids[f][k])
				}
			}
			out := make([]float32, len(batch)*tbl.Dim())
			tbl.Lookup(batch, out)
			for i, v := range out {
				if v < -0.02 || v > 0.02 {
					t.Fatalf("initial float %d = %v outside [-0.02, 0.02]", i, v)
				}
			}
		})
	}
}

func TestBytes(t *testing.T) {
	for _, c := range conformanceConfigs {
		t.Run(c.name, func(t *testing.T) {
			cfg := c.cfg
			cfg.Optimizer = embedding.Optimizer{Name: embedding.Adagrad, LR: 0.1}
			tbl := must(multiplex.New(cfg))
			b := tbl.Bytes()
			full := tbl.Config()
			if b.Params != full.ParamBytes() || b.Optimizer != b.Params || b.Index != 0 {
				t.Fatalf("Bytes %+v; config says %d parameter bytes (Adagrad: as many state bytes)", b, full.ParamBytes())
			}
		})
	}
}

func TestLoad(t *testing.T) {
	cfg := multiplex.Config{Method: multiplex.MethodUnified, Dim: 8, ChunkDim: 4, Chunks: []int{2, 1},
		Tables: 2, Rows: []int{50, 40}, Optimizer: embedding.Optimizer{Name: embedding.LazyAdam, LR: 0.01}, Seed: 9}
	a := must(multiplex.New(cfg))
	ids := embtest.IDs(2)
	batch := []uint64{ids[0][0], ids[1][0], ids[0][1], ids[1][1]}
	g := make([]float32, len(batch)*8)
	for i := range g {
		g[i] = float32(i%5) - 2
	}
	a.Apply(batch, g)
	var buf bytes.Buffer
	if err := a.Save(&buf); err != nil {
		t.Fatal(err)
	}
	saved := buf.Bytes()
	b, err := multiplex.Load(bytes.NewReader(saved))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !slices.Equal(a.Params(0), b.Params(0)) || !slices.Equal(a.Params(1), b.Params(1)) {
		t.Fatal("loaded table differs")
	}
	a.Apply(batch, g)
	b.Apply(batch, g)
	if !slices.Equal(a.Params(1), b.Params(1)) {
		t.Fatal("loaded table trains differently")
	}

	other := cfg
	other.Seed = 10
	hashed := must(embedding.NewHashed(embedding.Config{Dim: 4, Rows: []int{10},
		Optimizer: embedding.Optimizer{Name: embedding.SGD, LR: 1}}))
	var hbuf bytes.Buffer
	if err := hashed.Save(&hbuf); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		cfg  multiplex.Config
		data []byte
		want error
	}{
		{"other config", other, saved, embedding.ErrConfigMismatch},
		{"hashed stream", cfg, hbuf.Bytes(), embedding.ErrBadMagic},
		{"version", cfg, append(slices.Clone(saved[:8]), append([]byte{2, 0, 0, 0}, saved[12:]...)...), embedding.ErrVersion},
		{"bad end", cfg, append(slices.Clone(saved[:len(saved)-1]), 'Y'), embedding.ErrCorrupt},
	} {
		t.Run(c.name, func(t *testing.T) {
			tbl := must(multiplex.New(c.cfg))
			if err := tbl.Load(bytes.NewReader(c.data)); !errors.Is(err, c.want) {
				t.Fatalf("Load: err %v, want %v", err, c.want)
			}
		})
	}
	if _, err := multiplex.Load(bytes.NewReader(saved[:len(saved)/2])); err == nil {
		t.Fatal("Load of a truncated stream succeeded")
	}
}

// TestThreadedApply trains with several goroutines per pool table; run
// with -race.
func TestThreadedApply(t *testing.T) {
	for _, c := range conformanceConfigs {
		t.Run(c.name, func(t *testing.T) {
			cfg := c.cfg
			cfg.Optimizer = embedding.Optimizer{Name: embedding.RowwiseAdagrad, LR: 0.05}
			a, b := must(multiplex.New(cfg)), must(multiplex.New(cfg))
			b.SetThreads(4)
			fields := a.Fields()
			ids := embtest.IDs(fields)
			batch := make([]uint64, 4096*fields)
			for i := range batch {
				batch[i] = ids[i%fields][(i*7919)%embtest.PoolSize]
			}
			g := make([]float32, len(batch)*a.Dim())
			for i := range g {
				g[i] = float32(i%11)/5 - 1
			}
			for range 2 {
				a.Apply(batch, g)
				b.Apply(batch, g)
			}
			for p := range a.Config().Tables {
				if !slices.Equal(a.Params(p), b.Params(p)) {
					t.Fatalf("table %d: 1 and 4 threads differ", p)
				}
			}
		})
	}
}
