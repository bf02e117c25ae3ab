package artifact_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/embtab/embtab/artifact"
	"github.com/embtab/embtab/embedding"
)

// selfCRCDense returns a dense writer in the shape of the trainer's dense
// state: payload, then the CRC-32C of everything before it, which makes
// the whole file's CRC-32C the same constant for every payload length.
func selfCRCDense(payload string) func(io.Writer) error {
	return func(w io.Writer) error {
		b := binary.LittleEndian.AppendUint32([]byte(payload), crc32.Checksum([]byte(payload), crc32.MakeTable(crc32.Castagnoli)))
		_, err := w.Write(b)
		return err
	}
}

// run writes the artifact of a "training run": a full table initialised
// with seed and a dense state of the same size for every seed.
func run(t *testing.T, seed uint64) string {
	t.Helper()
	tbl, err := embedding.NewFull([][]uint64{{9, 3, 7, seed << 40}, {0, 42}}, embedding.Config{Dim: 4, Optimizer: sgd, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	c := contents(tbl, "int8")
	c.Dense = selfCRCDense(strings.Repeat(string(rune('a'+seed%26)), 100))
	return write(t, c)
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestSwappedFileRefused copies a file of another run's artifact, of the
// same size, into an artifact: Open must refuse it naming the file. Before
// the checksums were keyed by the id, a dense.bin ending with its own
// CRC-32C had the same whole-file CRC-32C (0x48674BC7) as any other of its
// size and was served.
func TestSwappedFileRefused(t *testing.T) {
	for _, tc := range []struct {
		file    string
		skipCRC bool
		ok      bool
	}{
		{artifact.DenseFile, false, false},
		{artifact.DenseFile, true, false}, // dense.bin is always checked
		{artifact.RowsFile(0), false, false},
		{artifact.VocabFile, false, false},
		// SkipChecksums trusts the mapped files' contents (documented).
		{artifact.RowsFile(0), true, true},
	} {
		name := tc.file
		if tc.skipCRC {
			name += ", checksums skipped"
		}
		t.Run(name, func(t *testing.T) {
			a, b := run(t, 1), run(t, 2)
			fa, _ := os.ReadFile(filepath.Join(a, tc.file))
			fb, _ := os.ReadFile(filepath.Join(b, tc.file))
			if len(fa) != len(fb) || bytes.Equal(fa, fb) {
				t.Fatalf("%s: %d and %d bytes, equal %t: want files of the same size that differ", tc.file, len(fa), len(fb), bytes.Equal(fa, fb))
			}
			copyFile(t, filepath.Join(b, tc.file), filepath.Join(a, tc.file))
			art, err := artifact.Open(a, artifact.OpenOptions{SkipChecksums: tc.skipCRC})
			if tc.ok {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				art.Close()
				return
			}
			if err == nil {
				art.Close()
				t.Fatal("Open accepted another artifact's " + tc.file)
			}
			if !errors.Is(err, artifact.ErrCorrupt) || !strings.Contains(err.Error(), filepath.Join(a, tc.file)) {
				t.Errorf("got %v, want ErrCorrupt naming %s", err, tc.file)
			}
		})
	}
}

// TestFileChecksumsDiffer checks what the manifests record for dense
// states that end with their own CRC-32C: different checksums for
// different contents, and for the same contents in two artifacts (the
// checksums are keyed by the id), where the plain CRC-32C is one constant.
func TestFileChecksumsDiffer(t *testing.T) {
	entry := func(dir string) artifact.FileSpec {
		a := open(t, dir)
		f, ok := a.Manifest().File(artifact.DenseFile)
		if !ok || f.XXH3 == 0 || f.CRC32C != 0 {
			t.Fatalf("%s entry %+v", artifact.DenseFile, f)
		}
		return f
	}
	castagnoli := crc32.MakeTable(crc32.Castagnoli)
	d1, d2, d1again := run(t, 1), run(t, 2), run(t, 1)
	for _, dir := range []string{d1, d2} {
		b, _ := os.ReadFile(filepath.Join(dir, artifact.DenseFile))
		if got := crc32.Checksum(b, castagnoli); got != 0x48674BC7 {
			t.Fatalf("whole-file CRC-32C %08x, want the residue 48674bc7 (the fixture no longer shows the defect)", got)
		}
	}
	if e1, e2 := entry(d1), entry(d2); e1.XXH3 == e2.XXH3 {
		t.Errorf("two dense states record the same checksum %v", e1.XXH3)
	}
	if e1, e1b := entry(d1), entry(d1again); e1.XXH3 == e1b.XXH3 {
		t.Errorf("the same dense state in two artifacts records the same checksum %v: not keyed by the id", e1.XXH3)
	}
}

// TestManifestEditRefused edits one value of a fresh artifact's manifest
// in place (the rest of the file byte for byte as written): Open must
// refuse each edit naming manifest.json, with or without SkipChecksums. A
// change of whitespace only still opens.
func TestManifestEditRefused(t *testing.T) {
	tests := []struct {
		name     string
		old, new string // replace the first match of the regexp old by new; "" old: re-indent with tabs
		mention  string // "" means Open succeeds
	}{
		{"re-indented", "", "", ""},
		{"hash seed", `"seed": "0xfffffffffffffffe"`, `"seed": "0x9e3779b97f4a7c15"`, artifact.ManifestFile},
		{"id", `"id": "`, `"id": "0`, artifact.ManifestFile},
		{"created", `"created": "20`, `"created": "19`, artifact.ManifestFile},
		{"codec", `"codec": "int8"`, `"codec": "fp16"`, artifact.ManifestFile},
		{"model config", `"name": "lr"`, `"name": "fm"`, artifact.ManifestFile},
		{"training record", `"epochs": 1`, `"epochs": 2`, artifact.ManifestFile},
		{"table config", `"init_scale": 0.05`, `"init_scale": 0.5`, artifact.ManifestFile},
		{"file size", `"bytes": `, `"bytes": 1`, artifact.ManifestFile},
		{"file checksum", `"xxh3": "0x`, `"xxh3": "0x1`, artifact.ManifestFile},
		{"checksum changed", `"manifest_xxh3": "0x`, `"manifest_xxh3": "0x1`, artifact.ManifestFile},
		{"checksum removed", `,\s*"manifest_xxh3": "0x[0-9a-f]+"`, ``, artifact.ManifestFile},
		{"downgraded to version 1", `"format_version": 2`, `"format_version": 1`, artifact.ManifestFile},
	}
	for _, tc := range tests {
		for _, skip := range []bool{false, true} {
			name := tc.name
			if skip {
				name += ", checksums skipped"
			}
			t.Run(name, func(t *testing.T) {
				dir := write(t, contents(full(t), "int8"))
				if tc.old == "" {
					path := filepath.Join(dir, artifact.ManifestFile)
					raw, _ := os.ReadFile(path)
					var b bytes.Buffer
					if err := json.Indent(&b, raw, "", "\t"); err != nil {
						t.Fatal(err)
					}
					os.WriteFile(path, b.Bytes(), 0o644)
				} else {
					editRE(t, dir, tc.old, tc.new)
				}
				a, err := artifact.Open(dir, artifact.OpenOptions{SkipChecksums: skip})
				if tc.mention == "" {
					if err != nil {
						t.Fatalf("Open: %v", err)
					}
					a.Close()
					return
				}
				if err == nil {
					a.Close()
					t.Fatal("Open accepted the edited manifest")
				}
				if !errors.Is(err, artifact.ErrCorrupt) || !strings.Contains(err.Error(), tc.mention) {
					t.Errorf("got %v, want ErrCorrupt mentioning %q", err, tc.mention)
				}
			})
		}
	}
}

// copyDir copies the artifact at src (plain files only) to a new
// directory and returns it.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	if err := os.Mkdir(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		copyFile(t, filepath.Join(src, e.Name()), filepath.Join(dst, e.Name()))
	}
	return dst
}

// TestLegacyFormat opens artifacts of format version 1 (testdata/v1-*,
// written by the version before the checksums were keyed by the id): they
// open and are checked as that version did (each file's CRC-32C; the
// manifest has no checksum, so an edit of it goes unnoticed: re-export,
// as the package doc says); re-exporting one gives a version 2 artifact.
func TestLegacyFormat(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(t *testing.T, dir string)
		mention string // "" means Open succeeds
	}{
		{"as written", func(*testing.T, string) {}, ""},
		{"dense bit flip", func(t *testing.T, dir string) {
			if err := flip(filepath.Join(dir, artifact.DenseFile), 3); err != nil {
				t.Fatal(err)
			}
		}, artifact.DenseFile},
		{"row bit flip", func(t *testing.T, dir string) {
			if err := flip(filepath.Join(dir, artifact.RowsFile(0)), 100); err != nil {
				t.Fatal(err)
			}
		}, artifact.RowsFile(0)},
		{"crc32c edited", func(t *testing.T, dir string) {
			editRaw(t, dir, `"crc32c": 4268555478`, `"crc32c": 4268555479`)
		}, "CRC-32C"},
		{"version 2 checksum in a version 1 manifest", func(t *testing.T, dir string) {
			editRaw(t, dir, `"crc32c": `, `"xxh3": "0x1", "crc32c": `)
		}, artifact.ManifestFile},
		// Version 1 has no manifest checksum: the edit is read as is.
		{"hash seed edited", func(t *testing.T, dir string) {
			editRaw(t, dir, `"seed": "0xfffffffffffffffe"`, `"seed": "0x1"`)
		}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyDir(t, filepath.Join("testdata", "v1-full-int8"))
			tc.edit(t, dir)
			a, err := artifact.Open(dir, artifact.OpenOptions{})
			if tc.mention != "" {
				if err == nil {
					a.Close()
					t.Fatal("Open succeeded")
				}
				if !errors.Is(err, artifact.ErrCorrupt) || !strings.Contains(err.Error(), tc.mention) {
					t.Errorf("got %v, want ErrCorrupt mentioning %q", err, tc.mention)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer a.Close()
			if m := a.Manifest(); m.FormatVersion != artifact.LegacyFormatVersion || m.ManifestXXH3 != 0 {
				t.Fatalf("format version %d, checksum %v", m.FormatVersion, m.ManifestXXH3)
			}
			out := filepath.Join(t.TempDir(), "reexported")
			m, err := artifact.Requantize(a, out, "int8", artifact.WriteOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if m.FormatVersion != artifact.FormatVersion || m.ManifestXXH3 == 0 {
				t.Errorf("re-exported: format version %d, checksum %v", m.FormatVersion, m.ManifestXXH3)
			}
			for _, f := range m.Files {
				if f.XXH3 == 0 || f.CRC32C != 0 {
					t.Errorf("re-exported %+v", f)
				}
			}
			open(t, out)
		})
	}
}

// editRaw replaces the first old in dir's manifest by new.
func editRaw(t *testing.T, dir, old, new string) {
	t.Helper()
	path := filepath.Join(dir, artifact.ManifestFile)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, []byte(old)) {
		t.Fatalf("manifest has no %q", old)
	}
	if err := os.WriteFile(path, bytes.Replace(raw, []byte(old), []byte(new), 1), 0o644); err != nil {
		t.Fatal(err)
	}
}

// editRE replaces the first match of the regexp re in dir's manifest by
// new.
func editRE(t *testing.T, dir, re, new string) {
	t.Helper()
	path := filepath.Join(dir, artifact.ManifestFile)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	loc := regexp.MustCompile(re).FindIndex(raw)
	if loc == nil {
		t.Fatalf("manifest has no match of %q", re)
	}
	out := append(append(bytes.Clone(raw[:loc[0]]), new...), raw[loc[1]:]...)
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestResealedEditOpens checks the test helper the corruption tests rely
// on: a resealed manifest edit gets past the checksum.
func TestResealedEditOpens(t *testing.T) {
	dir := write(t, contents(hashed(t), ""))
	editRaw(t, dir, `"epochs": 1`, `"epochs": 2`)
	if _, err := artifact.Open(dir, artifact.OpenOptions{}); !errors.Is(err, artifact.ErrCorrupt) {
		t.Fatalf("edited: %v, want ErrCorrupt", err)
	}
	artifact.ResealManifest(t, dir)
	a := open(t, dir)
	var training struct{ Epochs int }
	if err := json.Unmarshal(a.Manifest().Training, &training); err != nil || training.Epochs != 2 {
		t.Errorf("training %s", a.Manifest().Training)
	}
}
