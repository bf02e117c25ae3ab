package dimsearch

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/embtab/embtab/atomicfile"
	"github.com/embtab/embtab/embedding"
)

// Search methods, the values of Plan.Method.
const (
	MethodOptEmbed = "optembed"
	MethodDNIS     = "dnis"
	MethodAutoDim  = "autodim"
	MethodUniform  = "uniform"
)

// PlanVersion is the version of the plan file format. Version 2 counts a
// field's bytes in serving bytes (rows and the vocabulary of its kept
// ids, [FieldCost]); version 1 plans counted the rows only and are
// refused: search again with this version.
const PlanVersion = 2

// ErrPlan marks an unreadable or inconsistent plan file.
var ErrPlan = errors.New("invalid dimension plan")

// Plan is the outcome of a dimension search: what a table of the searched
// model holds per field.
type Plan struct {
	FormatVersion int    `json:"format_version"`
	Method        string `json:"method"`
	// BaseDim is the dimension every field had during the search (the
	// model's Dim); every field's Dim is in 1..BaseDim.
	BaseDim int `json:"base_dim"`
	// Budget is the byte budget the search met (fp32 parameter bytes) and
	// Bytes what the plan's full table costs: Σ_f (KeptRows+1)·Dim·4 (the
	// extra row is the field's OOV row).
	Budget int64 `json:"budget_bytes"`
	Bytes  int64 `json:"bytes"`
	// Fields are the per-field decisions, in table order.
	Fields []FieldPlan `json:"fields"`
	// ValAUC is the validation AUC of the searched model under the plan
	// (the supernet's for OptEmbed, the soft-selected model's for DNIS).
	ValAUC float64 `json:"val_auc,omitempty"`
	// SearchSeconds is the wall time of the search.
	SearchSeconds float64 `json:"search_seconds,omitempty"`
	// Evaluated counts the candidates whose fitness was computed.
	Evaluated int `json:"evaluated,omitempty"`
	// KeptFile names the sidecar (in the plan's directory) holding the kept
	// ids of every pruned field, and KeptCRC its CRC-32C; both empty when
	// no field was pruned.
	KeptFile string `json:"kept_file,omitempty"`
	KeptCRC  uint32 `json:"kept_crc,omitempty"`

	// Kept[f] lists the kept ids of field f (sorted ascending), or is nil
	// when the field keeps every row of its vocabulary.
	Kept [][]uint64 `json:"-"`
}

// FieldPlan is one field's decision.
type FieldPlan struct {
	Name string `json:"name"`
	// Dim is the field's searched dimension.
	Dim int `json:"dim"`
	// Cardinality is the field's distinct training values; KeptRows how
	// many of them keep a row (the rest share the OOV row).
	Cardinality int64 `json:"cardinality"`
	KeptRows    int64 `json:"kept_rows"`
	// Bytes is (KeptRows+1)·Dim·4.
	Bytes int64 `json:"bytes"`
	// Threshold is OptEmbed's learned pruning threshold (L1 norm).
	Threshold float32 `json:"threshold,omitempty"`
	// Weight is DNIS's mean |selection weight| over the kept dimensions.
	Weight float32 `json:"weight,omitempty"`
}

// Dims returns the per-field dimensions.
func (p *Plan) Dims() []int {
	d := make([]int, len(p.Fields))
	for f, fp := range p.Fields {
		d[f] = fp.Dim
	}
	return d
}

// Chunks returns the Unified Embedding chunk count of every field for
// chunks of chunkDim floats: ceil(Dim/chunkDim), at least 1.
func (p *Plan) Chunks(chunkDim int) []int {
	c := make([]int, len(p.Fields))
	for f, fp := range p.Fields {
		c[f] = max(1, (fp.Dim+chunkDim-1)/chunkDim)
	}
	return c
}

// Cost returns the serving bytes of a full table whose field f holds
// rows[f] rows plus one OOV row at dims[f] floats ([FieldCost] summed).
func Cost(rows []int64, dims []int) int64 {
	var b int64
	for f, n := range rows {
		b += FieldCost(n, dims[f])
	}
	return b
}

// FieldCost returns the serving bytes of one field of a full table with
// rows kept ids at dim floats: its fp32 rows (the kept ids' and the OOV
// row) and its vocabulary ([embedding.IndexBytesPerID] an id), which is
// what the budget of a full table counts.
func FieldCost(rows int64, dim int) int64 {
	return (rows+1)*int64(dim)*4 + rows*embedding.IndexBytesPerID
}

// finish fills the derived fields: per-field bytes and the total.
func (p *Plan) finish() {
	p.FormatVersion = PlanVersion
	p.Bytes = 0
	for f := range p.Fields {
		fp := &p.Fields[f]
		fp.Bytes = FieldCost(fp.KeptRows, fp.Dim)
		p.Bytes += fp.Bytes
	}
}

// FinishPlan fills p's derived fields (per-field and total bytes) and
// validates it, as WritePlan does, for a plan that is not written.
func FinishPlan(p *Plan) error {
	p.finish()
	return p.Validate()
}

// Validate checks the plan's internal consistency.
func (p *Plan) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrPlan, fmt.Sprintf(format, a...))
	}
	if p.FormatVersion != PlanVersion {
		return bad("format version %d, this build reads %d", p.FormatVersion, PlanVersion)
	}
	switch p.Method {
	case MethodOptEmbed, MethodDNIS, MethodAutoDim, MethodUniform:
	default:
		return bad("method %q: want %s, %s, %s or %s", p.Method, MethodOptEmbed, MethodDNIS, MethodAutoDim, MethodUniform)
	}
	if p.BaseDim < 1 || len(p.Fields) == 0 {
		return bad("base dim %d and %d fields", p.BaseDim, len(p.Fields))
	}
	if p.KeptFile == "" && p.KeptCRC != 0 {
		return bad("kept_crc without kept_file")
	}
	if p.Kept != nil && len(p.Kept) != len(p.Fields) {
		return bad("kept ids for %d fields, plan has %d", len(p.Kept), len(p.Fields))
	}
	var total int64
	for f, fp := range p.Fields {
		if fp.Dim < 1 || fp.Dim > p.BaseDim {
			return bad("field %d (%s): dim %d outside 1..%d", f, fp.Name, fp.Dim, p.BaseDim)
		}
		if fp.KeptRows < 0 || fp.KeptRows > fp.Cardinality {
			return bad("field %d (%s): %d kept rows of %d", f, fp.Name, fp.KeptRows, fp.Cardinality)
		}
		pruned := p.Kept != nil && p.Kept[f] != nil
		if pruned && int64(len(p.Kept[f])) != fp.KeptRows {
			return bad("field %d (%s): %d kept ids, kept_rows %d", f, fp.Name, len(p.Kept[f]), fp.KeptRows)
		}
		if !pruned && fp.KeptRows != fp.Cardinality {
			return bad("field %d (%s): %d kept rows of %d but no kept ids", f, fp.Name, fp.KeptRows, fp.Cardinality)
		}
		if want := FieldCost(fp.KeptRows, fp.Dim); fp.Bytes != want {
			return bad("field %d (%s): bytes %d, want %d", f, fp.Name, fp.Bytes, want)
		}
		total += fp.Bytes
	}
	if total != p.Bytes {
		return bad("bytes %d, fields sum to %d", p.Bytes, total)
	}
	if p.Budget > 0 && p.Bytes > p.Budget {
		return bad("bytes %d over the budget %d", p.Bytes, p.Budget)
	}
	return nil
}

// KeptIDs returns the ids field f keeps a row for: Kept[f] when the field
// was pruned, else vocab (every training value).
func (p *Plan) KeptIDs(f int, vocab []uint64) []uint64 {
	if p.Kept != nil && p.Kept[f] != nil {
		return p.Kept[f]
	}
	return vocab
}

const keptMagic = "EMBTKEPT"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// WritePlan validates p and writes it as JSON at path and, when some
// field was pruned, its kept ids to path+".<crc>.kept" (both atomically:
// temp file, fsync, rename; the sidecar first, so the JSON never names a
// sidecar that is not there). It fills p's derived fields.
func WritePlan(path string, p *Plan) error {
	p.finish()
	p.KeptFile, p.KeptCRC = "", 0
	var body []byte
	if p.Kept != nil {
		pruned := false
		for _, k := range p.Kept {
			pruned = pruned || k != nil
		}
		if pruned {
			body = encodeKept(p.Kept)
			p.KeptCRC = crc32.Checksum(body, castagnoli)
			// Named after its checksum: a crash between the two renames
			// leaves the old JSON with its own, untouched sidecar.
			p.KeptFile = fmt.Sprintf("%s.%08x.kept", filepath.Base(path), p.KeptCRC)
		}
	}
	if err := p.Validate(); err != nil {
		return fmt.Errorf("write plan %s: %w", path, err)
	}
	if body != nil {
		err := atomicfile.Write(filepath.Join(filepath.Dir(path), p.KeptFile), func(w io.Writer) error {
			_, err := w.Write(body)
			return err
		})
		if err != nil {
			return fmt.Errorf("write plan %s: kept ids: %w", path, err)
		}
	}
	err := atomicfile.Write(path, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(p)
	})
	if err != nil {
		return fmt.Errorf("write plan %s: %w", path, err)
	}
	return nil
}

// ReadPlan reads a plan written by WritePlan, with its kept ids, and
// checks it.
func ReadPlan(path string) (*Plan, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var p Plan
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("read plan %s: %w: %w", path, ErrPlan, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("read plan %s: data after the JSON object: %w", path, ErrPlan)
	}
	if p.KeptFile != "" {
		if filepath.Base(p.KeptFile) != p.KeptFile || p.KeptFile == "." || p.KeptFile == ".." {
			return nil, fmt.Errorf("read plan %s: kept_file %q must be a file name: %w", path, p.KeptFile, ErrPlan)
		}
		kp := filepath.Join(filepath.Dir(path), p.KeptFile)
		body, err := os.ReadFile(kp)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("read plan %s: kept ids: %w: %w", path, ErrPlan, err)
		}
		if err != nil {
			return nil, fmt.Errorf("read plan %s: %w", path, err)
		}
		if c := crc32.Checksum(body, castagnoli); c != p.KeptCRC {
			return nil, fmt.Errorf("read plan %s: %s has CRC-32C %08x, plan says %08x: %w", path, kp, c, p.KeptCRC, ErrPlan)
		}
		if p.Kept, err = decodeKept(body, len(p.Fields)); err != nil {
			return nil, fmt.Errorf("read plan %s: %s: %w", path, kp, err)
		}
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("read plan %s: %w", path, err)
	}
	return &p, nil
}

// encodeKept lays out the kept ids: magic, version (u32), fields (u32),
// then per field a present flag (u8, 0 = every row kept), a count (u64)
// and the ids (u64 each); little endian.
func encodeKept(kept [][]uint64) []byte {
	var b []byte
	b = append(b, keptMagic...)
	b = binary.LittleEndian.AppendUint32(b, PlanVersion)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(kept)))
	for _, ids := range kept {
		if ids == nil {
			b = append(b, 0)
			continue
		}
		b = append(b, 1)
		b = binary.LittleEndian.AppendUint64(b, uint64(len(ids)))
		for _, id := range ids {
			b = binary.LittleEndian.AppendUint64(b, id)
		}
	}
	return b
}

func decodeKept(b []byte, fields int) ([][]uint64, error) {
	if len(b) < 16 || string(b[:8]) != keptMagic {
		return nil, fmt.Errorf("not a kept-ids file: %w", ErrPlan)
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != PlanVersion {
		return nil, fmt.Errorf("kept-ids version %d, want %d: %w", v, PlanVersion, ErrPlan)
	}
	if n := int(binary.LittleEndian.Uint32(b[12:])); n != fields {
		return nil, fmt.Errorf("kept ids of %d fields, plan has %d: %w", n, fields, ErrPlan)
	}
	b = b[16:]
	kept := make([][]uint64, fields)
	for f := range kept {
		if len(b) < 1 {
			return nil, fmt.Errorf("field %d: truncated: %w", f, ErrPlan)
		}
		present := b[0]
		b = b[1:]
		if present == 0 {
			continue
		}
		if present != 1 {
			return nil, fmt.Errorf("field %d: flag %d, want 0 or 1: %w", f, present, ErrPlan)
		}
		if len(b) < 8 {
			return nil, fmt.Errorf("field %d: truncated: %w", f, ErrPlan)
		}
		n := binary.LittleEndian.Uint64(b)
		b = b[8:]
		if n > uint64(len(b))/8 {
			return nil, fmt.Errorf("field %d: %d ids in %d bytes: %w", f, n, len(b), ErrPlan)
		}
		ids := make([]uint64, n)
		for i := range ids {
			ids[i] = binary.LittleEndian.Uint64(b[8*i:])
			if i > 0 && ids[i] <= ids[i-1] {
				return nil, fmt.Errorf("field %d: ids not strictly ascending at %d: %w", f, i, ErrPlan)
			}
		}
		b = b[8*n:]
		kept[f] = ids
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%d bytes after the last field: %w", len(b), ErrPlan)
	}
	return kept, nil
}
