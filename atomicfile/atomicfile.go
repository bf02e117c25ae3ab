// Package atomicfile writes files so that readers and crashes only ever see
// the old content or the complete new content, never a torn file.
//
// The new content goes to a temporary file in the destination directory,
// which is fsynced, renamed over the destination and followed by an fsync of
// the directory (the pattern of pebble's OPTIONS file and Prometheus' tsdb
// meta files). A crash at any point leaves either the old file or the new
// one; a stray temporary file (named ".<base>.tmp-*") may remain. Readers
// ignore it, and [CleanStale] removes those of one target: a writer that
// owns its target calls it where it starts (before its first Write), so
// that repeated crashes do not pile up full-size temporary files.
//
// Written files are created with mode 0644 less the process's umask, as
// every other file embtab writes (os.OpenFile with 0644, the artifact
// files, metrics.jsonl): 0644 under the usual umask 022, 0600 under 077,
// the same for all of a run's outputs. (os.CreateTemp's 0600 made them
// differ, and forcing 0644 would override a private umask.) Outputs are
// not secret; keep secrets out of them or in a private directory.
//
// Write returns the directory fsync's error too: without it the rename
// may not survive a crash, so the write is not known to be durable.
package atomicfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Mode is the permission written files are created with, before the umask.
const Mode os.FileMode = 0o644

// syncDir fsyncs directory dir; tests replace it to inject failures.
var syncDir = func(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// tempPrefix is the name prefix of path's temporary files
// (".<base>.tmp-" and a random number).
func tempPrefix(path string) string { return "." + filepath.Base(path) + ".tmp-" }

// createTemp creates a new temporary file for path in its directory, with
// mode Mode less the umask (os.CreateTemp would make it 0600).
func createTemp(path string) (*os.File, error) {
	dir, prefix := filepath.Dir(path), tempPrefix(path)
	for range 10000 {
		name := filepath.Join(dir, prefix+strconv.FormatUint(uint64(rand.Uint32()), 10))
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, Mode)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("create temp file for %s: %w", path, err)
		}
		return f, nil
	}
	return nil, fmt.Errorf("create temp file for %s: no free name in %s", path, dir)
}

// CleanStale removes the temporary files a crashed Write of path left
// behind (".<base>.tmp-*" in path's directory) and returns their names.
// Call it only where no other Write of path may be running (a writer that
// owns path, where it starts): it would remove that Write's file.
func CleanStale(path string) ([]string, error) {
	dir := filepath.Dir(path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("clean stale temp files of %s: %w", path, err)
	}
	prefix := tempPrefix(path)
	var removed []string
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasPrefix(e.Name(), prefix) {
			p := filepath.Join(dir, e.Name())
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				return removed, fmt.Errorf("clean stale temp files of %s: %w", path, err)
			}
			removed = append(removed, p)
		}
	}
	return removed, nil
}

// Write creates path (mode [Mode]) by writing it through write into a
// temporary file in the same directory, fsyncing it, renaming it over path
// and fsyncing the directory. If write fails, nothing is left behind and
// an existing file at path is untouched. An error of the directory fsync
// is returned, with the new content already in place.
func Write(path string, write func(io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	tmp, err := createTemp(path)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	bw := bufio.NewWriterSize(tmp, 1<<20)
	if err = write(bw); err != nil {
		return err
	}
	if err = bw.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", tmp.Name(), err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp.Name(), err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("rename %s to %s: %w", tmp.Name(), path, err)
	}
	if err := syncDir(dir); err != nil {
		// The new content is in place but the rename may not be durable.
		return fmt.Errorf("fsync directory %s after renaming %s: %w", dir, path, err)
	}
	return nil
}
