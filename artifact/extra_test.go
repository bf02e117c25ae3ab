package artifact_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/embtab/embtab/artifact"
)

func withExtra(c artifact.Contents, files map[string][]byte) artifact.Contents {
	c.Extra = map[string]func(io.Writer) error{}
	for name, data := range files {
		c.Extra[name] = func(w io.Writer) error { _, err := w.Write(data); return err }
	}
	return c
}

func TestExtraRoundTrip(t *testing.T) {
	files := map[string][]byte{"items.ann": bytes.Repeat([]byte{7}, 5000), "items.json": []byte(`{"items":[]}`), "empty.bin": nil}
	dir := write(t, withExtra(contents(hashed(t), ""), files))
	a := open(t, dir)
	if got, want := a.Extra(), []string{"empty.bin", "items.ann", "items.json"}; !slices.Equal(got, want) {
		t.Fatalf("Extra() = %v, want %v", got, want)
	}
	for name, data := range files {
		got, err := a.ReadExtra(name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data) {
			t.Errorf("%s: read %d bytes, wrote %d", name, len(got), len(data))
		}
		if _, ok := a.Manifest().File(name); !ok {
			t.Errorf("%s is not in the manifest's file list", name)
		}
	}
	if _, err := a.ExtraPath("nope"); !errors.Is(err, artifact.ErrNoExtra) {
		t.Errorf("ExtraPath(nope) = %v, want ErrNoExtra", err)
	}

	// Requantize copies the extra files.
	dst := filepath.Join(t.TempDir(), "int8")
	if _, err := artifact.Requantize(a, dst, "int8", artifact.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	b := open(t, dst)
	got, err := b.ReadExtra("items.ann")
	if err != nil || !bytes.Equal(got, files["items.ann"]) {
		t.Fatalf("requantized items.ann: %d bytes, err %v", len(got), err)
	}
}

func TestExtraCorruption(t *testing.T) {
	files := map[string][]byte{"items.ann": bytes.Repeat([]byte{1, 2, 3}, 1000)}
	tests := []struct {
		name   string
		damage func(path string) error
		skip   bool // open with SkipChecksums
		ok     bool
	}{
		{"flipped byte", func(p string) error { return flip(p, 100) }, false, false},
		{"flipped byte, checksums skipped", func(p string) error { return flip(p, 100) }, true, true},
		{"truncated", func(p string) error { return os.Truncate(p, 10) }, true, false},
		{"removed", os.Remove, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := write(t, withExtra(contents(hashed(t), ""), files))
			if err := tc.damage(filepath.Join(dir, "items.ann")); err != nil {
				t.Fatal(err)
			}
			a, err := artifact.Open(dir, artifact.OpenOptions{SkipChecksums: tc.skip})
			if tc.ok {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				a.Close()
				return
			}
			if !errors.Is(err, artifact.ErrCorrupt) {
				t.Fatalf("Open = %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestExtraNames(t *testing.T) {
	for _, name := range []string{"", "..", "a/b", "manifest.json", "dense.bin", "vocab.bin", "rows-000.emb"} {
		c := withExtra(contents(hashed(t), ""), map[string][]byte{name: []byte("x")})
		if _, err := artifact.Write(filepath.Join(t.TempDir(), "m"), c, artifact.WriteOptions{}); !errors.Is(err, artifact.ErrInvalid) {
			t.Errorf("extra file %q: Write = %v, want ErrInvalid", name, err)
		}
	}
	c := contents(hashed(t), "")
	c.Extra = map[string]func(io.Writer) error{"x.bin": nil}
	if _, err := artifact.Write(filepath.Join(t.TempDir(), "m"), c, artifact.WriteOptions{}); !errors.Is(err, artifact.ErrInvalid) {
		t.Errorf("nil writer: Write = %v, want ErrInvalid", err)
	}
}

// flip inverts the byte at off of the file at path.
func flip(path string, off int64) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		return err
	}
	b[0] ^= 0xff
	_, err = f.WriteAt(b, off)
	return err
}
