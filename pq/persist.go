package pq

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/internal/streamsize"
)

// Stream format, version 1, little-endian (embedding.Frame):
//
//	header  magic   8 bytes "EMBTPQT1"
//	        version uint32 (1)
//	        cfgLen  uint32
//	        config  cfgLen bytes: the Config as JSON
//	queries the query table as embedding.Full.Save writes it
//	tiers   a byte per query row: 1 frequent, 0 not
//	books   the codebooks as embedding.Rows.Save writes them
//	end     magic   8 bytes "ENDPQT.1"
//
// The format has no checksum: the caller checksums the file.
var frame = embedding.Frame{
	Head:      [8]byte{'E', 'M', 'B', 'T', 'P', 'Q', 'T', '1'},
	End:       [8]byte{'E', 'N', 'D', 'P', 'Q', 'T', '.', '1'},
	Version:   1,
	MaxConfig: 1 << 24,
}

// Save writes the table to w in the format above.
func (t *Table) Save(w io.Writer) error {
	fail := func(err error) error { return fmt.Errorf("save %s table: %w", t.cfg.Kind, err) }
	if err := frame.WriteHeader(w, t.cfg); err != nil {
		return fail(err)
	}
	if err := t.full.Save(w); err != nil {
		return fail(err)
	}
	tiers := make([]byte, len(t.high))
	for i, h := range t.high {
		if h {
			tiers[i] = 1
		}
	}
	if _, err := w.Write(tiers); err != nil {
		return fail(err)
	}
	if err := t.cb.Save(w); err != nil {
		return fail(fmt.Errorf("codebooks: %w", err))
	}
	if err := frame.WriteEnd(w); err != nil {
		return fail(err)
	}
	return nil
}

// Load replaces the table's state with that of a saved table of the same
// configuration (else embedding.ErrConfigMismatch).
func (t *Table) Load(r io.Reader) error {
	var c Config
	raw, err := frame.ReadHeader(r, &c)
	if err != nil {
		return fmt.Errorf("load %s table: %w", t.cfg.Kind, err)
	}
	mine, err := json.Marshal(t.cfg)
	if err != nil {
		return fmt.Errorf("load %s table: encode config: %w", t.cfg.Kind, err)
	}
	if !bytes.Equal(raw, mine) {
		return fmt.Errorf("load %s table: saved %+v, table %+v: %w", t.cfg.Kind, c, t.cfg, embedding.ErrConfigMismatch)
	}
	nt, err := loadBody(r, c)
	if err != nil {
		return fmt.Errorf("load %s table: %w", t.cfg.Kind, err)
	}
	nt.SetThreads(t.full.Threads())
	*t = *nt
	return nil
}

// Load reads a table saved by [Table.Save], with its threads at 1.
func Load(r io.Reader) (*Table, error) {
	var c Config
	if _, err := frame.ReadHeader(r, &c); err != nil {
		return nil, fmt.Errorf("load pq table: %w", err)
	}
	t, err := loadBody(r, c)
	if err != nil {
		return nil, fmt.Errorf("load %s table: %w", c.Kind, err)
	}
	return t, nil
}

func loadBody(r io.Reader, c Config) (*Table, error) {
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("%w: %w", embedding.ErrCorrupt, err)
	}
	ft, err := embedding.Load(r)
	if err != nil {
		return nil, fmt.Errorf("query table: %w", err)
	}
	full, ok := ft.(*embedding.Full)
	if !ok {
		return nil, fmt.Errorf("query table: %T: %w", ft, embedding.ErrCorrupt)
	}
	if a, b := mustJSON(c.Full), mustJSON(full.Config()); a != b {
		return nil, fmt.Errorf("query table %s, header %s: %w", b, a, embedding.ErrCorrupt)
	}
	c.Full = full.Config()
	qrows := full.RowSets()[0].Len()
	if r, err = streamsize.AtLeast(r, int64(qrows), embedding.ErrCorrupt); err != nil {
		return nil, err
	}
	tiers := make([]byte, qrows)
	if _, err := io.ReadFull(r, tiers); err != nil {
		return nil, fmt.Errorf("tiers: %w", embedding.Truncated(err))
	}
	n := make([]int, full.Fields())
	for f := range n {
		n[f] = len(full.Vocab(f))
	}
	books, _ := fieldBooks(n, c.High, c.Low)
	_, brows := bookBase(books, c.Parts)
	cb, err := embedding.NewRows(brows, c.Full.Dim/c.Parts, c.Full.Optimizer)
	if err != nil {
		return nil, fmt.Errorf("%w: codebooks: %w", embedding.ErrCorrupt, err)
	}
	if err := cb.Load(r); err != nil {
		return nil, fmt.Errorf("codebooks: %w", err)
	}
	t, err := wrap(c, full, cb)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", embedding.ErrCorrupt, err)
	}
	count := make([]int, full.Fields())
	for f := range count {
		for i := range len(full.Vocab(f)) + 1 {
			switch tiers[t.base[f]+i] {
			case 0:
			case 1:
				if i == len(full.Vocab(f)) {
					return nil, fmt.Errorf("field %d: the row for unseen ids is frequent: %w", f, embedding.ErrCorrupt)
				}
				t.high[t.base[f]+i] = true
				count[f]++
			default:
				return nil, fmt.Errorf("tier %d: %w", tiers[t.base[f]+i], embedding.ErrCorrupt)
			}
		}
		if count[f] != c.Frequent[f] {
			return nil, fmt.Errorf("field %d: %d frequent rows, config %d: %w", f, count[f], c.Frequent[f], embedding.ErrCorrupt)
		}
	}
	if err := frame.ReadEnd(r); err != nil {
		return nil, err
	}
	return t, nil
}

// mustJSON returns v as JSON (a config: it always encodes).
func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
