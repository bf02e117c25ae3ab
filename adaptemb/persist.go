package adaptemb

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/embtab/embtab/embedding"
)

// Stream format, version 1, little-endian:
//
//	header  magic   8 bytes "EMBADAPT"
//	        version uint32 (1)
//	        cfgLen  uint32
//	        config  cfgLen bytes: the Config as JSON (hybrid defaults filled in)
//	table   the hybrid table as embedding.Hybrid.Save writes it (its own
//	        header, head ids, rows with optimizer state, end marker)
//	end     magic   8 bytes "ENDADAPT"
//
// The format has no checksum: the caller checksums the file.
var frame = embedding.Frame{
	Head:      [8]byte{'E', 'M', 'B', 'A', 'D', 'A', 'P', 'T'},
	End:       [8]byte{'E', 'N', 'D', 'A', 'D', 'A', 'P', 'T'},
	Version:   1,
	MaxConfig: 1 << 26,
}

// Save writes the table in the format above.
func (t *Table) Save(w io.Writer) error {
	if err := frame.WriteHeader(w, t.AdaptConfig()); err != nil {
		return fmt.Errorf("save adaptemb table: %w", err)
	}
	if err := t.Hybrid.Save(w); err != nil {
		return fmt.Errorf("save adaptemb table: %w", err)
	}
	if err := frame.WriteEnd(w); err != nil {
		return fmt.Errorf("save adaptemb table: %w", err)
	}
	return nil
}

// Load replaces the table with a saved table of the same configuration
// (else embedding.ErrConfigMismatch), as [embedding.Hybrid.Load] does: the
// table changes only once everything has been read. The thread count is
// kept.
func (t *Table) Load(r io.Reader) error {
	c, js, err := readHeader(r)
	if err != nil {
		return fmt.Errorf("load adaptemb table: %w", err)
	}
	mine, err := json.Marshal(t.AdaptConfig())
	if err != nil {
		return fmt.Errorf("load adaptemb table: %w", err)
	}
	if !bytes.Equal(js, mine) {
		return fmt.Errorf("load adaptemb table: saved %s, table %s: %w", js, mine, embedding.ErrConfigMismatch)
	}
	h, err := loadBody(r, c)
	if err != nil {
		return fmt.Errorf("load adaptemb table: %w", err)
	}
	h.SetThreads(t.Threads())
	t.cfg, t.Hybrid = c, h
	return nil
}

// Load reads a table saved by [Table.Save] and returns it, with its
// threads at 1.
func Load(r io.Reader) (*Table, error) {
	c, _, err := readHeader(r)
	if err != nil {
		return nil, fmt.Errorf("load adaptemb table: %w", err)
	}
	h, err := loadBody(r, c)
	if err != nil {
		return nil, fmt.Errorf("load adaptemb table: %w", err)
	}
	return &Table{cfg: c, Hybrid: h}, nil
}

// loadBody reads the hybrid table and the end marker; the hybrid table's
// config must be the header's.
func loadBody(r io.Reader, c Config) (*embedding.Hybrid, error) {
	h, err := embedding.LoadHybrid(r)
	if err != nil {
		return nil, err
	}
	a, errA := json.Marshal(h.Config())
	b, errB := json.Marshal(c.Hybrid)
	if errA != nil || errB != nil || !bytes.Equal(a, b) {
		return nil, fmt.Errorf("the hybrid table %s is not the header's %s: %w", a, b, embedding.ErrCorrupt)
	}
	if err := frame.ReadEnd(r); err != nil {
		return nil, err
	}
	return h, nil
}

// readHeader reads and checks the header; it returns the config and its
// JSON as saved.
func readHeader(r io.Reader) (Config, []byte, error) {
	var c Config
	js, err := frame.ReadHeader(r, &c)
	if err != nil {
		return c, nil, err
	}
	if c.Method != Method {
		return c, nil, fmt.Errorf("config says method %q: %w", c.Method, embedding.ErrCorrupt)
	}
	return c, js, nil
}
