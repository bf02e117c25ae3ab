package embedding

import (
	"fmt"
	"io"

	"github.com/embtab/embtab/hashing"
)

// QR is the quotient-remainder trick (Shi et al. 2020, "Compositional
// Embeddings Using Complementary Partitions") with one pair of tables per
// field: field f has a quotient table of Rows[f] rows and a remainder table
// of RemRows[f] rows, id maps to the pair hashing.QR(id, Rows[f],
// RemRows[f]), and its vector is the elementwise product (CombineMul) or
// sum (CombineSum) of the two rows. Ids that collide in the virtual space
// [0, q*r) share both rows; other ids share at most one.
//
// Gradients flow to both rows: for the product, the quotient row gets
// g⊙r and the remainder row g⊙q (both from the rows before the update);
// for the sum, both get g.
//
// Init: with CombineMul the quotient rows draw from U(-s, s) and the
// remainder rows start at exactly 1, so the table starts like its quotient
// table and the gradient reaches the quotient rows at full strength; with
// CombineSum both draw from U(-s/2, s/2). Either way every initial output
// lies in [-s, s]. Field f's quotient rows draw init stream 2f, its
// remainder rows stream 2f+1.
type QR struct {
	cfg    Config
	mul    bool
	fields []qrField
	rows   *Rows
	idx    []int32   // Apply scratch: 2 rows per id
	eg     []float32 // Apply scratch: 2 gradients per id
}

type qrField struct {
	qOff, rOff int    // first quotient and remainder rows in rows
	q, r       uint64 // quotient and remainder rows of the field
}

// NewQR returns a QR table for c (Method "qr" or empty), initialised from
// c.Seed.
func NewQR(c Config) (*QR, error) {
	if c.Method == "" {
		c.Method = MethodQR
	}
	if c.Method != MethodQR {
		return nil, fmt.Errorf("new qr table: method %q: %w", c.Method, ErrConfig)
	}
	return newQR(c, true)
}

func newQR(c Config, init bool) (*QR, error) {
	c, err := c.WithDefaults()
	if err != nil {
		return nil, fmt.Errorf("new qr table: %w", err)
	}
	t := &QR{cfg: c, mul: c.Combine == CombineMul, fields: make([]qrField, len(c.Rows))}
	total := 0
	for f := range c.Rows {
		q, r := c.Rows[f], c.RemRows[f]
		t.fields[f] = qrField{qOff: total, rOff: total + q, q: uint64(q), r: uint64(r)}
		total += q + r
	}
	if t.rows, err = NewRowsWithStorage(total, c.Dim, c.Optimizer, c.storage()); err != nil {
		return nil, fmt.Errorf("new qr table: %w", err)
	}
	if init {
		for f, fl := range t.fields {
			qEnd, rEnd := fl.qOff+int(fl.q), fl.rOff+int(fl.r)
			if t.mul {
				t.rows.InitUniform(fl.qOff, qEnd, c.InitScale, c.Seed, uint64(2*f))
				t.rows.Fill(fl.rOff, rEnd, 1)
			} else {
				t.rows.InitUniform(fl.qOff, qEnd, c.InitScale/2, c.Seed, uint64(2*f))
				t.rows.InitUniform(fl.rOff, rEnd, c.InitScale/2, c.Seed, uint64(2*f+1))
			}
		}
	}
	return t, nil
}

// Config returns the table's configuration, defaults filled in.
func (t *QR) Config() Config { return t.cfg.clone() }

// Fields returns the number of fields.
func (t *QR) Fields() int { return len(t.fields) }

// Dim returns the number of floats per id.
func (t *QR) Dim() int { return t.cfg.Dim }

// SetThreads sets the number of goroutines Apply may use (see
// [Rows.SetThreads]).
func (t *QR) SetThreads(n int) { t.rows.SetThreads(n) }

// Params returns the quotient and remainder rows of field f, row-major,
// aliasing the table (valid until the next Load; do not modify). It
// returns nils for int8 storage: read the rows with [Rows.ReadRows]
// (RowSets).
func (t *QR) Params(f int) (quo, rem []float32) {
	fl := t.fields[f]
	return t.rows.span(fl.qOff, fl.qOff+int(fl.q)), t.rows.span(fl.rOff, fl.rOff+int(fl.r))
}

// Bytes reports the parameter and optimizer-state bytes of both tables;
// the index is the hash function and costs nothing.
func (t *QR) Bytes() Bytes { return t.rows.Bytes() }

// rowsOf returns the quotient and remainder rows of id in field f.
func (fl *qrField) rowsOf(id uint64) (q, r int) {
	qi, ri := hashing.QR(id, fl.q, fl.r)
	return fl.qOff + int(qi), fl.rOff + int(ri)
}

// Lookup writes the combined vector of each id to out. It panics if
// len(ids) is not a multiple of Fields() or len(out) != len(ids)*Dim().
func (t *QR) Lookup(ids []uint64, out []float32) {
	d := t.cfg.Dim
	checkBatch("Lookup", len(ids), len(out), len(t.fields), d)
	if p := t.rows.Params(); p != nil {
		// fp32: one pass, reading both rows in place.
		f := 0
		for i, id := range ids {
			q, r := t.fields[f].rowsOf(id)
			o := out[i*d : i*d+d]
			qv, rv := p[q*d : q*d+d][:len(o)], p[r*d : r*d+d][:len(o)]
			if t.mul {
				for j := range o {
					o[j] = qv[j] * rv[j]
				}
			} else {
				for j := range o {
					o[j] = qv[j] + rv[j]
				}
			}
			if f++; f == len(t.fields) {
				f = 0
			}
		}
		return
	}
	// int8: resolve a chunk of ids to their two rows, decode the quotient
	// rows and combine the decoded remainder rows into them (lookupChunk).
	var quo, rem [lookupChunk]int32
	f := 0
	for base := 0; base < len(ids); base += len(quo) {
		chunk := ids[base:min(base+len(quo), len(ids))]
		for i, id := range chunk {
			q, r := t.fields[f].rowsOf(id)
			quo[i], rem[i] = int32(q), int32(r)
			if f++; f == len(t.fields) {
				f = 0
			}
		}
		o := out[base*d : (base+len(chunk))*d]
		t.rows.Gather(quo[:len(chunk)], o)
		t.rows.combineInt8(rem[:len(chunk)], o, t.mul)
	}
}

// Apply updates the quotient and remainder rows of ids with grads (see
// [Trainable] and [Rows.Apply]); both gradients are computed from the rows
// before the update. It panics on the shape errors Lookup panics on.
func (t *QR) Apply(ids []uint64, grads []float32) {
	d := t.cfg.Dim
	checkBatch("Apply", len(ids), len(grads), len(t.fields), d)
	n := 2 * len(ids)
	if cap(t.idx) < n {
		t.idx = make([]int32, n)
		t.eg = make([]float32, n*d)
	}
	idx, eg := t.idx[:n], t.eg[:n*d]
	f := 0
	for i, id := range ids {
		q, r := t.fields[f].rowsOf(id)
		idx[2*i], idx[2*i+1] = int32(q), int32(r)
		if f++; f == len(t.fields) {
			f = 0
		}
	}
	if !t.mul {
		for i := range ids {
			g := grads[i*d : i*d+d]
			copy(eg[2*i*d:2*i*d+d], g)
			copy(eg[(2*i+1)*d:(2*i+2)*d], g)
		}
		t.rows.Apply(idx, eg)
		return
	}
	// eg gets each id's quotient and remainder rows, then the gradients:
	// the quotient row's is g⊙r, the remainder row's g⊙q.
	t.rows.Gather(idx, eg)
	for i := range ids {
		g := grads[i*d : i*d+d]
		gq, gr := eg[2*i*d : 2*i*d+d][:len(g)], eg[(2*i+1)*d : (2*i+2)*d][:len(g)]
		for j, gj := range g {
			qv, rv := gq[j], gr[j]
			gq[j] = gj * rv
			gr[j] = gj * qv
		}
	}
	t.rows.Apply(idx, eg)
}

// Save writes the table (config, parameters, optimizer state) to w in the
// format described in the package doc.
func (t *QR) Save(w io.Writer) error {
	if err := writeHeader(w, t.cfg); err != nil {
		return fmt.Errorf("save qr table: %w", err)
	}
	if err := t.rows.save(w); err != nil {
		return fmt.Errorf("save qr table: %w", err)
	}
	if err := writeEnd(w); err != nil {
		return fmt.Errorf("save qr table: %w", err)
	}
	return nil
}

// Load replaces the table's parameters and optimizer state with a saved
// table of the same configuration (else [ErrConfigMismatch]). Rows are read
// in place: if Load fails the table is partly overwritten and should be
// discarded.
func (t *QR) Load(r io.Reader) error {
	c, err := readHeader(r)
	if err != nil {
		return fmt.Errorf("load qr table: %w", err)
	}
	if !c.equal(t.cfg, false) {
		return fmt.Errorf("load qr table: saved %+v, table %+v: %w", c, t.cfg, ErrConfigMismatch)
	}
	if err := t.loadBody(r); err != nil {
		return fmt.Errorf("load qr table: %w", err)
	}
	return nil
}

func (t *QR) loadBody(r io.Reader) error {
	if err := t.rows.load(r); err != nil {
		return err
	}
	return readEnd(r)
}
