package artifact

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/embtab/embtab/datasets"
	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/quant"
	"github.com/embtab/embtab/slots"
)

// Contents is what Write stores: a trained model and how to feed it.
type Contents struct {
	// Schema is the training data's schema; its categorical fields are the
	// table's fields, in order, and its dense columns the net's dense
	// inputs.
	Schema *datasets.Schema
	// HashSeed is the seed the training ids were hashed with (the
	// effective one: hashing.DefaultSeed when the run gave none).
	HashSeed uint64
	// Table is the trained table: a table of package embedding or
	// multiplex (it must implement embedding.RowStore).
	Table embedding.Table
	// Dense writes the dense net's state (trainer.GoMLXNet.Save) and Model
	// is its configuration as JSON (trainer.ModelConfig).
	Dense func(io.Writer) error
	Model json.RawMessage
	// Training is the run's configuration as JSON, kept for the record.
	Training json.RawMessage
	// Codec names the quant codec of the rows ("" means fp32). Row stores
	// that hold their rows on the codec's grid (embedding.Rows.EncodedAs:
	// int8 and ALPT storage for "int8", ALPT-4 for "int4") are written as
	// they are, so the artifact serves exactly the trained rows; other
	// stores are quantized.
	Codec string
	// Slots lays out the net's inputs when the schema has bags (required
	// then; nil otherwise).
	Slots *slots.Layout
	// Extra are model-specific files to store beside the table, by file
	// name (see extra.go): each is written through its function, fsynced,
	// checksummed and listed in Manifest.Extra.
	Extra map[string]func(io.Writer) error
}

// WriteOptions tune Write and Requantize.
type WriteOptions struct {
	// Replace lets the write replace an existing artifact directory. On
	// Linux the swap is one atomic renameat2(RENAME_EXCHANGE); elsewhere
	// the old directory is renamed aside first, so a crash in between
	// leaves no directory at the destination (the old one survives with
	// the ".tmp-for-deletion" suffix).
	Replace bool
	// RowAlign pads the rows of the table files to a multiple of this many
	// bytes (a power of two up to MaxRowAlign; 64 starts every row on a
	// cache line, at the cost of up to 63 bytes of padding per row). 0 (or
	// 1), the default, packs them: stride = the codec's row bytes, the row
	// section still starting on a 64-byte boundary of the file.
	RowAlign int
}

// Write stores c as an artifact directory at dir and returns its manifest.
//
// The directory is built as dir+TmpSuffix (a stale one from a crashed
// write is removed first): every file is written and fsynced, the
// manifest last (written to a temporary name, fsynced, renamed), then the
// temporary directory is fsynced, renamed to dir, and dir's parent is
// fsynced. A crash at any point leaves either no artifact (or the previous
// one) at dir, or the complete new one. If dir exists and opt.Replace is
// not set the error wraps ErrExists.
func Write(dir string, c Contents, opt WriteOptions) (*Manifest, error) {
	if c.Schema == nil || c.Table == nil || c.Dense == nil {
		return nil, fmt.Errorf("write artifact %s: schema, table and dense net are required: %w", dir, ErrInvalid)
	}
	if c.Codec == "" {
		c.Codec = quant.FP32.Name()
	}
	codec, err := quant.Lookup(c.Codec)
	if err != nil {
		return nil, fmt.Errorf("write artifact %s: %w: %w", dir, ErrInvalid, err)
	}
	l, err := layoutOf(c.Table)
	if err != nil {
		return nil, fmt.Errorf("write artifact %s: %w", dir, err)
	}
	if l.exact && codec.Name() != quant.FP32.Name() {
		return nil, fmt.Errorf("write artifact %s: a %s table's rows carry integers (sparse masks, codes) and are stored exactly: codec %s, want %s: %w", dir, l.method, codec.Name(), quant.FP32.Name(), ErrInvalid)
	}
	if got, want := c.Table.Fields(), c.Schema.NumFields(); got != want {
		return nil, fmt.Errorf("write artifact %s: table has %d fields, schema %d (categorical columns and bags of their own): %w", dir, got, want, ErrInvalid)
	}
	m := newManifest(c.Schema, c.HashSeed, codec.Name())
	m.Slots = c.Slots
	m.Model, m.Training = c.Model, c.Training
	m.Table = Table{Method: l.method, Config: l.config, Dim: l.dim, Width: l.width, FieldDims: l.fieldDims}
	b := build{m: m, codec: codec, dense: c.Dense, vocab: l.vocab, extra: c.Extra}
	for _, s := range l.sets {
		in := setInput{rows: s.Len(), width: s.Dim(), src: readRows(s)}
		in.raw = s.EncodedAs(codec.Name())
		b.sets = append(b.sets, in)
	}
	return b.write(dir, opt)
}

// Requantize writes a copy of the artifact src at dir with its rows
// re-encoded with codec (decoded from src's codec first, so quantizing an
// already quantized artifact compounds the errors; start from fp32). The
// manifest gets a new ID and records src's codec as QuantizedFrom, and each
// row set's QuantError against src's decoded rows. dir is written as Write
// writes.
func Requantize(src *Artifact, dir, codec string, opt WriteOptions) (*Manifest, error) {
	c, err := quant.Lookup(codec)
	if err != nil {
		return nil, fmt.Errorf("requantize %s: %w: %w", src.dir, ErrInvalid, err)
	}
	old := src.Manifest()
	if meth, err := embedding.MethodByName(old.Table.Method); err == nil && c.Name() != quant.FP32.Name() {
		var index embedding.Index
		if v := src.Vocab(); v != nil {
			index = v
		}
		if p, err := meth.Plan(old.Table.Config, index); err == nil && p.Exact() {
			return nil, fmt.Errorf("requantize %s: a %s table's rows carry integers (sparse masks, codes) and are stored exactly: codec %s, want %s: %w", src.dir, old.Table.Method, c.Name(), quant.FP32.Name(), ErrInvalid)
		}
	}
	m := newManifest(&old.Schema, uint64(old.Hash.Seed), c.Name())
	m.Model, m.Training, m.QuantizedFrom, m.Slots = old.Model, old.Training, old.Codec, old.Slots
	m.Table = Table{Method: old.Table.Method, Config: old.Table.Config, Dim: old.Table.Dim,
		Width: old.Table.Width, FieldDims: old.Table.FieldDims}
	dense := src.DenseState()
	b := build{m: m, codec: c, dense: func(w io.Writer) error {
		_, err := w.Write(dense)
		return err
	}}
	b.extra = src.extraWriters()
	if v := src.Vocab(); v != nil {
		for f := range v.Fields() {
			b.vocab = append(b.vocab, v.IDs(f))
		}
	}
	for _, t := range src.RowSets() {
		b.sets = append(b.sets, setInput{rows: t.Len(), width: t.Dim(), src: func(lo, hi int, dst []float32) error {
			d := t.Dim()
			for i := lo; i < hi; i++ {
				if err := t.DecodeRow(i, dst[(i-lo)*d:(i-lo+1)*d]); err != nil {
					return err
				}
			}
			return nil
		}})
	}
	return b.write(dir, opt)
}

// rowReader is implemented by row stores that can decode their rows
// whatever their storage precision (embedding.Rows with int8 storage has
// no float32 Params to copy).
type rowReader interface {
	ReadRows(lo int, dst []float32)
}

// readRows returns the row source of a table's row store.
func readRows(s *embedding.Rows) rowSource {
	if rr, ok := any(s).(rowReader); ok {
		return func(lo, hi int, dst []float32) error {
			rr.ReadRows(lo, dst)
			return nil
		}
	}
	p, w := s.Params(), s.Dim()
	return func(lo, hi int, dst []float32) error {
		copy(dst, p[lo*w:hi*w])
		return nil
	}
}

func newManifest(s *datasets.Schema, seed uint64, codec string) *Manifest {
	var id [8]byte
	rand.Read(id[:])
	return &Manifest{
		FormatVersion: FormatVersion,
		ID:            hex.EncodeToString(id[:]),
		Created:       time.Now().UTC().Truncate(time.Second),
		Schema:        *s,
		Fields:        tableFields(s),
		Dense:         append([]string{}, s.Dense...),
		Hash:          Hash{Function: HashFunction, Seed: Hex64(seed)},
		Codec:         codec,
		DenseFile:     DenseFile,
	}
}

// build is an artifact about to be written.
type build struct {
	m     *Manifest
	codec quant.Codec
	sets  []setInput
	vocab [][]uint64
	dense func(io.Writer) error
	extra map[string]func(io.Writer) error
}

type setInput struct {
	rows  int
	width int // floats per row (Table.Width, or the set's own)
	src   rowSource
	raw   []byte // the rows already in the codec's format, or nil
}

func (b *build) write(dir string, opt WriteOptions) (*Manifest, error) {
	dir = filepath.Clean(dir)
	if a := opt.RowAlign; a < 0 || a > MaxRowAlign || a&(a-1) != 0 {
		return nil, fmt.Errorf("write artifact %s: row alignment %d is not a power of two up to %d: %w", dir, a, MaxRowAlign, ErrInvalid)
	}
	m, err := b.writeDir(dir, opt)
	if err != nil {
		return nil, fmt.Errorf("write artifact %s: %w", dir, err)
	}
	return m, nil
}

func (b *build) writeDir(dir string, opt WriteOptions) (m *Manifest, err error) {
	exists := false
	if _, err := os.Stat(dir); err == nil {
		if !opt.Replace {
			return nil, ErrExists
		}
		exists = true
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, err
	}
	tmp := dir + TmpSuffix
	if err := os.RemoveAll(tmp); err != nil {
		return nil, fmt.Errorf("remove stale %s: %w", tmp, err)
	}
	if err := os.Mkdir(tmp, 0o755); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	m = b.m
	for i, s := range b.sets {
		name := RowsFile(i)
		f, spec, err := writeRowsFile(filepath.Join(tmp, name), name, b.codec, s.rows, s.width, opt.RowAlign, m.fileHash(), s.src, s.raw)
		if err != nil {
			return nil, err
		}
		if s.width != m.Table.Width {
			spec.Width = s.width // per-field dims; absent otherwise, as before
		}
		m.Files = append(m.Files, f)
		m.Table.RowSets = append(m.Table.RowSets, spec)
	}
	if b.vocab != nil {
		f, err := writeVocabFile(filepath.Join(tmp, VocabFile), VocabFile, b.vocab, m.fileHash())
		if err != nil {
			return nil, err
		}
		m.Files = append(m.Files, f)
		m.Table.Vocab = VocabFile
	}
	if err := b.writeExtras(tmp, m); err != nil {
		return nil, err
	}
	f, err := writeSynced(filepath.Join(tmp, DenseFile), m.fileHash(), b.dense)
	if err != nil {
		return nil, err
	}
	f.Name = DenseFile
	m.Files = append(m.Files, f)
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("internal error: the manifest being written is invalid: %w", err)
	}
	js, err := m.seal()
	if err != nil {
		return nil, err
	}
	if _, err := writeSynced(filepath.Join(tmp, manifestTmp), m.fileHash(), func(w io.Writer) error {
		_, err := w.Write(js)
		return err
	}); err != nil {
		return nil, err
	}
	if err := os.Rename(filepath.Join(tmp, manifestTmp), filepath.Join(tmp, ManifestFile)); err != nil {
		return nil, err
	}
	if err := syncDir(tmp); err != nil {
		return nil, err
	}
	if exists {
		if err := replaceDir(tmp, dir); err != nil {
			return nil, err
		}
	} else if err := os.Rename(tmp, dir); err != nil {
		return nil, err
	}
	if err := syncDir(parent); err != nil {
		return nil, err
	}
	if exists {
		// replaceDir left the old artifact at tmp or dir+oldSuffix.
		os.RemoveAll(tmp)
		os.RemoveAll(dir + oldSuffix)
	}
	return m, nil
}

// writeSynced creates path (which must not exist), writes it through
// write, fsyncs and closes it, and returns its size and its checksum by h
// (a new Manifest.fileHash).
func writeSynced(path string, h hash.Hash64, write func(io.Writer) error) (FileSpec, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return FileSpec{}, err
	}
	defer f.Close()
	cw := &countWriter{w: io.MultiWriter(f, h)}
	bw := bufio.NewWriterSize(cw, 1<<20)
	if err := write(bw); err != nil {
		return FileSpec{}, fmt.Errorf("write %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		return FileSpec{}, fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return FileSpec{}, fmt.Errorf("fsync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return FileSpec{}, fmt.Errorf("close %s: %w", path, err)
	}
	return FileSpec{Name: filepath.Base(path), Bytes: cw.n, XXH3: Hex64(h.Sum64())}, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// syncDir fsyncs a directory, making the renames and creations in it
// durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

// readManifest reads and validates dir's manifest.
func readManifest(dir string) (*Manifest, error) {
	path := filepath.Join(dir, ManifestFile)
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: no manifest (not an artifact, or an unfinished write): %w: %w", dir, ErrCorrupt, err)
		}
		return nil, err
	}
	if fi.Size() > maxManifestBytes {
		return nil, fmt.Errorf("%s: %d bytes: %w", path, fi.Size(), ErrCorrupt)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := new(Manifest)
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(m); err != nil {
		return nil, fmt.Errorf("%s: %w: %w", path, ErrCorrupt, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%s: data after the manifest object: %w", path, ErrCorrupt)
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	if err := m.checkSeal(path); err != nil {
		return nil, err
	}
	return m, nil
}

// maxManifestBytes bounds the manifest read by Open.
const maxManifestBytes = 64 << 20
