//go:build unix

package atomicfile

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestMode: a written file has the mode of any other output (os.OpenFile
// with Mode): 0644 under umask 022 and 0600 under 077. os.CreateTemp's
// 0600 used to make them differ, and a forced 0644 overrode a private
// umask.
func TestMode(t *testing.T) {
	for _, tc := range []struct {
		umask int
		want  fs.FileMode
	}{{0o022, 0o644}, {0o077, 0o600}, {0o002, 0o644}} {
		old := syscall.Umask(tc.umask)
		dir := t.TempDir()
		p := filepath.Join(dir, "f")
		err := Write(p, func(w io.Writer) error { return nil })
		other, err2 := os.OpenFile(filepath.Join(dir, "other"), os.O_CREATE|os.O_WRONLY, Mode)
		syscall.Umask(old)
		if err != nil || err2 != nil {
			t.Fatal(err, err2)
		}
		other.Close()
		fi, err := os.Stat(p)
		oi, err2 := os.Stat(other.Name())
		if err != nil || err2 != nil {
			t.Fatal(err, err2)
		}
		if fi.Mode().Perm() != tc.want || oi.Mode().Perm() != tc.want {
			t.Errorf("umask %03o: written %v, os.OpenFile %v, want %v", tc.umask, fi.Mode().Perm(), oi.Mode().Perm(), tc.want)
		}
	}
}
