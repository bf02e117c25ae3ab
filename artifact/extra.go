package artifact

// Extra files: model-specific files an artifact carries beside its table
// and dense state (the two-tower retrieval model's item index, item list
// and user vectors). They are listed by name in Manifest.Extra and, like
// every file, with their size and checksum in Manifest.Files; this package
// writes, checks and copies them but does not interpret their bytes.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// ErrNoExtra reports that an artifact has no extra file of the name asked
// for.
var ErrNoExtra = errors.New("artifact: no such extra file")

// maxExtraFiles bounds the extra files of one artifact.
const maxExtraFiles = 64

// reservedName reports whether name is one of the names the artifact's own
// files use (or may use), which extra files must not take.
func reservedName(name string) bool {
	if name == ManifestFile || name == DenseFile || name == VocabFile || name == manifestTmp {
		return true
	}
	return strings.HasPrefix(name, "rows-") && strings.HasSuffix(name, ".emb")
}

// validateExtra checks the manifest's extra file names: plain names, not
// reserved, distinct, each listed in Files.
func (m *Manifest) validateExtra() error {
	if len(m.Extra) > maxExtraFiles {
		return fmt.Errorf("%s: %d extra files, at most %d: %w", ManifestFile, len(m.Extra), maxExtraFiles, ErrCorrupt)
	}
	seen := make(map[string]bool, len(m.Extra))
	for _, name := range m.Extra {
		if !safeName(name) || reservedName(name) || seen[name] {
			return fmt.Errorf("%s: extra file name %q: %w", ManifestFile, name, ErrCorrupt)
		}
		seen[name] = true
		if _, ok := m.File(name); !ok {
			return fmt.Errorf("%s: extra file %q is not in the file list: %w", ManifestFile, name, ErrCorrupt)
		}
	}
	return nil
}

// checkExtraNames validates the names of Contents.Extra before a write.
func checkExtraNames(extra map[string]func(io.Writer) error) error {
	if len(extra) > maxExtraFiles {
		return fmt.Errorf("%d extra files, at most %d: %w", len(extra), maxExtraFiles, ErrInvalid)
	}
	for name, w := range extra {
		if !safeName(name) || reservedName(name) {
			return fmt.Errorf("extra file name %q: want a plain file name that is not one of the artifact's own: %w", name, ErrInvalid)
		}
		if w == nil {
			return fmt.Errorf("extra file %q has no writer: %w", name, ErrInvalid)
		}
	}
	return nil
}

// writeExtras writes b's extra files into the directory tmp, in name
// order, each fsynced, and lists them in m.
func (b *build) writeExtras(tmp string, m *Manifest) error {
	if err := checkExtraNames(b.extra); err != nil {
		return err
	}
	names := make([]string, 0, len(b.extra))
	for name := range b.extra {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		f, err := writeSynced(filepath.Join(tmp, name), m.fileHash(), b.extra[name])
		if err != nil {
			return fmt.Errorf("extra file %s: %w", name, err)
		}
		f.Name = name
		m.Files = append(m.Files, f)
		m.Extra = append(m.Extra, name)
	}
	return nil
}

// checkExtras verifies the size of every extra file against the manifest
// and, if check, its checksum (streamed: extra files are not kept in
// memory).
func (a *Artifact) checkExtras(check bool) error {
	for _, name := range a.m.Extra {
		path := filepath.Join(a.dir, name)
		spec, _ := a.m.File(name) // Validate checked it is listed
		f, err := os.Open(path)
		if err != nil {
			if os.IsNotExist(err) {
				return fmt.Errorf("%s: missing: %w: %w", path, ErrCorrupt, err)
			}
			return err
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return err
		}
		if fi.Size() != spec.Bytes {
			f.Close()
			return fmt.Errorf("%s: %d bytes, manifest says %d: %w", path, fi.Size(), spec.Bytes, ErrCorrupt)
		}
		if check {
			h := a.m.fileHash()
			if _, err := io.Copy(h, bufio.NewReaderSize(f, 1<<20)); err != nil {
				f.Close()
				return fmt.Errorf("%s: %w", path, err)
			}
			if err := a.m.checkFileSum(path, spec, h.Sum64()); err != nil {
				f.Close()
				return err
			}
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}

// Extra returns the names of the artifact's extra files (Contents.Extra
// at write time), sorted. The slice is shared: do not modify it.
func (a *Artifact) Extra() []string { return a.m.Extra }

// ExtraPath returns the path of the extra file name, whose size (and
// checksum, unless Open skipped them) Open verified: to be opened or
// mapped by the code that knows its format. The error wraps ErrNoExtra
// when the artifact has no such extra file.
func (a *Artifact) ExtraPath(name string) (string, error) {
	if !slices.Contains(a.m.Extra, name) {
		return "", fmt.Errorf("%s: no extra file %q: %w", a.dir, name, ErrNoExtra)
	}
	return filepath.Join(a.dir, name), nil
}

// ReadExtra reads the extra file name into memory (for small files; map
// big ones from ExtraPath).
func (a *Artifact) ReadExtra(name string) ([]byte, error) {
	path, err := a.ExtraPath(name)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("extra file: %w", err)
	}
	if spec, _ := a.m.File(name); int64(len(b)) != spec.Bytes {
		return nil, fmt.Errorf("%s: %d bytes, manifest says %d: %w", path, len(b), spec.Bytes, ErrCorrupt)
	}
	return b, nil
}

// extraWriters returns writers that copy a's extra files (for
// Requantize), or nil when it has none.
func (a *Artifact) extraWriters() map[string]func(io.Writer) error {
	if len(a.m.Extra) == 0 {
		return nil
	}
	out := make(map[string]func(io.Writer) error, len(a.m.Extra))
	for _, name := range a.m.Extra {
		path := filepath.Join(a.dir, name)
		out[name] = func(w io.Writer) error {
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(w, f)
			return err
		}
	}
	return out
}
