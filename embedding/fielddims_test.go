package embedding_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/embedding/embtest"
	"github.com/embtab/embtab/hashing"
)

// fieldDims are the per-field dims of the mixed-dim tables under test
// (Dim 8): one narrow field, one full-width field, one odd width.
var fieldDims = []int{2, 8, 5}

// mixedTable names a constructor of a mixed-dim table of 3 fields, dim 8,
// and its mapping of ids to rows (within the field's row set).
type mixedTable struct {
	name string
	new  func(opt embedding.Optimizer, storage string) embedding.Trainable
	row  func(f int, id uint64) int32
}

// mixedTables returns one constructor per method that takes field dims.
// Their tables are those of the conformance tests in conformance_test.go
// and hybrid_test.go, with fieldDims.
func mixedTables() []mixedTable {
	vocab := embtest.IDs(3)
	for f := range vocab {
		vocab[f] = vocab[f][:embtest.PoolSize*7/8]
	}
	heads := hybridHeads(64, 0, 200)
	hashedRows, tailRows := []int{1000, 600, 300}, []int{300, 500, 300}
	return []mixedTable{
		{"hashed", func(opt embedding.Optimizer, storage string) embedding.Trainable {
			return must(embedding.NewHashed(embedding.Config{Dim: 8, Rows: hashedRows,
				Optimizer: opt, Seed: 42, Storage: storage, FieldDims: fieldDims}))
		}, func(f int, id uint64) int32 {
			return int32(hashing.Bucket(id, uint64(hashedRows[f])))
		}},
		{"full", func(opt embedding.Optimizer, storage string) embedding.Trainable {
			return must(embedding.NewFull(vocab, embedding.Config{Dim: 8, Optimizer: opt, Seed: 3,
				Storage: storage, FieldDims: fieldDims}))
		}, func(f int, id uint64) int32 {
			if k := slices.Index(vocab[f], id); k >= 0 {
				return int32(k)
			}
			return int32(len(vocab[f]))
		}},
		{"hybrid", func(opt embedding.Optimizer, storage string) embedding.Trainable {
			return must(embedding.NewHybrid(heads, embedding.HybridConfig{Dim: 8, TailRows: tailRows,
				Optimizer: opt, Seed: 11, Storage: storage, FieldDims: fieldDims}))
		}, func(f int, id uint64) int32 {
			if k := slices.Index(heads[f], id); k >= 0 {
				return int32(k)
			}
			return int32(len(heads[f]) + int(hashing.Bucket(id, uint64(tailRows[f]))))
		}},
	}
}

// TestFieldDimsConformance runs the conformance suite on mixed-dim tables
// of every method that takes field dims, optimizer and storage.
func TestFieldDimsConformance(t *testing.T) {
	for _, mt := range mixedTables() {
		for _, storage := range []string{"", embedding.StorageInt8} {
			for _, opt := range optimizersUnderTest {
				name := mt.name + "/fp32/" + opt.Name
				var opts []embtest.Option
				if storage != "" {
					name = mt.name + "/int8/" + opt.Name
					opts = append(opts, embtest.Tolerance(int8Tolerance))
				}
				t.Run(name, func(t *testing.T) {
					embtest.TestTable(t, func() embedding.Trainable { return mt.new(opt, storage) }, opts...)
				})
			}
		}
	}
}

// randomBatch returns n examples of 3 fields drawn from the suite's ids,
// and gradients in [-1, 1) for dim 8.
func randomBatch(rng *rand.Rand, n int) ([]uint64, []float32) {
	pool := embtest.IDs(3)
	ids := make([]uint64, 3*n)
	for i := range ids {
		ids[i] = pool[i%3][rng.IntN(embtest.PoolSize)] ^ uint64(rng.IntN(2)) // some unknown ids
	}
	g := make([]float32, len(ids)*8)
	for i := range g {
		g[i] = 2*rng.Float32() - 1
	}
	return ids, g
}

// TestFieldDimsLookupPadded checks that every vector of a mixed-dim table
// has exactly its field's dim of learned values followed by zeros, before
// and after training.
func TestFieldDimsLookupPadded(t *testing.T) {
	rowwise := embedding.Optimizer{Name: embedding.RowwiseAdagrad, LR: 0.1}
	for _, mt := range mixedTables() {
		for _, storage := range []string{"", embedding.StorageInt8} {
			t.Run(fmt.Sprintf("%s/%q", mt.name, storage), func(t *testing.T) {
				tbl := mt.new(rowwise, storage)
				rng := rand.New(rand.NewPCG(1, 2))
				ids, g := randomBatch(rng, 200)
				check := func(when string) {
					out := make([]float32, len(ids)*8)
					tbl.Lookup(ids, out)
					for i := range ids {
						f := i % 3
						v := out[i*8 : (i+1)*8]
						for j, x := range v {
							if j >= fieldDims[f] && x != 0 {
								t.Fatalf("%s: id %d (field %d of dim %d): value %d = %v, want 0", when, i, f, fieldDims[f], j, x)
							}
						}
						if slices.Equal(v[:fieldDims[f]], make([]float32, fieldDims[f])) {
							t.Fatalf("%s: id %d (field %d): learned values all zero", when, i, f)
						}
					}
				}
				check("at init")
				tbl.Apply(ids, g)
				check("after Apply")
			})
		}
	}
}

// TestFieldDimsPaddedGradIgnored checks that the gradients of padded
// positions change nothing: two tables trained with the same leading
// gradients and different padding gradients stay bit-identical.
func TestFieldDimsPaddedGradIgnored(t *testing.T) {
	for _, mt := range mixedTables() {
		for _, opt := range optimizersUnderTest {
			for _, storage := range []string{"", embedding.StorageInt8} {
				t.Run(fmt.Sprintf("%s/%s/%q", mt.name, opt.Name, storage), func(t *testing.T) {
					a, b := mt.new(opt, storage), mt.new(opt, storage)
					rng := rand.New(rand.NewPCG(3, 4))
					for range 3 {
						ids, g := randomBatch(rng, 100)
						gb := slices.Clone(g)
						for i := range ids {
							for j := fieldDims[i%3]; j < 8; j++ {
								g[i*8+j] = 0
								gb[i*8+j] = 1e6 * (2*rng.Float32() - 1)
							}
						}
						a.Apply(ids, g)
						b.Apply(ids, gb)
					}
					if !bytes.Equal(saveBytes(t, a.(embedding.Persister)), saveBytes(t, b.(embedding.Persister))) {
						t.Fatal("padding gradients changed the table")
					}
				})
			}
		}
	}
}

// TestFieldDimsMatchPerFieldRows checks each field of a mixed-dim fp32
// table against a reference Rows store of the field's width trained with
// the field's rows and the leading gradient values: optimizer state
// (row-wise Adagrad's mean, Adagrad's and Adam's per-element state) is the
// field's own.
func TestFieldDimsMatchPerFieldRows(t *testing.T) {
	for _, mt := range mixedTables() {
		for _, opt := range optimizersUnderTest {
			t.Run(mt.name+"/"+opt.Name, func(t *testing.T) {
				tbl := mt.new(opt, "")
				sets := tbl.(embedding.RowStore).RowSets()
				if len(sets) != 3 {
					t.Fatalf("%d row sets, want one per field", len(sets))
				}
				// References: copies of the initial rows of each field.
				refs := make([]*embedding.Rows, 3)
				for f, s := range sets {
					if s.Dim() != fieldDims[f] {
						t.Fatalf("set %d has dim %d, want %d", f, s.Dim(), fieldDims[f])
					}
					refs[f] = must(embedding.NewRows(s.Len(), s.Dim(), opt))
					refs[f].WriteRows(0, slices.Clone(s.Params()))
				}
				rng := rand.New(rand.NewPCG(5, 6))
				for range 3 {
					ids, g := randomBatch(rng, 64)
					for f := range 3 {
						var idx []int32
						var gf []float32
						for i := f; i < len(ids); i += 3 {
							idx = append(idx, mt.row(f, ids[i]))
							gf = append(gf, g[i*8:i*8+fieldDims[f]]...)
						}
						refs[f].Apply(idx, gf)
					}
					tbl.Apply(ids, g)
				}
				for f, s := range sets {
					if !slices.Equal(s.Params(), refs[f].Params()) {
						t.Fatalf("field %d differs from its reference rows", f)
					}
				}
			})
		}
	}
}

// TestFieldDimsBytes checks the memory accounting of mixed-dim tables:
// parameters and optimizer state are sized by each field's own dim.
func TestFieldDimsBytes(t *testing.T) {
	for _, mt := range mixedTables() {
		for _, opt := range optimizersUnderTest {
			for _, storage := range []string{"", embedding.StorageInt8} {
				t.Run(fmt.Sprintf("%s/%s/%q", mt.name, opt.Name, storage), func(t *testing.T) {
					tbl := mt.new(opt, storage)
					var rows []int64
					for _, s := range tbl.(embedding.RowStore).RowSets() {
						rows = append(rows, int64(s.Len()))
					}
					fp32 := embedding.FieldTableBytes(rows, fieldDims)
					var wantParams, wantOpt int64
					for f, n := range rows {
						d := int64(fieldDims[f])
						if storage == "" {
							wantParams += n * d * 4
						} else {
							wantParams += n * (d + 8)
						}
						wantOpt += opt.StateBytes(n, fieldDims[f])
					}
					b := tbl.Bytes()
					if b.Params != wantParams || b.Optimizer != wantOpt {
						t.Errorf("Bytes %+v, want params %d, optimizer %d", b, wantParams, wantOpt)
					}
					var param int64
					switch c := tbl.(type) {
					case *embedding.Hashed:
						param = c.Config().ParamBytes()
					case *embedding.Full:
						param = c.Config().ParamBytes()
					case *embedding.Hybrid:
						param = c.Config().ParamBytes()
					}
					if param != fp32 {
						t.Errorf("ParamBytes %d, FieldTableBytes %d", param, fp32)
					}
					// The same table at full width costs more.
					full := embedding.FieldTableBytes(rows, []int{8, 8, 8})
					if !(fp32 < full) {
						t.Errorf("mixed-dim bytes %d not below full-width %d", fp32, full)
					}
				})
			}
		}
	}
}

func TestFieldTableBytes(t *testing.T) {
	for _, c := range []struct {
		rows []int64
		dims []int
		want int64
	}{
		{nil, nil, 0},
		{[]int64{10}, []int{4}, 160},
		{[]int64{10, 3, 1 << 30}, []int{4, 1, 16}, 160 + 12 + 1<<36},
	} {
		if got := embedding.FieldTableBytes(c.rows, c.dims); got != c.want {
			t.Errorf("FieldTableBytes(%v, %v) = %d, want %d", c.rows, c.dims, got, c.want)
		}
	}
	mustPanic(t, "FieldTableBytes of mismatched lengths", func() { embedding.FieldTableBytes([]int64{1}, nil) })
}

// TestFieldDimsSaveLoad checks that mixed-dim tables save as version 3
// streams that embedding.Load (LoadHybrid) rebuilds and that continue
// training bit-identically, and that a stream does not load into a table
// of other field dims.
func TestFieldDimsSaveLoad(t *testing.T) {
	lazy := embedding.Optimizer{Name: embedding.LazyAdam, LR: 0.01}
	for _, mt := range mixedTables() {
		for _, storage := range []string{"", embedding.StorageInt8} {
			t.Run(fmt.Sprintf("%s/%q", mt.name, storage), func(t *testing.T) {
				a := mt.new(lazy, storage)
				rng := rand.New(rand.NewPCG(7, 8))
				ids, g := randomBatch(rng, 50)
				a.Apply(ids, g)
				data := saveBytes(t, a.(embedding.Persister))
				if v := binary.LittleEndian.Uint32(data[8:]); v != 3 || !bytes.Contains(data, []byte(`"field_dims":[2,8,5]`)) {
					t.Errorf("stream version %d (want 3), field_dims key present: %t", v, bytes.Contains(data, []byte(`"field_dims"`)))
				}
				var b embedding.Trainable
				var err error
				if mt.name == "hybrid" {
					b, err = embedding.LoadHybrid(bytes.NewReader(data))
				} else {
					b, err = embedding.Load(bytes.NewReader(data))
				}
				if err != nil {
					t.Fatal(err)
				}
				c := mt.new(lazy, storage)
				if err := c.(embedding.Persister).Load(bytes.NewReader(data)); err != nil {
					t.Fatal(err)
				}
				ids, g = randomBatch(rng, 50)
				for _, tbl := range []embedding.Trainable{a, b, c} {
					tbl.Apply(ids, g)
				}
				want := saveBytes(t, a.(embedding.Persister))
				for i, tbl := range []embedding.Trainable{b, c} {
					if !bytes.Equal(saveBytes(t, tbl.(embedding.Persister)), want) {
						t.Errorf("loaded table %d trains differently", i)
					}
				}
				// Not into a table of other dims, nor into the full-width
				// table of the same rows.
				for _, dims := range [][]int{{2, 8, 4}, nil} {
					var other embedding.Persister
					switch tb := a.(type) {
					case *embedding.Hashed:
						cfg := tb.Config()
						cfg.FieldDims = dims
						other = must(embedding.NewHashed(cfg))
					case *embedding.Full:
						cfg := tb.Config()
						cfg.FieldDims = dims
						v := make([][]uint64, 3)
						for f := range v {
							v[f] = tb.Vocab(f)
						}
						other = must(embedding.NewFull(v, cfg))
					case *embedding.Hybrid:
						cfg := tb.Config()
						cfg.FieldDims = dims
						h := make([][]uint64, 3)
						for f := range h {
							h[f] = tb.Head(f)
						}
						other = must(embedding.NewHybrid(h, cfg))
					}
					if err := other.Load(bytes.NewReader(data)); !errors.Is(err, embedding.ErrConfigMismatch) {
						t.Errorf("Load into a table of field dims %v: %v, want ErrConfigMismatch", dims, err)
					}
				}
				// A version 3 stream must have field dims, and others must not.
				if err := c.(embedding.Persister).Load(bytes.NewReader(setVersion(data, 1))); !errors.Is(err, embedding.ErrCorrupt) {
					t.Errorf("version 1 stream with field dims: %v, want ErrCorrupt", err)
				}
				if err := c.(embedding.Persister).Load(bytes.NewReader(data[:len(data)-40])); err == nil {
					t.Error("truncated stream loaded")
				}
			})
		}
	}
}

// TestFieldDimsThreads checks that threaded Apply of mixed-dim tables is
// bit-identical for any thread count, with batches big enough for several
// goroutines per field.
func TestFieldDimsThreads(t *testing.T) {
	for _, mt := range mixedTables() {
		for _, storage := range []string{"", embedding.StorageInt8} {
			t.Run(fmt.Sprintf("%s/%q", mt.name, storage), func(t *testing.T) {
				var streams [][]byte
				for _, threads := range []int{1, 3, 8} {
					tbl := mt.new(embedding.Optimizer{Name: embedding.RowwiseAdagrad, LR: 0.1}, storage)
					tbl.(interface{ SetThreads(int) }).SetThreads(threads)
					rng := rand.New(rand.NewPCG(9, 10))
					for range 3 {
						ids, g := randomBatch(rng, 4096)
						tbl.Apply(ids, g)
					}
					streams = append(streams, saveBytes(t, tbl.(embedding.Persister)))
				}
				for i := 1; i < len(streams); i++ {
					if !bytes.Equal(streams[0], streams[i]) {
						t.Errorf("thread counts give different tables (run %d)", i)
					}
				}
			})
		}
	}
}

// TestFieldDimsInt8 checks int8 storage of mixed-dim tables: each field's
// set is int8 at its own width, its rows decode to values close to the
// fp32 table's initial rows, and the fields round with distinct seeds.
func TestFieldDimsInt8(t *testing.T) {
	opt := embedding.Optimizer{Name: embedding.RowwiseAdagrad, LR: 0.1}
	for _, mt := range mixedTables() {
		t.Run(mt.name, func(t *testing.T) {
			fp, q := mt.new(opt, ""), mt.new(opt, embedding.StorageInt8)
			fs, qs := fp.(embedding.RowStore).RowSets(), q.(embedding.RowStore).RowSets()
			seeds := map[uint64]bool{}
			for f := range qs {
				if qs[f].Storage().Precision != embedding.StorageInt8 || qs[f].Dim() != fieldDims[f] ||
					len(qs[f].Int8Data()) != qs[f].Len()*(fieldDims[f]+8) {
					t.Fatalf("field %d: storage %+v, dim %d, %d bytes", f, qs[f].Storage(), qs[f].Dim(), len(qs[f].Int8Data()))
				}
				seeds[qs[f].Storage().Seed] = true
				want, got := readAll(fs[f]), readAll(qs[f])
				for i := range want {
					if d := want[i] - got[i]; d > 0.001 || d < -0.001 {
						t.Fatalf("field %d value %d: int8 %v, fp32 %v", f, i, got[i], want[i])
					}
				}
			}
			if len(seeds) != 3 {
				t.Errorf("fields share rounding seeds: %v", seeds)
			}
		})
	}
}

// TestFieldDimsConfigErrors checks the validation of field dims.
func TestFieldDimsConfigErrors(t *testing.T) {
	base := embedding.Config{Method: embedding.MethodHashed, Dim: 4, Rows: []int{3, 5}, Optimizer: rowwise}
	for _, c := range []struct {
		name string
		cfg  func(c *embedding.Config)
	}{
		{"too few dims", func(c *embedding.Config) { c.FieldDims = []int{4} }},
		{"too many dims", func(c *embedding.Config) { c.FieldDims = []int{4, 4, 4} }},
		{"zero dim", func(c *embedding.Config) { c.FieldDims = []int{0, 4} }},
		{"dim above Dim", func(c *embedding.Config) { c.FieldDims = []int{4, 5} }},
		{"qr", func(c *embedding.Config) {
			c.Method, c.RemRows, c.FieldDims = embedding.MethodQR, []int{2, 2}, []int{4, 2}
		}},
	} {
		cfg := base
		c.cfg(&cfg)
		if _, err := embedding.New(cfg); !errors.Is(err, embedding.ErrConfig) {
			t.Errorf("%s: New error %v, want ErrConfig", c.name, err)
		}
	}
	// Full: the dims must match the vocabulary's fields.
	if _, err := embedding.NewFull([][]uint64{{1}, {2}}, embedding.Config{Dim: 4, Optimizer: rowwise, FieldDims: []int{2}}); !errors.Is(err, embedding.ErrConfig) {
		t.Errorf("full table with 1 dim for 2 fields: %v, want ErrConfig", err)
	}
	if _, err := embedding.NewHybrid([][]uint64{{1}, {2}}, embedding.HybridConfig{Dim: 4, TailRows: []int{3, 3},
		Optimizer: rowwise, FieldDims: []int{2, 9}}); !errors.Is(err, embedding.ErrConfig) {
		t.Errorf("hybrid table with a dim above Dim: %v, want ErrConfig", err)
	}
	// An empty slice means no field dims: the table is the uniform one.
	cfg := base
	cfg.FieldDims = []int{}
	tbl := must(embedding.NewHashed(cfg))
	if c := tbl.Config(); c.FieldDims != nil || len(tbl.RowSets()) != 1 {
		t.Errorf("empty field dims: config %v, %d row sets", c.FieldDims, len(tbl.RowSets()))
	}
	// Field dims all equal to Dim still give one set per field.
	cfg.FieldDims = []int{4, 4}
	if tbl := must(embedding.NewHashed(cfg)); len(tbl.RowSets()) != 2 || tbl.Config().FieldDim(1) != 4 {
		t.Errorf("field dims [4 4]: %d row sets", len(tbl.RowSets()))
	}
}

// TestNoFieldDimsUnchanged checks that tables without field dims are
// stored as before the option existed: one row set, version 1 streams
// without a field_dims key.
func TestNoFieldDimsUnchanged(t *testing.T) {
	tbl := must(embedding.NewHashed(embedding.Config{Dim: 4, Rows: []int{30, 20}, Optimizer: rowwise, Seed: 2}))
	data := saveBytes(t, tbl)
	if v := binary.LittleEndian.Uint32(data[8:]); v != 1 || bytes.Contains(data, []byte("field_dims")) {
		t.Errorf("stream version %d, field_dims key %t; want version 1 and no key", v, bytes.Contains(data, []byte("field_dims")))
	}
	if sets := tbl.RowSets(); len(sets) != 1 || sets[0].Len() != 50 || sets[0].Dim() != 4 {
		t.Errorf("row sets %v", sets)
	}
	if c := tbl.Config(); c.FieldDims != nil || c.FieldDim(1) != 4 || c.ParamBytes() != 50*4*4 {
		t.Errorf("config %+v, ParamBytes %d", c, c.ParamBytes())
	}
}
