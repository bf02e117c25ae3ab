package artifact

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/embtab/embtab/datasets"
	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/quant"
	"github.com/embtab/embtab/slots"
)

// tableFields returns the names of s's table fields.
func tableFields(s *datasets.Schema) []string {
	n := make([]string, s.NumFields())
	for f := range n {
		n[f] = s.FieldName(f)
	}
	return n
}

// FormatVersion is the version of the artifact format this package writes
// (manifest and files). Open also reads LegacyFormatVersion and rejects
// other versions with ErrVersion.
//
// Version 2 records each file's XXH3-64 keyed by the artifact's id
// (FileSpec.XXH3) and a checksum of the manifest itself
// (Manifest.ManifestXXH3); version 1 recorded each file's plain CRC-32C and
// no checksum of the manifest.
const FormatVersion = 2

// LegacyFormatVersion is the oldest format version Open reads: artifacts
// written before checksums were bound to the artifact id. Their files are
// checked against their CRC-32C as before, and their manifest is not
// checked at all (see the package doc, # Compatibility).
const LegacyFormatVersion = 1

// HashFunction names the categorical hash in manifests: XXH3-64 of the raw
// value's bytes, seeded with hashing.FieldSalt(seed, field).
const HashFunction = "xxh3-64/field-salt"

// Manifest describes an artifact: everything needed to turn raw feature
// values into embeddings and scores, and to check the files. It is stored
// as manifest.json.
type Manifest struct {
	// FormatVersion is FormatVersion at write time.
	FormatVersion int `json:"format_version"`
	// ID identifies this artifact (random, 16 hex digits): stores that
	// copy the rows (badger, Redis) key them by it.
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
	// Schema is the dataset schema the model was trained on.
	Schema datasets.Schema `json:"schema"`
	// Fields are the table's fields in order (field f of the table is
	// Fields[f]): the categorical fields, then the bags that have a field
	// of their own (datasets.Schema.FieldName); Dense the dense inputs in
	// the net's order.
	Fields []string `json:"fields"`
	Dense  []string `json:"dense"`
	// Slots lays out the dense net's inputs when the schema has bags
	// (their pooling, a sequence's slots); nil without bags.
	Slots *slots.Layout `json:"slots,omitempty"`
	// Hash is how raw values become ids.
	Hash Hash `json:"hash"`
	// Table describes the embedding table and its files.
	Table Table `json:"table"`
	// Codec is the quant codec of every row set; QuantizedFrom the codec
	// of the artifact it was re-quantized from ("" when written from
	// training).
	Codec         string `json:"codec"`
	QuantizedFrom string `json:"quantized_from,omitempty"`
	// Model is the dense net's configuration (trainer.ModelConfig) and
	// DenseFile its state (trainer's GoMLXNet Save format).
	Model     json.RawMessage `json:"model"`
	DenseFile string          `json:"dense_file"`
	// Training is the training run's configuration, for the record.
	Training json.RawMessage `json:"training,omitempty"`
	// Files lists every file of the artifact but the manifest.
	Files []FileSpec `json:"files"`
	// Extra names the model-specific extra files (extra.go), sorted; each
	// is also in Files.
	Extra []string `json:"extra,omitempty"`
	// ManifestXXH3 is the checksum of the manifest itself (format version
	// 2): the XXH3-64, keyed by ID (checksum.go), of the manifest's
	// canonical encoding without this field. Absent in version 1.
	ManifestXXH3 Hex64 `json:"manifest_xxh3,omitempty"`
}

// Hash describes the categorical hash.
type Hash struct {
	// Function is HashFunction.
	Function string `json:"function"`
	// Seed is the global hash seed (hashing.New(Seed, len(Fields))).
	Seed Hex64 `json:"seed"`
}

// Table describes an embedding table.
type Table struct {
	// Method is the table method: hashed, qr, full, hybrid, multiplex,
	// unified or multiprobe.
	Method string `json:"method"`
	// Config is the table's configuration as its package serialises it,
	// defaults filled in (embedding.Config, embedding.HybridConfig or
	// multiplex.Config).
	Config json.RawMessage `json:"config"`
	// Dim is the number of floats per field vector; FieldDims[f] the
	// number of leading floats of field f's vector that its rows fill
	// (the rest are zero).
	Dim       int   `json:"dim"`
	FieldDims []int `json:"field_dims"`
	// Width is the number of floats per stored row (Dim, except for
	// unified tables: the chunk width), unless a row set gives its own
	// (RowSetSpec.Width; see SetWidth).
	Width int `json:"width"`
	// RowSets are the table's row stores, each in one file, in the order
	// of the table's embedding.RowStore.RowSets.
	RowSets []RowSetSpec `json:"row_sets"`
	// Vocab names the vocabulary file of full and hybrid tables.
	Vocab string `json:"vocab,omitempty"`
}

// RowSetSpec describes one table file.
type RowSetSpec struct {
	File     string `json:"file"`
	Rows     int    `json:"rows"`
	Stride   int    `json:"stride"`
	RowBytes int    `json:"row_bytes"`
	// Width is the number of floats per row of this set when it differs
	// from Table.Width: tables with per-field dims (embedding.Config
	// FieldDims) store field f's rows in set f at FieldDims[f] floats.
	// 0 (absent, as in every manifest written before per-set widths
	// existed) means Table.Width.
	Width int `json:"width,omitempty"`
	// QuantError is the error of the quantization that produced the rows
	// (absent for fp32 rows written from training).
	QuantError *QuantError `json:"quant_error,omitempty"`
}

// QuantError is the error of a quantization against its source rows.
type QuantError struct {
	MaxAbs float64 `json:"max_abs"`
	RMSE   float64 `json:"rmse"`
	// Rel is ‖x̂ - x‖₂ / ‖x‖₂ over the row set.
	Rel float64 `json:"rel"`
}

// FileSpec is one file of the artifact: its name in the directory, its
// size in bytes and its checksum: XXH3 in format version 2, CRC32C in
// version 1 (each absent in the other).
type FileSpec struct {
	Name  string `json:"name"`
	Bytes int64  `json:"bytes"`
	// XXH3 is the XXH3-64 of the file's bytes keyed by the artifact id
	// (checksum.go): unlike a plain CRC-32C of a file that ends with the
	// CRC-32C of its own contents (dense.bin, items.ann), which is the
	// same constant for every such file, it differs between files and
	// between artifacts.
	XXH3 Hex64 `json:"xxh3,omitempty"`
	// CRC32C is the CRC-32C of the whole file, as format version 1
	// recorded it.
	CRC32C uint32 `json:"crc32c,omitempty"`
}

// Hex64 is a uint64 written in JSON as a hex string ("0x9e3779b97f4a7c15"),
// so that clients whose numbers are float64 read seeds exactly.
type Hex64 uint64

// MarshalText implements encoding.TextMarshaler.
func (h Hex64) MarshalText() ([]byte, error) {
	return []byte("0x" + strconv.FormatUint(uint64(h), 16)), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (h *Hex64) UnmarshalText(b []byte) error {
	s := string(b)
	if !strings.HasPrefix(s, "0x") {
		return fmt.Errorf("hex64 %q: want 0x followed by hex digits", s)
	}
	v, err := strconv.ParseUint(s[2:], 16, 64)
	if err != nil {
		return fmt.Errorf("hex64 %q: %w", s, err)
	}
	*h = Hex64(v)
	return nil
}

// SetWidth returns the number of floats per row of row set i: its own
// Width if set, else t.Width.
func (t *Table) SetWidth(i int) int {
	if w := t.RowSets[i].Width; w != 0 {
		return w
	}
	return t.Width
}

// File returns the entry of the named file.
func (m *Manifest) File(name string) (FileSpec, bool) {
	for _, f := range m.Files {
		if f.Name == name {
			return f, true
		}
	}
	return FileSpec{}, false
}

// Validate checks the manifest's consistency (not the files, nor its own
// checksum: Open checks that): version, then names, fields, dims, codec
// and file list. The errors wrap ErrVersion or ErrCorrupt.
func (m *Manifest) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s: %s: %w", ManifestFile, fmt.Sprintf(format, args...), ErrCorrupt)
	}
	if m.FormatVersion < LegacyFormatVersion || m.FormatVersion > FormatVersion {
		return fmt.Errorf("%s: format version %d, this build reads %d to %d: %w", ManifestFile, m.FormatVersion, LegacyFormatVersion, FormatVersion, ErrVersion)
	}
	legacy := m.FormatVersion == LegacyFormatVersion
	if legacy && m.ManifestXXH3 != 0 {
		return bad("format version %d has no manifest checksum, this one has manifest_xxh3", m.FormatVersion)
	}
	if m.ID == "" {
		return bad("no id")
	}
	if err := m.Schema.Validate(); err != nil {
		return bad("%v", err)
	}
	if !slices.Equal(m.Fields, tableFields(&m.Schema)) || !slices.Equal(m.Dense, nonNil(m.Schema.Dense)) {
		return bad("fields %v and dense %v differ from the schema's %v and %v", m.Fields, m.Dense, tableFields(&m.Schema), m.Schema.Dense)
	}
	switch {
	case m.Schema.NumBags() > 0 && m.Slots == nil:
		return bad("the schema has bags %v and the manifest no slots", m.Schema.Bags)
	case m.Schema.NumBags() == 0 && m.Slots != nil:
		return bad("slots for a schema without bags")
	case m.Slots != nil:
		if err := m.Slots.Validate(len(m.Fields)); err != nil {
			return bad("%v", err)
		}
		if m.Slots.Cat != m.Schema.NumCat() || len(m.Slots.Bags) != m.Schema.NumBags() {
			return bad("slots of %d fields and %d bags for a schema of %d and %d", m.Slots.Cat, len(m.Slots.Bags), m.Schema.NumCat(), m.Schema.NumBags())
		}
		for k, b := range m.Slots.Bags {
			if b.Name != m.Schema.Bags[k].Name || b.Field != m.Schema.BagField(k) {
				return bad("slot bag %d is %q of field %d, the schema's %q of field %d", k, b.Name, b.Field, m.Schema.Bags[k].Name, m.Schema.BagField(k))
			}
		}
	}
	if len(m.Fields) == 0 {
		return bad("no categorical fields")
	}
	if m.Hash.Function != HashFunction {
		return bad("hash function %q, want %q", m.Hash.Function, HashFunction)
	}
	if _, err := quant.Lookup(m.Codec); err != nil {
		return bad("%v", err)
	}
	t := &m.Table
	switch {
	case t.Method == "" || len(t.Config) == 0:
		return bad("table has no method or config")
	case t.Dim < 1 || t.Width < 1 || t.Width > maxWidth(t.Dim):
		return bad("table dim %d, width %d", t.Dim, t.Width)
	case len(t.FieldDims) != len(m.Fields):
		return bad("%d field dims for %d fields", len(t.FieldDims), len(m.Fields))
	case len(t.RowSets) == 0:
		return bad("table has no row sets")
	}
	for f, d := range t.FieldDims {
		if d < 1 || d > t.Dim {
			return bad("field %d dim %d of %d", f, d, t.Dim)
		}
	}
	seen := map[string]bool{}
	for _, f := range m.Files {
		if !safeName(f.Name) || f.Name == ManifestFile || seen[f.Name] {
			return bad("file name %q", f.Name)
		}
		if f.Bytes < 0 {
			return bad("file %s has %d bytes", f.Name, f.Bytes)
		}
		if legacy && f.XXH3 != 0 {
			return bad("file %s: format version %d records crc32c checksums, not xxh3", f.Name, m.FormatVersion)
		}
		if !legacy && f.CRC32C != 0 {
			return bad("file %s: format version %d records xxh3 checksums, not crc32c", f.Name, m.FormatVersion)
		}
		seen[f.Name] = true
	}
	need := []string{m.DenseFile}
	for _, s := range t.RowSets {
		if s.Rows < 1 || s.RowBytes < 1 || s.Stride < s.RowBytes {
			return bad("row set %s: %d rows, stride %d, row bytes %d", s.File, s.Rows, s.Stride, s.RowBytes)
		}
		if s.Width < 0 || s.Width > maxWidth(t.Dim) {
			return bad("row set %s: width %d of dim %d", s.File, s.Width, t.Dim)
		}
		need = append(need, s.File)
	}
	if t.Vocab != "" {
		need = append(need, t.Vocab)
	}
	if err := m.validateExtra(); err != nil {
		return err
	}
	for _, name := range need {
		if !seen[name] {
			return bad("file %q is not in the file list", name)
		}
	}
	return nil
}

// safeName reports whether name is a plain file name.
func safeName(name string) bool {
	return name != "" && name != "." && name != ".." && filepath.Base(name) == name &&
		!strings.ContainsAny(name, `/\`)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// maxWidth bounds the floats of a row of a table of dim floats per vector:
// dim, and a sparse row's mask besides (embedding.SparseRow).
func maxWidth(dim int) int { return dim + embedding.MaskWords(dim) }
