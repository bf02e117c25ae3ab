package prune

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"

	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/internal/streamsize"
)

// Stream format, version 1, little-endian (embedding.Frame):
//
//	header  magic   8 bytes "EMBTPRN1"
//	        version uint32 (1)
//	        cfgLen  uint32
//	        config  cfgLen bytes: the Config as JSON, defaults filled in
//	state   step int64, done uint8, searching uint8, pruned int64
//	full    the full table as embedding.Full.Save writes it
//	mask    ceil(values/64) uint64 words
//	search  while PEP searches: the thresholds as embedding.Rows.Save;
//	        while AutoSrh searches: each row's group (a byte a row, the
//	        full table's rows), then the groups' weights (Groups x dim
//	        float32)
//	end     magic   8 bytes "ENDPRN.1"
//
// The format has no checksum: the caller checksums the file.
var frame = embedding.Frame{
	Head:      [8]byte{'E', 'M', 'B', 'T', 'P', 'R', 'N', '1'},
	End:       [8]byte{'E', 'N', 'D', 'P', 'R', 'N', '.', '1'},
	Version:   1,
	MaxConfig: 1 << 24,
}

type state struct {
	Step      int64
	Done      uint8
	Searching uint8
	Pruned    int64
}

// Save writes the table to w in the format above.
func (t *Table) Save(w io.Writer) error {
	fail := func(err error) error { return fmt.Errorf("save %s table: %w", t.cfg.Kind, err) }
	if err := frame.WriteHeader(w, t.cfg); err != nil {
		return fail(err)
	}
	st := state{Step: t.step, Pruned: t.pruned}
	if t.done {
		st.Done = 1
	}
	if t.search != nil || t.srh != nil {
		st.Searching = 1
	}
	if err := binary.Write(w, binary.LittleEndian, st); err != nil {
		return fail(err)
	}
	if err := t.full.Save(w); err != nil {
		return fail(err)
	}
	if err := binary.Write(w, binary.LittleEndian, t.mask); err != nil {
		return fail(err)
	}
	if t.thr != nil {
		if err := t.thr.Save(w); err != nil {
			return fail(fmt.Errorf("thresholds: %w", err))
		}
	}
	if t.srh != nil {
		if _, err := w.Write(t.srh.group); err != nil {
			return fail(err)
		}
		if err := binary.Write(w, binary.LittleEndian, t.srh.alpha); err != nil {
			return fail(err)
		}
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
		return nil, fmt.Errorf("load pruned table: %w", err)
	}
	t, err := loadBody(r, c)
	if err != nil {
		return nil, fmt.Errorf("load %s table: %w", c.Kind, err)
	}
	return t, nil
}

func loadBody(r io.Reader, c Config) (*Table, error) {
	c, err := c.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", embedding.ErrCorrupt, err)
	}
	var st state
	if err := binary.Read(r, binary.LittleEndian, &st); err != nil {
		return nil, embedding.Truncated(err)
	}
	if st.Done > 1 || st.Searching > 1 || (st.Searching == 1 && c.Kind == DeepLight) || st.Step < 0 || st.Pruned < 0 {
		return nil, fmt.Errorf("state %+v: %w", st, embedding.ErrCorrupt)
	}
	ft, err := embedding.Load(r)
	if err != nil {
		return nil, fmt.Errorf("full table: %w", err)
	}
	full, ok := ft.(*embedding.Full)
	if !ok {
		return nil, fmt.Errorf("full table: %T: %w", ft, embedding.ErrCorrupt)
	}
	if a, b := mustJSON(c.Full), mustJSON(full.Config()); a != b {
		return nil, fmt.Errorf("full table %s, header %s: %w", b, a, embedding.ErrCorrupt)
	}
	c.Full = full.Config()
	if r, err = streamsize.AtLeast(r, 8*((int64(full.RowSets()[0].Len())*int64(c.Full.Dim)+63)/64), embedding.ErrCorrupt); err != nil {
		return nil, err
	}
	t, err := wrap(c, full)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", embedding.ErrCorrupt, err)
	}
	t.step, t.done, t.pruned = st.Step, st.Done == 1, st.Pruned
	if err := binary.Read(r, binary.LittleEndian, t.mask); err != nil {
		return nil, fmt.Errorf("mask: %w", embedding.Truncated(err))
	}
	switch {
	case st.Searching == 1 && c.Kind == PEP:
		if err := t.startSearch(); err != nil {
			return nil, err
		}
		if err := t.thr.Load(r); err != nil {
			return nil, fmt.Errorf("thresholds: %w", err)
		}
	case st.Searching == 1 && c.Kind == AutoSrh:
		rows, d := t.rows.Len(), c.Full.Dim
		if r, err = streamsize.AtLeast(r, int64(rows)+4*int64(c.Groups*d), embedding.ErrCorrupt); err != nil {
			return nil, err
		}
		group := make([]uint8, rows)
		if _, err := io.ReadFull(r, group); err != nil {
			return nil, fmt.Errorf("groups: %w", embedding.Truncated(err))
		}
		s := newSRHSearch(group, c.Groups, d)
		if err := binary.Read(r, binary.LittleEndian, s.alpha); err != nil {
			return nil, fmt.Errorf("group weights: %w", embedding.Truncated(err))
		}
		for i, g := range group {
			if int(g) >= c.Groups {
				return nil, fmt.Errorf("row %d in group %d of %d: %w", i, g, c.Groups, embedding.ErrCorrupt)
			}
		}
		for _, a := range s.alpha {
			if !(a >= 0 && a <= 1) {
				return nil, fmt.Errorf("group weight %v: %w", a, embedding.ErrCorrupt)
			}
		}
		t.srh = s
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
