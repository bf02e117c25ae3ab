// Package shareddata locates the real public data sets (Criteo, Avazu,
// MovieLens) that live beside the repository in ../shared/data, for the
// tests that read them: absent data skips such a test with a clear
// message on a user's fresh clone, and fails it under CI=true, where the
// data is always present.
package shareddata

import (
	"os"
	"path/filepath"
	"testing"
)

// Dir returns the shared data directory (shared/data beside the module
// root), skipping t when it is absent, or failing t when CI=true.
func Dir(t testing.TB) string {
	t.Helper()
	dir, err := find()
	if err == nil {
		return dir
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%v (required when CI=true)", err)
	}
	t.Skipf("%v: skipping the tests on real data", err)
	return ""
}

type notFound string

func (e notFound) Error() string { return "shared data directory " + string(e) + " not found" }

// find walks up from the working directory to the module root (the
// directory holding go.mod) and looks for ../shared/data beside it.
func find() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	root := wd
	for {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(root)
		if parent == root {
			root = wd
			break
		}
		root = parent
	}
	dir := filepath.Join(filepath.Dir(root), "shared", "data")
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return dir, nil
	}
	return "", notFound(dir)
}
