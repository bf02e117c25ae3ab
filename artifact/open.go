package artifact

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/embtab/embtab/quant"
)

// Artifact is an open artifact: its manifest, its table files mapped into
// memory as quant tables, its vocabulary and its dense state. It is
// immutable and safe for concurrent use until Close, which unmaps the
// files: the tables must not be used after it.
type Artifact struct {
	dir   string
	m     *Manifest
	codec quant.Codec
	sets  []*quant.Table
	vocab *Vocab
	dense []byte

	closeOnce sync.Once
	maps      [][]byte
	closeErr  error
}

// OpenOptions tune Open.
type OpenOptions struct {
	// SkipChecksums skips the checksums of the table, vocabulary and extra
	// files' contents, which read every byte, for a fast start of a big
	// artifact from trusted storage. Sizes, headers and footers are still
	// checked, and so are the manifest's own checksum and dense.bin's
	// (read whole anyway).
	SkipChecksums bool
}

// Open opens the artifact in dir: it reads and validates the manifest and
// checks its checksum, maps every table file, checks each file's size,
// checksum (unless opt.SkipChecksums), header and footer against the
// manifest, and reads the vocabulary and dense state. The errors name the
// file at fault and wrap ErrCorrupt or ErrVersion for a bad artifact.
// Artifacts of LegacyFormatVersion open with the checks of that version
// (see the package doc, # Compatibility).
func Open(dir string, opt OpenOptions) (_ *Artifact, err error) {
	m, err := readManifest(dir)
	if err != nil {
		return nil, err
	}
	a := &Artifact{dir: dir, m: m}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	if a.codec, err = quant.Lookup(m.Codec); err != nil {
		return nil, fmt.Errorf("%s: %w: %w", dir, ErrCorrupt, err)
	}
	check := !opt.SkipChecksums
	for i, s := range m.Table.RowSets {
		data, err := a.mapFile(s.File, check)
		if err != nil {
			return nil, err
		}
		path := filepath.Join(dir, s.File)
		h, rows, err := parseRowsFile(path, data, false)
		if err != nil {
			return nil, err
		}
		if w := m.Table.SetWidth(i); h.codec != m.Codec || h.rows != s.Rows || h.dim != w || h.stride != s.Stride || h.rowBytes != s.RowBytes {
			return nil, fmt.Errorf("%s: %d %s rows of dim %d, stride %d; manifest says %d %s rows of dim %d, stride %d: %w",
				path, h.rows, h.codec, h.dim, h.stride, s.Rows, m.Codec, w, s.Stride, ErrCorrupt)
		}
		t, err := quant.NewTable(a.codec, h.rows, h.dim, h.stride, rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w: %w", path, ErrCorrupt, err)
		}
		a.sets = append(a.sets, t)
	}
	if m.Table.Vocab != "" {
		data, err := a.mapFile(m.Table.Vocab, check)
		if err != nil {
			return nil, err
		}
		if a.vocab, err = parseVocabFile(filepath.Join(dir, m.Table.Vocab), data, check); err != nil {
			return nil, err
		}
		if a.vocab.Fields() != len(m.Fields) {
			return nil, fmt.Errorf("%s: %d fields, manifest %d: %w", filepath.Join(dir, m.Table.Vocab), a.vocab.Fields(), len(m.Fields), ErrCorrupt)
		}
	}
	// dense.bin is read whole anyway: its checksum costs little, and it is
	// the file another run's copy of the same size could replace.
	if a.dense, err = a.readFile(m.DenseFile, true); err != nil {
		return nil, err
	}
	if err := a.checkExtras(check); err != nil {
		return nil, err
	}
	return a, nil
}

// fileData checks name's size against the manifest and returns its
// contents via read, checksummed if check.
func (a *Artifact) fileData(name string, check bool, read func(*os.File, int64) ([]byte, error)) ([]byte, error) {
	path := filepath.Join(a.dir, name)
	spec, _ := a.m.File(name) // Validate checked it is listed
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: missing: %w: %w", path, ErrCorrupt, err)
		}
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() != spec.Bytes {
		return nil, fmt.Errorf("%s: %d bytes, manifest says %d: %w", path, fi.Size(), spec.Bytes, ErrCorrupt)
	}
	data, err := read(f, fi.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if check {
		if err := a.m.checkFileSum(path, spec, a.m.fileSum(data)); err != nil {
			return nil, err
		}
	}
	return data, nil
}

// mapFile maps name read-only (see fileData).
func (a *Artifact) mapFile(name string, check bool) ([]byte, error) {
	return a.fileData(name, check, func(f *os.File, size int64) ([]byte, error) {
		b, err := mapFile(f, size)
		if err == nil {
			a.maps = append(a.maps, b)
		}
		return b, err
	})
}

// readFile reads name into memory (see fileData).
func (a *Artifact) readFile(name string, check bool) ([]byte, error) {
	return a.fileData(name, check, func(f *os.File, size int64) ([]byte, error) {
		b := make([]byte, size)
		_, err := f.ReadAt(b, 0)
		return b, err
	})
}

// Dir returns the directory the artifact was opened from.
func (a *Artifact) Dir() string { return a.dir }

// Manifest returns the manifest. It is shared: do not modify it.
func (a *Artifact) Manifest() *Manifest { return a.m }

// Codec returns the codec of the rows.
func (a *Artifact) Codec() quant.Codec { return a.codec }

// RowSets returns the table's row sets as quant tables over the mapped
// files (valid until Close), in manifest order. Set i's rows have
// Manifest().Table.SetWidth(i) floats (its Dim()).
func (a *Artifact) RowSets() []*quant.Table { return a.sets }

// Vocab returns the vocabulary of a full or hybrid table, else nil.
func (a *Artifact) Vocab() *Vocab { return a.vocab }

// DenseState returns the dense net's saved state (read-only).
func (a *Artifact) DenseState() []byte { return a.dense }

// Close unmaps the files. The tables and the vocabulary must not be used
// afterwards. Close is idempotent.
func (a *Artifact) Close() error {
	a.closeOnce.Do(func() {
		for _, b := range a.maps {
			if err := unmapFile(b); err != nil && a.closeErr == nil {
				a.closeErr = fmt.Errorf("unmap %s: %w", a.dir, err)
			}
		}
		a.maps = nil
	})
	return a.closeErr
}
