package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	tests := []struct {
		name    string
		content string
		fail    bool
		want    string
	}{
		{"create", "one", false, "one"},
		{"replace", "two", false, "two"},
		{"failed write keeps the old file", "three", true, "two"},
	}
	for _, tc := range tests {
		err := Write(p, func(w io.Writer) error {
			if _, err := io.WriteString(w, tc.content); err != nil {
				return err
			}
			if tc.fail {
				return errors.New("boom")
			}
			return nil
		})
		if (err != nil) != tc.fail {
			t.Fatalf("%s: err = %v", tc.name, err)
		}
		got, _ := os.ReadFile(p)
		if string(got) != tc.want {
			t.Fatalf("%s: content %q, want %q", tc.name, got, tc.want)
		}
		ents, _ := os.ReadDir(dir)
		if len(ents) != 1 {
			t.Fatalf("%s: temporary files left: %v", tc.name, ents)
		}
	}
}

func TestWriteMissingDir(t *testing.T) {
	err := Write(filepath.Join(t.TempDir(), "no", "such", "f"), func(io.Writer) error { return nil })
	if err == nil {
		t.Fatal("want an error for a missing directory")
	}
}

// TestDirSyncError: a failed fsync of the directory is returned.
func TestDirSyncError(t *testing.T) {
	saved := syncDir
	defer func() { syncDir = saved }()
	boom := errors.New("EIO")
	syncDir = func(string) error { return boom }
	p := filepath.Join(t.TempDir(), "f")
	err := Write(p, func(w io.Writer) error { _, err := io.WriteString(w, "x"); return err })
	if !errors.Is(err, boom) {
		t.Fatalf("Write with a failing directory fsync: %v, want the fsync error", err)
	}
}

// TestCleanStale removes a target's leftover temp files and nothing else.
func TestCleanStale(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "checkpoint.bin")
	for _, name := range []string{".checkpoint.bin.tmp-123", ".checkpoint.bin.tmp-9", "checkpoint.bin", ".other.bin.tmp-1", "keep"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := CleanStale(p)
	if err != nil || len(removed) != 2 {
		t.Fatalf("CleanStale: %v %v, want the 2 temp files of checkpoint.bin", removed, err)
	}
	var left []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		left = append(left, e.Name())
	}
	if want := []string{".other.bin.tmp-1", "checkpoint.bin", "keep"}; !slices.Equal(left, want) {
		t.Errorf("left %v, want %v", left, want)
	}
	if removed, err := CleanStale(filepath.Join(dir, "none", "x")); err != nil || removed != nil {
		t.Errorf("CleanStale in a missing directory: %v %v", removed, err)
	}
}
