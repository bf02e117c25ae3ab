//go:build unix

package trainer

import (
	"context"
	"io/fs"
	"path/filepath"
	"syscall"
	"testing"
)

// TestOutputModes: every file a run writes (checkpoint.bin, result.json,
// metrics.jsonl, the artifact's files) has the same mode, 0644 less the
// umask; checkpoint.bin and result.json were 0644 under umask 077 while
// the others were 0600.
func TestOutputModes(t *testing.T) {
	data := genData(t, 2000)
	for _, tc := range []struct {
		umask     int
		file, dir fs.FileMode
	}{{0o022, 0o644, 0o755}, {0o077, 0o600, 0o700}} {
		out := t.TempDir()
		old := syscall.Umask(tc.umask)
		_, err := Train(context.Background(), Config{Data: data, Model: "lr", Dim: 4, Batch: 500, Threads: 2,
			Out: filepath.Join(out, "run"), CheckpointEvery: 2}, Options{})
		syscall.Umask(old)
		if err != nil {
			t.Fatal(err)
		}
		files := 0
		err = filepath.WalkDir(filepath.Join(out, "run"), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			want := tc.file
			if d.IsDir() {
				want = tc.dir
			} else {
				files++
			}
			if fi.Mode().Perm() != want {
				t.Errorf("umask %03o: %s has mode %v, want %v", tc.umask, p, fi.Mode().Perm(), want)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if files < 5 {
			t.Errorf("umask %03o: %d files written", tc.umask, files)
		}
	}
}
