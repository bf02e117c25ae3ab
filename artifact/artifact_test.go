package artifact_test

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/embtab/embtab/artifact"
	"github.com/embtab/embtab/datasets"
	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/lookup/storetest"
)

var schema = &datasets.Schema{Dataset: "test", Label: "y", Dense: []string{"d"}, Categorical: []string{"a", "b"}}

var sgd = embedding.Optimizer{Name: embedding.SGD, LR: 0.5}

func hashed(t *testing.T) *embedding.Hashed {
	t.Helper()
	tbl, err := embedding.NewHashed(embedding.Config{Dim: 5, Rows: []int{70, 30}, Optimizer: sgd, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	storetest.Train(tbl, 3, 1)
	return tbl
}

func full(t *testing.T) *embedding.Full {
	t.Helper()
	tbl, err := embedding.NewFull([][]uint64{{9, 3, 7, 1 << 63}, {0, 42}}, embedding.Config{Dim: 4, Optimizer: sgd, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	return tbl
}

func contents(tbl embedding.Table, codec string) artifact.Contents {
	return artifact.Contents{
		Schema: schema, HashSeed: math.MaxUint64 - 1, Table: tbl, Codec: codec,
		Model: json.RawMessage(`{"name":"lr"}`), Training: json.RawMessage(`{"epochs":1}`),
		Dense: func(w io.Writer) error { _, err := w.Write([]byte("dense state")); return err },
	}
}

func write(t *testing.T, c artifact.Contents) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "model")
	if _, err := artifact.Write(dir, c, artifact.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func open(t *testing.T, dir string) *artifact.Artifact {
	t.Helper()
	a, err := artifact.Open(dir, artifact.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func TestRoundTrip(t *testing.T) {
	tbl := hashed(t)
	dir := write(t, contents(tbl, ""))
	a := open(t, dir)
	m := a.Manifest()
	if m.FormatVersion != artifact.FormatVersion || m.Codec != "fp32" || m.Hash.Seed != math.MaxUint64-1 ||
		!slices.Equal(m.Fields, schema.Categorical) || m.Table.Method != "hashed" || m.Table.Dim != 5 || m.Table.Width != 5 {
		t.Fatalf("manifest %+v", m)
	}
	if string(a.DenseState()) != "dense state" {
		t.Errorf("dense state %q", a.DenseState())
	}
	var cfg embedding.Config
	if err := json.Unmarshal(m.Table.Config, &cfg); err != nil || cfg.Method != "hashed" || !slices.Equal(cfg.Rows, []int{70, 30}) {
		t.Errorf("table config %s: %v", m.Table.Config, err)
	}
	sets := a.RowSets()
	if len(sets) != 1 || sets[0].Len() != 100 || sets[0].Stride() != 20 { // packed: 5 fp32
		t.Fatalf("row sets %v", sets)
	}
	got := make([]float32, 5)
	params := tbl.RowSets()[0].Params()
	for i := range 100 {
		if err := sets[0].DecodeRow(i, got); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, params[i*5:(i+1)*5]) {
			t.Fatalf("row %d: %v, want %v", i, got, params[i*5:(i+1)*5])
		}
	}
	// The seed is a hex string in the JSON, exact for any client.
	raw, _ := os.ReadFile(filepath.Join(dir, artifact.ManifestFile))
	if !strings.Contains(string(raw), `"seed": "0xfffffffffffffffe"`) {
		t.Errorf("manifest does not hold the seed as hex:\n%s", raw)
	}
	entries, _ := os.ReadDir(filepath.Dir(dir))
	if len(entries) != 1 {
		t.Errorf("temporary directories left behind: %v", entries)
	}
}

func TestRowStride(t *testing.T) {
	for _, tc := range []struct{ rb, align, want int }{
		{1, 0, 1}, {12, 0, 12}, {16, 0, 16}, {24, 0, 24}, {33, 0, 33}, {64, 0, 64}, {72, 0, 72}, {200, 0, 200},
		{24, 64, 64}, {24, 8, 24}, {12, 1, 12}, {100, 128, 128}, {72, 64, 128}, {13, 16, 16},
	} {
		if got := artifact.RowStride(tc.rb, tc.align); got != tc.want {
			t.Errorf("RowStride(%d, %d) = %d, want %d", tc.rb, tc.align, got, tc.want)
		}
	}
	for _, align := range []int{0, 1, 64} {
		dir := filepath.Join(t.TempDir(), "m")
		if _, err := artifact.Write(dir, contents(hashed(t), "int8"), artifact.WriteOptions{RowAlign: align}); err != nil {
			t.Fatal(err)
		}
		a := open(t, dir)
		if got, want := a.RowSets()[0].Stride(), artifact.RowStride(13, align); got != want {
			t.Errorf("align %d: stride %d, want %d", align, got, want)
		}
	}
	if _, err := artifact.Write(filepath.Join(t.TempDir(), "m"), contents(hashed(t), ""), artifact.WriteOptions{RowAlign: 48}); !errors.Is(err, artifact.ErrInvalid) {
		t.Errorf("align 48: got %v, want ErrInvalid", err)
	}
}

func TestVocab(t *testing.T) {
	tbl := full(t)
	a := open(t, write(t, contents(tbl, "")))
	v := a.Vocab()
	if v == nil || v.Fields() != 2 {
		t.Fatalf("vocab %v", v)
	}
	for f := range 2 {
		ids := tbl.Vocab(f)
		if !slices.Equal(v.IDs(f), ids) {
			t.Errorf("field %d: ids %v, want %v", f, v.IDs(f), ids)
		}
		for row, id := range ids {
			if r, ok := v.Find(f, id); !ok || int(r) != row {
				t.Errorf("field %d: Find(%d) = %d, %v; want %d", f, id, r, ok, row)
			}
		}
		if _, ok := v.Find(f, 12345); ok {
			t.Errorf("field %d: found an unknown id", f)
		}
	}
}

// corrupt applies an edit to a fresh artifact's directory and checks the
// error of Open.
func TestCorruption(t *testing.T) {
	flip := func(name string, off int64) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			path := filepath.Join(dir, name)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if off < 0 {
				off += int64(len(data))
			}
			data[off] ^= 0x40
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	editManifest := func(edit func(m map[string]any)) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			path := filepath.Join(dir, artifact.ManifestFile)
			data, _ := os.ReadFile(path)
			var m map[string]any
			if err := json.Unmarshal(data, &m); err != nil {
				t.Fatal(err)
			}
			edit(m)
			data, _ = json.Marshal(m)
			os.WriteFile(path, data, 0o644)
		}
	}
	rows := artifact.RowsFile(0)
	tests := []struct {
		name    string
		edit    func(t *testing.T, dir string)
		skipCRC bool
		want    error
		mention string
	}{
		{"row bit flip", flip(rows, 70), false, artifact.ErrCorrupt, rows},
		{"row bit flip, checksums skipped", flip(rows, 70), true, nil, ""},
		{"header bit flip", flip(rows, 20), true, artifact.ErrCorrupt, "header checksum"},
		{"bad magic", flip(rows, 0), true, artifact.ErrCorrupt, "magic"},
		{"file version", func(t *testing.T, dir string) {
			path := filepath.Join(dir, rows)
			data, _ := os.ReadFile(path)
			binary.LittleEndian.PutUint32(data[8:], 2)
			os.WriteFile(path, data, 0o644)
		}, true, artifact.ErrVersion, "version 2"},
		{"footer bit flip", flip(rows, -3), true, artifact.ErrCorrupt, "footer"},
		{"vocab bit flip", flip(artifact.VocabFile, 100), false, artifact.ErrCorrupt, artifact.VocabFile},
		{"dense bit flip", flip(artifact.DenseFile, 1), false, artifact.ErrCorrupt, artifact.DenseFile},
		{"truncated", func(t *testing.T, dir string) {
			path := filepath.Join(dir, rows)
			fi, _ := os.Stat(path)
			os.Truncate(path, fi.Size()-10)
		}, false, artifact.ErrCorrupt, "bytes, manifest says"},
		{"missing file", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, artifact.VocabFile)) }, false, artifact.ErrCorrupt, "missing"},
		{"no manifest", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, artifact.ManifestFile)) }, false, artifact.ErrCorrupt, "no manifest"},
		{"manifest not JSON", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, artifact.ManifestFile), []byte("{"), 0o644)
		}, false, artifact.ErrCorrupt, artifact.ManifestFile},
		{"manifest version", editManifest(func(m map[string]any) { m["format_version"] = 99 }), false, artifact.ErrVersion, "format version 99"},
		{"manifest unknown key", editManifest(func(m map[string]any) { m["surprise"] = 1 }), false, artifact.ErrCorrupt, "surprise"},
		{"manifest codec", editManifest(func(m map[string]any) { m["codec"] = "int3" }), false, artifact.ErrCorrupt, "int3"},
		{"manifest path escape", editManifest(func(m map[string]any) {
			m["files"].([]any)[0].(map[string]any)["name"] = "../x"
		}), false, artifact.ErrCorrupt, "../x"},
		{"manifest crc", editManifest(func(m map[string]any) {
			m["files"].([]any)[0].(map[string]any)["xxh3"] = "0x1"
		}), false, artifact.ErrCorrupt, "manifest_xxh3"},
		{"manifest crc32c in version 2", editManifest(func(m map[string]any) {
			m["files"].([]any)[0].(map[string]any)["crc32c"] = 1
		}), false, artifact.ErrCorrupt, "crc32c"},
		{"manifest fields", editManifest(func(m map[string]any) { m["fields"] = []string{"b", "a"} }), false, artifact.ErrCorrupt, "fields"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := write(t, contents(full(t), ""))
			tc.edit(t, dir)
			a, err := artifact.Open(dir, artifact.OpenOptions{SkipChecksums: tc.skipCRC})
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				a.Close()
				return
			}
			if err == nil {
				a.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("error %q does not mention %q", err, tc.mention)
			}
		})
	}
}

func TestWriteExistingAndReplace(t *testing.T) {
	dir := write(t, contents(hashed(t), ""))
	first := open(t, dir).Manifest().ID
	if _, err := artifact.Write(dir, contents(hashed(t), ""), artifact.WriteOptions{}); !errors.Is(err, artifact.ErrExists) {
		t.Fatalf("second write: got %v, want ErrExists", err)
	}
	// A stale temporary directory from a crashed write is replaced.
	stale := dir + artifact.TmpSuffix
	os.MkdirAll(stale, 0o755)
	os.WriteFile(filepath.Join(stale, "junk"), []byte("x"), 0o644)
	m, err := artifact.Write(dir, contents(full(t), "int8"), artifact.WriteOptions{Replace: true})
	if err != nil {
		t.Fatal(err)
	}
	a := open(t, dir)
	if a.Manifest().ID != m.ID || m.ID == first || a.Manifest().Table.Method != "full" || a.Manifest().Codec != "int8" {
		t.Errorf("after replace: %+v", a.Manifest())
	}
	entries, _ := os.ReadDir(filepath.Dir(dir))
	if len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
	}
	if _, err := os.Stat(filepath.Join(dir, artifact.RowsFile(0))); err != nil {
		t.Error(err)
	}
}

func TestRequantize(t *testing.T) {
	tbl := hashed(t)
	src := open(t, write(t, contents(tbl, "")))
	dst := filepath.Join(t.TempDir(), "q")
	m, err := artifact.Requantize(src, dst, "int8", artifact.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a := open(t, dst)
	if m.ID == src.Manifest().ID || a.Manifest().Codec != "int8" || a.Manifest().QuantizedFrom != "fp32" {
		t.Fatalf("manifest %+v", a.Manifest())
	}
	q := a.Manifest().Table.RowSets[0].QuantError
	if q == nil || !(q.RMSE > 0) || q.MaxAbs > 0.05 {
		t.Fatalf("quant error %+v", q)
	}
	got := make([]float32, 5)
	params := tbl.RowSets()[0].Params()
	for i := range 100 {
		a.RowSets()[0].DecodeRow(i, got)
		for j, v := range got {
			if d := math.Abs(float64(v - params[i*5+j])); d > q.MaxAbs+1e-7 {
				t.Fatalf("row %d: %v, want %v within %g", i, got, params[i*5:(i+1)*5], q.MaxAbs)
			}
		}
	}
	if string(a.DenseState()) != "dense state" || a.Manifest().Hash != src.Manifest().Hash {
		t.Error("dense state or hash not carried over")
	}
	// Full tables keep their vocabulary.
	fsrc := open(t, write(t, contents(full(t), "")))
	fdst := filepath.Join(t.TempDir(), "fq")
	if _, err := artifact.Requantize(fsrc, fdst, "int4", artifact.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if v := open(t, fdst).Vocab(); v == nil || !slices.Equal(v.IDs(0), fsrc.Vocab().IDs(0)) {
		t.Error("vocabulary not carried over")
	}
	if _, err := artifact.Requantize(src, filepath.Join(t.TempDir(), "x"), "int3", artifact.WriteOptions{}); !errors.Is(err, artifact.ErrInvalid) {
		t.Errorf("unknown codec: got %v, want ErrInvalid", err)
	}
}

type fakeTable struct{}

func (fakeTable) Fields() int                { return 2 }
func (fakeTable) Dim() int                   { return 4 }
func (fakeTable) Lookup([]uint64, []float32) {}
func (fakeTable) Bytes() (b embedding.Bytes) { return }
func (fakeTable) RowSets() []*embedding.Rows { return nil }

func TestWriteErrors(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "m")
	c := contents(fakeTable{}, "")
	if _, err := artifact.Write(dir, c, artifact.WriteOptions{}); !errors.Is(err, artifact.ErrUnsupportedTable) {
		t.Errorf("fake table: got %v, want ErrUnsupportedTable", err)
	}
	c = contents(hashed(t), "int3")
	if _, err := artifact.Write(dir, c, artifact.WriteOptions{}); !errors.Is(err, artifact.ErrInvalid) {
		t.Errorf("unknown codec: got %v, want ErrInvalid", err)
	}
	c = contents(hashed(t), "")
	c.Schema = &datasets.Schema{Label: "y", Categorical: []string{"a", "b", "c"}}
	if _, err := artifact.Write(dir, c, artifact.WriteOptions{}); !errors.Is(err, artifact.ErrInvalid) {
		t.Errorf("field count mismatch: got %v, want ErrInvalid", err)
	}
	c = contents(hashed(t), "")
	c.Dense = func(io.Writer) error { return errors.New("disk on fire") }
	if _, err := artifact.Write(dir, c, artifact.WriteOptions{}); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("dense writer error: got %v", err)
	}
	if _, err := os.Stat(dir + artifact.TmpSuffix); !os.IsNotExist(err) {
		t.Errorf("failed write left its temporary directory: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("failed write created the artifact: %v", err)
	}
}
