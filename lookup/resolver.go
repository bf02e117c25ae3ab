package lookup

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/embtab/embtab/artifact"
	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/hashing"
	"github.com/embtab/embtab/multiplex"
)

// Resolver is a table method's mapping from ids to stored rows and from
// rows to field vectors, rebuilt from an artifact's manifest and
// vocabulary: what the trained table's Lookup computes, split in two so
// the rows can come from any Store. It reproduces the training tables'
// Lookup exactly (same rows, same float32 operations in the same order)
// for every method: hashed, qr, full, hybrid, multiplex, unified and
// multiprobe, and for full, hashed and hybrid tables with per-field dims
// (field f's rows in row set f, FieldDims[f] floats wide, the vector
// zero-padded to Dim). Unseen ids take the table's path for them: their
// hashed row, or the field's OOV row for full tables.
//
// A Resolver is immutable and safe for concurrent use. One built over an
// artifact's vocabulary reads the mapped file: it must not be used after
// the artifact is closed.
type Resolver struct {
	method     string
	dim, width int
	combine    combineMode
	fields     []fieldMap
	vocab      *artifact.Vocab
	maxKeys    int
}

type combineMode uint8

const (
	combineCopy   combineMode = iota // one row, the vector
	combineMul                       // QR: product of two rows
	combineSum                       // QR: sum of two rows
	combineConcat                    // multiplex, unified: slots side by side
	combineProbes                    // multiprobe: sum of the slots
)

type mapKind uint8

const (
	mapHashed mapKind = iota // off + Bucket(id, n)
	mapQR                    // off + q, rOff + r
	mapVocab                 // vocabulary row, else OOV (tail == 0) or off + head + Bucket(id, tail)
	mapSlots                 // one row per slot
)

type fieldMap struct {
	kind mapKind
	set  uint32 // row set of the field's rows (hashed, vocab): 0, or f with per-field dims
	off  uint32 // first row of the field in its set (quotient rows for QR)
	n    uint64 // hashed rows; QR quotient rows
	rOff uint32 // QR remainder rows' first row
	r    uint64 // QR remainder rows
	head uint32 // vocabulary size (full: the OOV row is off+head)
	tail uint64 // hybrid tail rows; 0 for full tables
	// slots of multiplexed tables, in lookup order.
	slots []slot
	used  int // floats of the vector the rows fill; the rest are zero
}

type slot struct {
	k   int    // probe salt
	set uint32 // row set (pool table)
	n   uint64 // rows of the set
	col int    // first float of the slot in the vector (concat)
}

// NewResolver builds the resolver of m's table; v is the artifact's
// vocabulary (nil unless the table is full or hybrid). It checks that the
// manifest's row sets and vocabulary have the sizes the table config
// implies (errors wrap artifact.ErrCorrupt).
func NewResolver(m *artifact.Manifest, v *artifact.Vocab) (*Resolver, error) {
	t := &m.Table
	r := &Resolver{method: t.Method, dim: t.Dim, width: t.Width, vocab: v}
	sets, widths, err := r.build(t.Config, len(m.Fields))
	if err != nil {
		return nil, fmt.Errorf("%s table: %w", t.Method, err)
	}
	if len(sets) != len(t.RowSets) {
		return nil, fmt.Errorf("%s table: config implies %d row sets, manifest has %d: %w", t.Method, len(sets), len(t.RowSets), artifact.ErrCorrupt)
	}
	for i, n := range sets {
		if t.RowSets[i].Rows != n {
			return nil, fmt.Errorf("%s table: row set %d has %d rows, config implies %d: %w", t.Method, i, t.RowSets[i].Rows, n, artifact.ErrCorrupt)
		}
		w := r.width
		if widths != nil {
			w = widths[i]
		}
		if got := t.SetWidth(i); got != w {
			return nil, fmt.Errorf("%s table: row set %d has %d floats per row, config implies %d: %w", t.Method, i, got, w, artifact.ErrCorrupt)
		}
	}
	if len(r.fields) != len(m.Fields) {
		return nil, fmt.Errorf("%s table: %d fields, manifest %d: %w", t.Method, len(r.fields), len(m.Fields), artifact.ErrCorrupt)
	}
	for f := range r.fields {
		fm := &r.fields[f]
		if fm.used != t.FieldDims[f] {
			return nil, fmt.Errorf("%s table: field %d fills %d floats, manifest %d: %w", t.Method, f, fm.used, t.FieldDims[f], artifact.ErrCorrupt)
		}
		r.maxKeys = max(r.maxKeys, r.keysPerID(f))
	}
	return r, nil
}

// decode unmarshals a table config; unknown keys are errors.
func decode(raw json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decode config: %w: %w", artifact.ErrCorrupt, err)
	}
	return nil
}

// build fills the field maps from the table config and returns the row
// count of each row set the config implies and, for tables with per-field
// dims, each set's width (nil: every set has r.width).
func (r *Resolver) build(raw json.RawMessage, nf int) (rows, widths []int, err error) {
	corrupt := func(format string, args ...any) error {
		return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), artifact.ErrCorrupt)
	}
	switch r.method {
	case embedding.MethodHashed, embedding.MethodQR, embedding.MethodFull:
		var c embedding.Config
		if err := decode(raw, &c); err != nil {
			return nil, nil, err
		}
		c, err := c.WithDefaults()
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", artifact.ErrCorrupt, err)
		}
		if c.Method != r.method || c.Dim != r.dim || r.width != r.dim || len(c.Rows) != nf {
			return nil, nil, corrupt("config %s dim %d with %d fields; manifest %s dim %d width %d with %d fields",
				c.Method, c.Dim, len(c.Rows), r.method, r.dim, r.width, nf)
		}
		total := 0
		for f, n := range c.Rows {
			fm := fieldMap{off: uint32(total), n: uint64(n), used: r.dim}
			if c.FieldDims != nil {
				// Field f's rows alone in set f, FieldDims[f] wide.
				fm.set, fm.off, fm.used = uint32(f), 0, c.FieldDims[f]
			}
			switch r.method {
			case embedding.MethodQR:
				r.combine = combineMul
				if c.Combine == embedding.CombineSum {
					r.combine = combineSum
				}
				fm.kind, fm.rOff, fm.r = mapQR, uint32(total+n), uint64(c.RemRows[f])
				total += c.RemRows[f]
			case embedding.MethodFull:
				if r.vocab == nil || r.vocab.Fields() != nf || r.vocab.Len(f) != n-1 {
					return nil, nil, corrupt("full table field %d: %d rows need a vocabulary of %d ids", f, n, n-1)
				}
				fm.kind, fm.head = mapVocab, uint32(n-1)
			}
			r.fields = append(r.fields, fm)
			if c.FieldDims != nil {
				rows = append(rows, n)
				continue
			}
			total += n
		}
		if c.FieldDims != nil {
			return rows, c.FieldDims, nil
		}
		return []int{total}, nil, nil
	case embedding.MethodHybrid:
		var c embedding.HybridConfig
		if err := decode(raw, &c); err != nil {
			return nil, nil, err
		}
		c, err := c.WithDefaults()
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", artifact.ErrCorrupt, err)
		}
		if c.Dim != r.dim || r.width != r.dim || len(c.TailRows) != nf || len(c.HeadRows) != nf {
			return nil, nil, corrupt("config dim %d with %d fields; manifest dim %d width %d with %d fields", c.Dim, len(c.TailRows), r.dim, r.width, nf)
		}
		if r.vocab == nil || r.vocab.Fields() != nf {
			return nil, nil, corrupt("hybrid table without a vocabulary of %d fields", nf)
		}
		total := 0
		for f := range nf {
			h, tl := c.HeadRows[f], c.TailRows[f]
			if r.vocab.Len(f) != h {
				return nil, nil, corrupt("field %d: %d head rows, vocabulary has %d ids", f, h, r.vocab.Len(f))
			}
			fm := fieldMap{kind: mapVocab, off: uint32(total), head: uint32(h), tail: uint64(tl), used: r.dim}
			if c.FieldDims != nil {
				fm.set, fm.off, fm.used = uint32(f), 0, c.FieldDims[f]
				rows = append(rows, h+tl)
			} else {
				total += h + tl
			}
			r.fields = append(r.fields, fm)
		}
		if c.FieldDims != nil {
			return rows, c.FieldDims, nil
		}
		return []int{total}, nil, nil
	case multiplex.MethodMultiplex, multiplex.MethodUnified, multiplex.MethodMultiProbe:
		var c multiplex.Config
		if err := decode(raw, &c); err != nil {
			return nil, nil, err
		}
		c, err := c.WithDefaults()
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", artifact.ErrCorrupt, err)
		}
		width := c.Dim
		if c.Method == multiplex.MethodUnified {
			width = c.ChunkDim
		}
		if c.Method != r.method || c.Dim != r.dim || width != r.width || c.Fields != nf {
			return nil, nil, corrupt("config %s dim %d width %d with %d fields; manifest %s dim %d width %d with %d fields",
				c.Method, c.Dim, width, c.Fields, r.method, r.dim, r.width, nf)
		}
		// The slots of multiplex.New: slot j of the whole table (fields in
		// order) uses probe salt j and pool table j mod Tables.
		per := 1
		r.combine = combineConcat
		if c.Method == multiplex.MethodMultiProbe {
			per, r.combine = c.Probes, combineProbes
		}
		j := 0
		for f := range nf {
			n := per
			if c.Method == multiplex.MethodUnified {
				n = c.Chunks[f]
			}
			fm := fieldMap{kind: mapSlots, used: width}
			for i := range n {
				s := slot{k: j, set: uint32(j % c.Tables), n: uint64(c.Rows[j%c.Tables])}
				if r.combine == combineConcat {
					s.col = i * width
				}
				fm.slots = append(fm.slots, s)
				j++
			}
			if r.combine == combineConcat {
				fm.used = n * width
			}
			r.fields = append(r.fields, fm)
		}
		return append([]int(nil), c.Rows...), nil, nil
	}
	return nil, nil, corrupt("unknown table method %q", r.method)
}

// Dim returns the floats per field vector.
func (r *Resolver) Dim() int { return r.dim }

// Width returns the floats per stored row.
func (r *Resolver) Width() int { return r.width }

// Fields returns the number of fields.
func (r *Resolver) Fields() int { return len(r.fields) }

// FieldDim returns the number of leading floats of field f's vector that
// its rows fill (Manifest.Table.FieldDims[f]); the rest are zero.
func (r *Resolver) FieldDim(f int) int { return r.fields[f].used }

// MaxKeys returns the most keys one id maps to.
func (r *Resolver) MaxKeys() int { return r.maxKeys }

func (r *Resolver) keysPerID(f int) int {
	switch fm := &r.fields[f]; fm.kind {
	case mapQR:
		return 2
	case mapSlots:
		return len(fm.slots)
	}
	return 1
}

// Keys appends the keys of the rows that id in field f reads to dst, in
// the order Combine expects them. It panics if f is out of range.
func (r *Resolver) Keys(f int, id uint64, dst []Key) []Key {
	fm := &r.fields[f]
	switch fm.kind {
	case mapHashed:
		return append(dst, Key{fm.set, fm.off + uint32(hashing.Bucket(id, fm.n))})
	case mapQR:
		q, rem := hashing.QR(id, fm.n, fm.r)
		return append(dst, Key{0, fm.off + uint32(q)}, Key{0, fm.rOff + uint32(rem)})
	case mapVocab:
		if row, ok := r.vocab.Find(f, id); ok {
			return append(dst, Key{fm.set, fm.off + row})
		}
		if fm.tail == 0 {
			return append(dst, Key{fm.set, fm.off + fm.head})
		}
		return append(dst, Key{fm.set, fm.off + fm.head + uint32(hashing.Bucket(id, fm.tail))})
	default:
		for i := range fm.slots {
			s := &fm.slots[i]
			dst = append(dst, Key{s.set, uint32(hashing.Bucket(hashing.Probe(id, s.k), s.n))})
		}
		return dst
	}
}

// Combine writes field f's vector (Dim floats) into out from its rows
// (Width floats each, in the order of Keys, as a Store returns them), with
// the table's float32 operations. A field with a per-field dim takes its
// FieldDim(f) leading floats and is zero-padded.
func (r *Resolver) Combine(f int, rows []float32, out []float32) {
	w := r.width
	switch r.combine {
	case combineCopy:
		u := r.fields[f].used
		copy(out[:u], rows[:u])
		clear(out[u:r.dim])
	case combineMul:
		q, rem := rows[:w], rows[w:2*w]
		for j := range out[:w] {
			out[j] = q[j] * rem[j]
		}
	case combineSum:
		q, rem := rows[:w], rows[w:2*w]
		for j := range out[:w] {
			out[j] = q[j] + rem[j]
		}
	case combineConcat:
		fm := &r.fields[f]
		for i, s := range fm.slots {
			copy(out[s.col:s.col+w], rows[i*w:(i+1)*w])
		}
		clear(out[fm.used:r.dim])
	case combineProbes:
		n := len(r.fields[f].slots)
		o := out[:w]
		copy(o, rows[:w])
		for k := 1; k < n; k++ {
			row := rows[k*w : (k+1)*w]
			for j := range o {
				o[j] += row[j]
			}
		}
	}
}
