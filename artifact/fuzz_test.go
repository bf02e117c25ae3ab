package artifact

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/embtab/embtab/datasets"
	"github.com/embtab/embtab/embedding"
)

// fuzzArtifact writes a small artifact of a full table with per-field dims
// (so: a vocabulary and one table file per field) in a temporary
// directory and returns the directory.
func fuzzArtifact(tb testing.TB) string {
	tb.Helper()
	tbl, err := embedding.NewFull([][]uint64{{9, 3, 7, 1 << 63}, {0, 42}},
		embedding.Config{Dim: 4, FieldDims: []int{4, 2}, Optimizer: embedding.Optimizer{Name: embedding.SGD, LR: 0.5}, Seed: 1})
	if err != nil {
		tb.Fatal(err)
	}
	dir := filepath.Join(tb.TempDir(), "model")
	c := Contents{
		Schema: &datasets.Schema{Dataset: "test", Label: "y", Dense: []string{"d"}, Categorical: []string{"a", "b"}},
		Table:  tbl, Codec: "int8", HashSeed: 7,
		Model: json.RawMessage(`{"name":"lr"}`), Training: json.RawMessage(`{"epochs":1}`),
		Dense: func(w io.Writer) error { _, err := w.Write([]byte("dense state")); return err },
		Extra: map[string]func(io.Writer) error{"notes.txt": func(w io.Writer) error { _, err := w.Write([]byte("hi")); return err }},
	}
	if _, err := Write(dir, c, WriteOptions{}); err != nil {
		tb.Fatal(err)
	}
	return dir
}

// readFixture returns the bytes of the named file of the artifact at dir.
func readFixture(tb testing.TB, dir, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// checkKind fails t unless err wraps ErrCorrupt or ErrVersion.
func checkKind(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrVersion) {
		t.Fatalf("error wraps neither ErrCorrupt nor ErrVersion: %v", err)
	}
}

// FuzzOpenManifest replaces the manifest of a valid artifact by the input
// and opens it: readManifest and Open must succeed or fail with ErrCorrupt
// or ErrVersion whatever the manifest says about the (valid) files. With
// reseal, an input that decodes gets its checksum recomputed (resealed),
// so that the fuzzer reaches the checks behind it.
func FuzzOpenManifest(f *testing.F) {
	dir := fuzzArtifact(f)
	m := readFixture(f, dir, ManifestFile)
	for _, reseal := range []bool{false, true} {
		f.Add(m, reseal)
		f.Add(m[:len(m)/2], reseal)
		f.Add(append(bytes.Clone(m), "{}"...), reseal)
		for _, r := range [][2]string{
			{`"format_version": 2`, `"format_version": 3`},
			{`"format_version": 2`, `"format_version": 1`},
			{`"rows": 5`, `"rows": 4`},
			{`"width": 2`, `"width": 9`},
			{`"bytes": `, `"bytes": -`},
			{`"notes.txt"`, `"../notes.txt"`},
			{`"seed": "0x7"`, `"seed": "0x8"`},
		} {
			f.Add(bytes.Replace(m, []byte(r[0]), []byte(r[1]), 1), reseal)
		}
	}
	path := filepath.Join(dir, ManifestFile)
	f.Fuzz(func(t *testing.T, data []byte, reseal bool) {
		if reseal {
			data = resealedManifest(data)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := readManifest(dir); err != nil {
			checkKind(t, err)
			return
		}
		a, err := Open(dir, OpenOptions{})
		if err != nil {
			checkKind(t, err)
			return
		}
		a.Close()
	})
}

// resealedManifest returns data re-encoded with its checksum recomputed if
// it decodes as a manifest, else data.
func resealedManifest(data []byte) []byte {
	var m Manifest
	if json.Unmarshal(data, &m) != nil {
		return data
	}
	js, err := m.seal()
	if err != nil {
		return data
	}
	return js
}

// resealed returns data with its header checksum (if it has a header)
// and footer checksums recomputed, so that the fuzzer gets past them to
// the checks behind.
func resealed(data []byte) []byte {
	if len(data) < headerSize+footerSize {
		return data
	}
	data = bytes.Clone(data)
	sealHeader(data[:headerSize])
	foot := data[len(data)-footerSize:]
	binary.LittleEndian.PutUint32(foot[16:], checksum(data[headerSize:len(data)-footerSize]))
	binary.LittleEndian.PutUint32(foot[20:], checksum(foot[:20]))
	return data
}

// fileSeeds adds s, truncations, bit flips and resealed bit flips of it
// to f's corpus, each with reseal false and true.
func fileSeeds(f *testing.F, s []byte) {
	for _, reseal := range []bool{false, true} {
		f.Add(s, reseal)
		f.Add(s[:len(s)/2], reseal)
		f.Add(s[:len(s)-1], reseal)
		for _, at := range []int{9, 12, 16, 20, 33, 40, 44, 48, headerSize + 1, len(s) - 16} {
			b := bytes.Clone(s)
			b[at] ^= 0x04
			f.Add(b, reseal)
		}
	}
}

// FuzzParseRowsFile feeds corrupt table files to parseRowsFile: each must
// parse or fail with ErrCorrupt or ErrVersion, and the rows returned must
// be the header's rows times stride bytes of the input.
func FuzzParseRowsFile(f *testing.F) {
	dir := fuzzArtifact(f)
	var m Manifest
	if err := json.Unmarshal(readFixture(f, dir, ManifestFile), &m); err != nil {
		f.Fatal(err)
	}
	for _, s := range m.Table.RowSets {
		fileSeeds(f, readFixture(f, dir, s.File))
	}
	f.Fuzz(func(t *testing.T, data []byte, reseal bool) {
		if reseal {
			data = resealed(data)
		}
		for _, check := range []bool{false, true} {
			h, rows, err := parseRowsFile("rows", data, check)
			if err != nil {
				checkKind(t, err)
				continue
			}
			if int64(len(rows)) != h.bodyLen() || h.rows < 1 || h.stride < h.rowBytes {
				t.Fatalf("header %+v with %d bytes of rows", h, len(rows))
			}
		}
	})
}

// FuzzParseVocabFile feeds corrupt vocabulary files to parseVocabFile:
// each must parse or fail with ErrCorrupt or ErrVersion; a vocabulary
// parsed with its body checked must find each of its ids at its row and
// list them all in row order.
func FuzzParseVocabFile(f *testing.F) {
	dir := fuzzArtifact(f)
	fileSeeds(f, readFixture(f, dir, VocabFile))
	f.Fuzz(func(t *testing.T, data []byte, reseal bool) {
		if reseal {
			data = resealed(data)
		}
		if _, err := parseVocabFile("vocab", data, false); err != nil {
			checkKind(t, err)
		}
		v, err := parseVocabFile("vocab", data, true)
		if err != nil {
			checkKind(t, err)
			return
		}
		for fi := range v.Fields() {
			for k, id := range v.ids[fi] {
				if row, ok := v.Find(fi, id); !ok || row != v.rows[fi][k] {
					t.Fatalf("field %d: id %d found at row %d, %t; want %d", fi, id, row, ok, v.rows[fi][k])
				}
			}
			if ids := v.IDs(fi); len(ids) != v.Len(fi) {
				t.Fatalf("field %d: %d ids in row order, %d in all", fi, len(ids), v.Len(fi))
			}
		}
	})
}
