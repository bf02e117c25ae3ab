package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/embtab/embtab/artifact"
)

// TestModelDir: --model takes an artifact or a training run's directory
// (train --out DIR writes DIR/model).
func TestModelDir(t *testing.T) {
	root := t.TempDir()
	art := filepath.Join(root, "art")
	run := filepath.Join(root, "run")
	for _, d := range []string{art, filepath.Join(run, "model")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, artifact.ManifestFile), []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{art, art},
		{run, filepath.Join(run, "model")},
		{filepath.Join(root, "missing"), filepath.Join(root, "missing")}, // left for the loader to report
		{"", ""},
	} {
		if got := modelDir(tc.in); got != tc.want {
			t.Errorf("modelDir(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
