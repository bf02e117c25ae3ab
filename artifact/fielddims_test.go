package artifact_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/embtab/embtab/artifact"
	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/lookup/storetest"
	"github.com/embtab/embtab/quant"
)

// mixedDims are the field dims of the mixed-dim tables (dim 8): a narrow
// field and a full-width one.
var mixedDims = []int{3, 8}

// mixedTables returns trained tables with per-field dims of every method
// that takes them.
func mixedTables(t *testing.T) map[string]embedding.Trainable {
	t.Helper()
	must := func(tb embedding.Trainable, err error) embedding.Trainable {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		storetest.Train(tb, 3, 2)
		return tb
	}
	return map[string]embedding.Trainable{
		"hashed": must(embedding.NewHashed(embedding.Config{Dim: 8, Rows: []int{70, 30}, Optimizer: sgd, Seed: 1, FieldDims: mixedDims})),
		"full": must(embedding.NewFull([][]uint64{{9, 3, 7, 1 << 63}, {0, 42}},
			embedding.Config{Dim: 8, Optimizer: sgd, Seed: 1, FieldDims: mixedDims})),
		"hybrid": must(embedding.NewHybrid([][]uint64{{9, 3}, {}},
			embedding.HybridConfig{Dim: 8, TailRows: []int{20, 10}, Optimizer: sgd, Seed: 1, FieldDims: mixedDims})),
		"hashed-int8": must(embedding.NewHashed(embedding.Config{Dim: 8, Rows: []int{70, 30}, Optimizer: sgd, Seed: 1,
			FieldDims: mixedDims, Storage: embedding.StorageInt8})),
	}
}

// TestFieldDimsArtifact writes tables with per-field dims in every codec
// and checks that each row set is stored at its own width (recorded in the
// manifest only where it differs from the table's), with the trained rows.
func TestFieldDimsArtifact(t *testing.T) {
	for name, tbl := range mixedTables(t) {
		for _, codec := range []string{"fp32", "fp16", "int8", "int4"} {
			t.Run(name+"/"+codec, func(t *testing.T) {
				dir := write(t, contents(tbl, codec))
				a := open(t, dir)
				m := a.Manifest()
				if m.FormatVersion != artifact.FormatVersion || m.Table.Dim != 8 || m.Table.Width != 8 || !slices.Equal(m.Table.FieldDims, mixedDims) {
					t.Fatalf("manifest table %+v", m.Table)
				}
				src := tbl.(embedding.RowStore).RowSets()
				sets := a.RowSets()
				if len(sets) != 2 || len(m.Table.RowSets) != 2 {
					t.Fatalf("%d row sets, want one per field", len(sets))
				}
				c, _ := quant.Lookup(codec)
				for f, s := range sets {
					spec := m.Table.RowSets[f]
					w := mixedDims[f]
					if s.Dim() != w || m.Table.SetWidth(f) != w || s.Len() != src[f].Len() {
						t.Fatalf("set %d: dim %d, manifest width %d, %d rows; want dim %d, %d rows", f, s.Dim(), m.Table.SetWidth(f), s.Len(), w, src[f].Len())
					}
					if wantSpec := map[bool]int{true: 0, false: w}[w == m.Table.Width]; spec.Width != wantSpec {
						t.Errorf("set %d: manifest width %d, want %d", f, spec.Width, wantSpec)
					}
					if spec.RowBytes != c.RowBytes(w) || spec.Stride != artifact.RowStride(c.RowBytes(w), 0) {
						t.Errorf("set %d: row bytes %d, stride %d", f, spec.RowBytes, spec.Stride)
					}
					// Every row is what the codec makes of the trained row,
					// or the trained row itself when it was trained in int8
					// and written so.
					want := make([]float32, src[f].Len()*w)
					src[f].ReadRows(0, want)
					asStored := codec == "int8" && src[f].Int8Data() != nil
					enc := make([]byte, c.RowBytes(w))
					got, dec := make([]float32, w), make([]float32, w)
					for i := range s.Len() {
						if asStored {
							copy(enc, src[f].Int8Data()[i*len(enc):])
						} else if err := c.EncodeRow(enc, want[i*w:(i+1)*w]); err != nil {
							t.Fatal(err)
						}
						if err := c.DecodeRow(dec, enc); err != nil {
							t.Fatal(err)
						}
						if err := s.DecodeRow(i, got); err != nil {
							t.Fatal(err)
						}
						if !slices.Equal(got, dec) {
							t.Fatalf("set %d row %d: %v, want %v", f, i, got, dec)
						}
					}
				}
				// Re-quantizing keeps the widths.
				out := filepath.Join(t.TempDir(), "q")
				if _, err := artifact.Requantize(a, out, "int4", artifact.WriteOptions{RowAlign: 64}); err != nil {
					t.Fatal(err)
				}
				q := open(t, out)
				for f, s := range q.RowSets() {
					if s.Dim() != mixedDims[f] || s.Stride() != 64 || q.Manifest().Table.SetWidth(f) != mixedDims[f] {
						t.Errorf("re-quantized set %d: dim %d, stride %d", f, s.Dim(), s.Stride())
					}
				}
			})
		}
	}
}

// TestUniformManifestHasNoSetWidths checks that tables without per-field
// dims are written as before: no per-set width key.
func TestUniformManifestHasNoSetWidths(t *testing.T) {
	dir := write(t, contents(hashed(t), ""))
	raw, err := os.ReadFile(filepath.Join(dir, artifact.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Table struct {
			RowSets []map[string]any `json:"row_sets"`
		} `json:"table"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	for i, s := range m.Table.RowSets {
		if _, ok := s["width"]; ok {
			t.Errorf("row set %d has a width key: %v", i, s)
		}
	}
}

// TestSetWidthCorrupt checks that a manifest whose set widths disagree
// with the dims or the files is reported as corrupt.
func TestSetWidthCorrupt(t *testing.T) {
	tbl := mixedTables(t)["hashed"]
	for _, c := range []struct {
		name  string
		width int
	}{
		{"wider than the table", 9},
		{"negative", -1},
		{"other than the file's", 4},
		{"absent (the table width, not the file's)", 0},
	} {
		dir := write(t, contents(tbl, ""))
		path := filepath.Join(dir, artifact.ManifestFile)
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var m artifact.Manifest
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		m.Table.RowSets[0].Width = c.width
		raw, _ = json.Marshal(&m)
		if err := os.WriteFile(path, raw, 0o644); err != nil {
			t.Fatal(err)
		}
		artifact.ResealManifest(t, dir) // past the manifest's checksum, to the width checks
		if _, err := artifact.Open(dir, artifact.OpenOptions{}); !errors.Is(err, artifact.ErrCorrupt) {
			t.Errorf("%s: Open error %v, want ErrCorrupt", c.name, err)
		}
	}
}
