package artifact

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// ResealManifest recomputes the checksum of the manifest in dir after a
// test edited it (the edit must decode), so that Open gets past the
// checksum to the checks behind it.
func ResealManifest(tb testing.TB, dir string) {
	tb.Helper()
	path := filepath.Join(dir, ManifestFile)
	raw, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		tb.Fatal(err)
	}
	js, err := m.seal()
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, js, 0o644); err != nil {
		tb.Fatal(err)
	}
}
