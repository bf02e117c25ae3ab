package ttrec

import (
	"encoding/json"
	"fmt"

	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/hashing"
)

// Table is a ttrec table: its config, its row sets and the shared engine.
// It implements [embedding.TrainTable] and [embedding.Describer]; build it
// with [New] or the method's New (`train --table ttrec`).
type Table struct {
	cfg  Config
	sets []*embedding.Rows
	*embedding.Planned
}

// New returns a freshly initialised table for c: plain rows uniform in
// [-InitScale, InitScale], core entries as the package doc says. The
// errors wrap embedding.ErrConfig (or the row store's errors).
func New(c Config) (*Table, error) {
	c, err := c.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("new ttrec table: %w", err)
	}
	p := c.plan()
	t := &Table{cfg: c}
	for s, sh := range p.Sets {
		st := embedding.Storage{Precision: c.Storage, Seed: hashing.FieldSalt(c.Seed, s)}
		r, err := embedding.NewRowsWithStorage(sh.Rows, sh.Width, c.Optimizer, st)
		if err != nil {
			return nil, fmt.Errorf("new ttrec table: row set %d: %w", s, err)
		}
		t.sets = append(t.sets, r)
	}
	for s, f := range c.setFields() {
		scale := c.InitScale
		if f >= 0 {
			scale = c.Fields[f].initScale(c.InitScale)
		}
		t.sets[s].InitUniform(0, t.sets[s].Len(), scale, c.Seed, uint64(s))
	}
	if t.Planned, err = embedding.NewPlanned(p, t.sets); err != nil {
		return nil, fmt.Errorf("new ttrec table: %w", err)
	}
	return t, nil
}

// setFields returns, per row set, the tensor-train field it holds, or -1
// for the plain set. The plain set (if any field is plain) is set 0; then
// one set per tensor-train field, in field order.
func (c Config) setFields() []int {
	var s []int
	for _, fc := range c.Fields {
		if !fc.TT() {
			s = append(s, -1)
			break
		}
	}
	for f, fc := range c.Fields {
		if fc.TT() {
			s = append(s, f)
		}
	}
	return s
}

// plan is the key plan of c (checked, defaults filled in). A plain field
// reads row Bucket(id, Rows) of its part of the plain set (fields in
// order). A tensor-train field hashes h = Bucket(id, n1·n2·n3), takes the
// digits i1 = h mod n1, i2 = (h / n1) mod n2, i3 = h / (n1·n2), and reads
// the k1 rows of slice i1 of core 1 (rows [i1·k1, (i1+1)·k1) of its set),
// then the k2 of slice i2 of core 2 (after core 1's n1·k1 rows), then the
// k3 of slice i3 of core 3, and computes the vector from them.
func (c Config) plan() *embedding.Plan {
	p := &embedding.Plan{Dim: c.Dim}
	plain := 0
	for _, fc := range c.Fields {
		plain += fc.Rows
	}
	if plain > 0 {
		p.Sets = append(p.Sets, embedding.SetShape{Rows: plain, Width: c.Dim})
	}
	off := 0
	for _, fc := range c.Fields {
		if !fc.TT() {
			base, n := uint32(off), uint64(fc.Rows)
			off += fc.Rows
			p.Fields = append(p.Fields, embedding.FieldPlan{NumKeys: 1, Combine: embedding.CopyRow, Width: c.Dim, Used: c.Dim,
				Keys: func(dst []embedding.Key, id uint64) []embedding.Key {
					return append(dst, embedding.Key{Row: base + uint32(hashing.Bucket(id, n))})
				}})
			continue
		}
		set := uint32(len(p.Sets))
		w := fc.Width(c.Dim)
		p.Sets = append(p.Sets, embedding.SetShape{Rows: fc.SetRows(c.Dim), Width: w})
		k := fc.keysPer(c.Dim)
		n1, n2, space := uint64(fc.N[0]), uint64(fc.N[1]), fc.Space()
		k1, k2, k3 := uint32(k[0]), uint32(k[1]), uint32(k[2])
		base2 := uint32(fc.N[0]) * k1
		base3 := base2 + uint32(fc.N[1])*k2
		p.Fields = append(p.Fields, embedding.FieldPlan{NumKeys: k[0] + k[1] + k[2], Combine: embedding.ComputeVector,
			Width: w, Used: c.Dim, Computer: contraction{d1: fc.D[0], d2: fc.D[1], d3: fc.D[2], r: fc.Rank},
			Keys: func(dst []embedding.Key, id uint64) []embedding.Key {
				h := hashing.Bucket(id, space)
				i1 := uint32(h % n1)
				h /= n1
				i2, i3 := uint32(h%n2), uint32(h/n2)
				for j, r := uint32(0), i1*k1; j < k1; j++ {
					dst = append(dst, embedding.Key{Set: set, Row: r + j})
				}
				for j, r := uint32(0), base2+i2*k2; j < k2; j++ {
					dst = append(dst, embedding.Key{Set: set, Row: r + j})
				}
				for j, r := uint32(0), base3+i3*k3; j < k3; j++ {
					dst = append(dst, embedding.Key{Set: set, Row: r + j})
				}
				return dst
			}})
	}
	return p
}

// Config returns the table's configuration, defaults filled in.
func (t *Table) Config() Config { return t.cfg.clone() }

// Bytes reports the rows' parameter and optimizer-state bytes; the index
// is the hash function and costs nothing.
func (t *Table) Bytes() embedding.Bytes { return t.Planned.Bytes() }

// Describe records the table for an artifact: its config, plan and row
// sets (no index).
func (t *Table) Describe() (embedding.Description, error) {
	js, err := json.Marshal(t.cfg)
	if err != nil {
		return embedding.Description{}, fmt.Errorf("ttrec table: encode config: %w", err)
	}
	p := t.Plan()
	d := embedding.Description{Method: Method, Config: js, Plan: p, Sets: t.RowSets()}
	widths := make([]int, len(p.Sets))
	same := true
	for s, sh := range p.Sets {
		widths[s] = sh.Width
		d.Width = max(d.Width, sh.Width)
		same = same && sh.Width == p.Sets[0].Width
	}
	if !same {
		d.SetWidths = widths
	}
	return d, nil
}
