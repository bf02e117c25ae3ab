package artifact_test

import (
	"bytes"
	"context"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/embtab/embtab/artifact"
	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/kernels"
	"github.com/embtab/embtab/lookup"
	"github.com/embtab/embtab/lookup/mmapstore"
	"github.com/embtab/embtab/quant"
)

// legacyStride is the stride RowStride chose by default before rows were
// packed: the next power of two for rows of up to 64 bytes, else the next
// multiple of 64.
func legacyStride(rowBytes int) int {
	if rowBytes <= artifact.Align {
		return 1 << bits.Len(uint(rowBytes-1))
	}
	return (rowBytes + artifact.Align - 1) &^ (artifact.Align - 1)
}

// rowBytesOf returns the encoded bytes of every row of every set of a, in
// order, without the padding between them.
func rowBytesOf(a *artifact.Artifact) [][]byte {
	var out [][]byte
	for _, s := range a.RowSets() {
		rb := s.Codec().RowBytes(s.Dim())
		for i := range s.Len() {
			out = append(out, s.Data()[i*s.Stride():i*s.Stride()+rb])
		}
	}
	return out
}

// served returns every row of a as the mmap store serves it.
func served(t *testing.T, a *artifact.Artifact) []float32 {
	t.Helper()
	var keys []lookup.Key
	for set, s := range a.RowSets() {
		for row := range s.Len() {
			keys = append(keys, lookup.Key{Set: uint32(set), Row: uint32(row)})
		}
	}
	out := make([]float32, len(keys)*a.Manifest().Table.Width)
	st := mmapstore.New(a)
	defer st.Close()
	if err := st.Get(context.Background(), keys, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// gathered returns every row of every set of a as the fused kernel
// (kernels.GatherDequant, no pooling) decodes it from the mapped rows.
func gathered(t *testing.T, a *artifact.Artifact) []float32 {
	t.Helper()
	var out []float32
	for _, s := range a.RowSets() {
		idx := make([]int32, s.Len())
		for i := range idx {
			idx[i] = int32(i)
		}
		o := make([]float32, s.Len()*s.Dim())
		if err := kernels.GatherDequant(o, kernels.TableOf(s), kernels.Bags[int32]{Indices: idx}, kernels.None, 1); err != nil {
			t.Fatal(err)
		}
		out = append(out, o...)
	}
	return out
}

// checkClose checks that the kernel's rows (gathered) equal the decoded
// ones (served) up to float32 rounding, where every set is as wide as the
// table (served rows are zero-padded to the table's width).
func checkClose(t *testing.T, a *artifact.Artifact, gathered, served []float32) {
	t.Helper()
	for _, s := range a.RowSets() {
		if s.Dim() != a.Manifest().Table.Width {
			return
		}
	}
	for i, g := range gathered {
		if d := math.Abs(float64(g - served[i])); d > 1e-6*max(1, math.Abs(float64(served[i]))) {
			t.Fatalf("value %d: kernel %g, decoded %g", i, g, served[i])
		}
	}
}

// TestPackedAndPaddedRows writes one table packed (the default), padded to
// the stride of artifacts written before packing, and padded to cache
// lines, and checks that the three read back to the same rows, through the
// artifact's quant tables, the mmap store and the fused gather kernel
// (whose loads then start at any byte offset), with the stride and file
// size each asked for.
func TestPackedAndPaddedRows(t *testing.T) {
	hashed64 := func(t *testing.T) embedding.Table {
		tbl, err := embedding.NewHashed(embedding.Config{Dim: 64, Rows: []int{37, 11}, Optimizer: sgd, Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		return tbl
	}
	fieldDims := func(t *testing.T) embedding.Table {
		tbl, err := embedding.NewHashed(embedding.Config{Dim: 16, Rows: []int{29, 13}, FieldDims: []int{3, 16}, Optimizer: sgd, Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		return tbl
	}
	tables := []struct {
		name  string
		table func(t *testing.T) embedding.Table
	}{
		{"hashed dim 64", hashed64},
		{"hashed dim 5", func(t *testing.T) embedding.Table { return hashed(t) }},
		{"full", func(t *testing.T) embedding.Table { return full(t) }},
		{"field dims 3 and 16", fieldDims},
	}
	for _, tc := range tables {
		for _, codec := range []string{"fp32", "fp16", "int8", "int4"} {
			t.Run(tc.name+"/"+codec, func(t *testing.T) {
				tbl := tc.table(t)
				c, _ := quant.Lookup(codec)
				sets := tbl.(embedding.RowStore).RowSets()
				// The padding of the old default, as an alignment: the
				// power of two (<= 64) or 64 it rounded up to.
				legacy := func(rb int) int { return min(legacyStride(rb), artifact.Align) }
				cases := []struct {
					name   string
					align  int
					stride func(rb int) int
				}{
					{"packed", 0, func(rb int) int { return rb }},
					{"legacy", legacy(c.RowBytes(sets[0].Dim())), legacyStride},
					{"lines", 64, func(rb int) int { return (rb + 63) &^ 63 }},
				}
				var wantRows [][]byte
				var wantServed, wantGathered []float32
				for _, pc := range cases {
					if pc.name == "legacy" && len(sets) > 1 && legacy(c.RowBytes(sets[1].Dim())) != pc.align {
						continue // one alignment per artifact: sets of different widths had different ones
					}
					dir := filepath.Join(t.TempDir(), pc.name)
					if _, err := artifact.Write(dir, contents(tbl, codec), artifact.WriteOptions{RowAlign: pc.align}); err != nil {
						t.Fatal(err)
					}
					a := open(t, dir)
					for i, s := range a.RowSets() {
						rb := c.RowBytes(s.Dim())
						if got, want := s.Stride(), pc.stride(rb); got != want {
							t.Errorf("%s: set %d of %d-byte rows: stride %d, want %d", pc.name, i, rb, got, want)
						}
						if got, want := a.Manifest().Table.RowSets[i].Stride, s.Stride(); got != want {
							t.Errorf("%s: set %d: manifest stride %d, file %d", pc.name, i, got, want)
						}
						fi, err := os.Stat(filepath.Join(dir, artifact.RowsFile(i)))
						if err != nil {
							t.Fatal(err)
						}
						if want := int64(64 + s.Len()*pc.stride(rb) + 24); fi.Size() != want {
							t.Errorf("%s: %s has %d bytes, want %d", pc.name, artifact.RowsFile(i), fi.Size(), want)
						}
					}
					gotRows, gotServed, gotGathered := rowBytesOf(a), served(t, a), gathered(t, a)
					if wantRows == nil {
						wantRows, wantServed, wantGathered = gotRows, gotServed, gotGathered
						checkClose(t, a, gotGathered, gotServed)
						continue
					}
					if !slices.Equal(gotGathered, wantGathered) {
						t.Errorf("%s: gathered rows differ from packed", pc.name)
					}
					if !slices.EqualFunc(gotRows, wantRows, bytes.Equal) {
						t.Errorf("%s: encoded rows differ from packed", pc.name)
					}
					if !slices.Equal(gotServed, wantServed) {
						t.Errorf("%s: served rows differ from packed", pc.name)
					}
				}
			})
		}
	}
}

// TestLegacyPaddedArtifact opens artifacts written by the version before
// packed rows and artifact-bound checksums (testdata/v1-*: a full table of
// dim 64 in fp32, stride 256, and int8, stride 128), and checks that a
// packed re-export of the fp32 rows to int8 holds byte for byte the rows of
// the old int8 one and serves the same vectors.
func TestLegacyPaddedArtifact(t *testing.T) {
	oldFP32 := open(t, filepath.Join("testdata", "v1-full-fp32"))
	oldInt8 := open(t, filepath.Join("testdata", "v1-full-int8"))
	for _, tc := range []struct {
		a      *artifact.Artifact
		stride int
	}{{oldFP32, 256}, {oldInt8, 128}} {
		if m := tc.a.Manifest(); m.FormatVersion != 1 || tc.a.RowSets()[0].Stride() != tc.stride || tc.a.Vocab() == nil {
			t.Fatalf("%s: format version %d, stride %d, want 1 and %d", tc.a.Dir(), m.FormatVersion, tc.a.RowSets()[0].Stride(), tc.stride)
		}
	}
	dir := filepath.Join(t.TempDir(), "packed")
	if _, err := artifact.Requantize(oldFP32, dir, "int8", artifact.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	packed := open(t, dir)
	if s := packed.RowSets()[0].Stride(); s != 72 {
		t.Errorf("re-exported stride %d, want 72", s)
	}
	if !slices.EqualFunc(rowBytesOf(packed), rowBytesOf(oldInt8), bytes.Equal) {
		t.Error("packed int8 rows differ from the padded ones")
	}
	if !slices.Equal(served(t, packed), served(t, oldInt8)) {
		t.Error("packed int8 rows serve other vectors than the padded ones")
	}
	if !slices.Equal(packed.Vocab().IDs(0), oldInt8.Vocab().IDs(0)) {
		t.Error("vocabulary differs")
	}
}
