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
	cfg  Config
	rows *Rows
	*Planned
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
	t := &QR{cfg: c}
	p := qrPlan(c)
	total := p.Sets[0].Rows
	if t.rows, err = NewRowsWithStorage(total, c.Dim, c.Optimizer, c.storage()); err != nil {
		return nil, fmt.Errorf("new qr table: %w", err)
	}
	if init {
		mul := c.Combine == CombineMul
		for f := range c.Rows {
			qOff, rOff := t.offsets(f)
			qEnd, rEnd := qOff+c.Rows[f], rOff+c.RemRows[f]
			if mul {
				// q·r starts as q: the remainder rows start at 1.
				t.rows.InitUniform(qOff, qEnd, c.InitScale, c.Seed, uint64(2*f))
				t.rows.Fill(rOff, rEnd, 1)
			} else {
				// q+r: each half the scale, so the sum stays in range.
				t.rows.InitUniform(qOff, qEnd, c.InitScale/2, c.Seed, uint64(2*f))
				t.rows.InitUniform(rOff, rEnd, c.InitScale/2, c.Seed, uint64(2*f+1))
			}
		}
	}
	if t.Planned, err = NewPlanned(p, []*Rows{t.rows}); err != nil {
		return nil, fmt.Errorf("new qr table: %w", err)
	}
	return t, nil
}

// offsets returns the first quotient and remainder rows of field f.
func (t *QR) offsets(f int) (q, r int) {
	total := 0
	for g := range f {
		total += t.cfg.Rows[g] + t.cfg.RemRows[g]
	}
	return total, total + t.cfg.Rows[f]
}

// qrPlan is the key plan of a QR config: field f's id reads quotient row
// q and remainder row r of hashing.QR(id, Rows[f], RemRows[f]), and the
// vector is their elementwise product (a computed combine) or sum.
func qrPlan(c Config) *Plan {
	p := &Plan{Dim: c.Dim}
	total := 0
	for f := range c.Rows {
		nq, nr := uint64(c.Rows[f]), uint64(c.RemRows[f])
		qOff, rOff := uint32(total), uint32(total+c.Rows[f])
		total += c.Rows[f] + c.RemRows[f]
		fp := FieldPlan{NumKeys: 2, Combine: SumRows, Width: c.Dim, Used: c.Dim,
			Keys: func(dst []Key, id uint64) []Key {
				q, r := hashing.QR(id, nq, nr)
				return append(dst, Key{Row: qOff + uint32(q)}, Key{Row: rOff + uint32(r)})
			}}
		if c.Combine == CombineMul {
			fp.Combine, fp.Computer = ComputeVector, qrProduct{}
		}
		p.Fields = append(p.Fields, fp)
	}
	p.Sets = []SetShape{{Rows: total, Width: c.Dim}}
	return p
}

// qrProduct is QR's multiplicative combine: v = q ⊙ r.
type qrProduct struct{}

// Compute writes q[j]·r[j] to out (rows = q then r).
func (qrProduct) Compute(_ uint64, rows, out []float32) {
	w := len(out)
	q, r := rows[:w], rows[w:2*w]
	for j := range out {
		out[j] = q[j] * r[j]
	}
}

// Backward: dq = dout ⊙ r, dr = dout ⊙ q.
func (qrProduct) Backward(_ uint64, rows, dout, drows []float32) {
	w := len(dout)
	q, r := rows[:w], rows[w:2*w]
	dq, dr := drows[:w], drows[w:2*w]
	for j, g := range dout {
		dq[j] = g * r[j]
		dr[j] = g * q[j]
	}
}

// Config returns the table's configuration, defaults filled in.
func (t *QR) Config() Config { return t.cfg.clone() }

// Params returns the quotient and remainder rows of field f, row-major,
// aliasing the table (valid until the next Load; do not modify). It
// returns nils for int8 storage: read the rows with [Rows.ReadRows]
// (RowSets).
func (t *QR) Params(f int) (quo, rem []float32) {
	q, r := t.offsets(f)
	return t.rows.span(q, q+t.cfg.Rows[f]), t.rows.span(r, r+t.cfg.RemRows[f])
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
