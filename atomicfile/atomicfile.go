// Package atomicfile writes files so that readers and crashes only ever see
// the old content or the complete new content, never a torn file.
//
// The new content goes to a temporary file in the destination directory,
// which is fsynced, renamed over the destination and followed by an fsync of
// the directory (the pattern of pebble's OPTIONS file and Prometheus' tsdb
// meta files). A crash at any point leaves either the old file or the new
// one; a stray temporary file (named ".<base>.tmp-*") may remain and is
// ignored by readers.
package atomicfile

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Write creates path by writing it through write into a temporary
// file in the same directory, fsyncing it, renaming it over path and
// fsyncing the directory. If write fails, nothing is left behind and an
// existing file at path is untouched.
func Write(path string, write func(io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("create temp file for %s: %w", path, err)
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
	if d, derr := os.Open(dir); derr == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
