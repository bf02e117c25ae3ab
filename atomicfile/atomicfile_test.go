package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
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
