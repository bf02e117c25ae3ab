package ttrec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/internal/streamsize"
)

// Stream format, version 1, little-endian:
//
//	header  magic   8 bytes "EMBTTREC"
//	        version uint32 (1)
//	        cfgLen  uint32
//	        config  cfgLen bytes: the Config as JSON, defaults filled in
//	sets    each row set in set order, as embedding.Rows.Save writes it
//	        (parameters and optimizer state)
//	end     magic   8 bytes "ENDTTREC"
//
// The format has no checksum: the caller checksums the file.
var frame = embedding.Frame{
	Head:      [8]byte{'E', 'M', 'B', 'T', 'T', 'R', 'E', 'C'},
	End:       [8]byte{'E', 'N', 'D', 'T', 'T', 'R', 'E', 'C'},
	Version:   1,
	MaxConfig: 1 << 26,
}

// Save writes the table to w in the format above.
func (t *Table) Save(w io.Writer) error {
	if err := frame.WriteHeader(w, t.cfg); err != nil {
		return fmt.Errorf("save ttrec table: %w", err)
	}
	for s, r := range t.sets {
		if err := r.Save(w); err != nil {
			return fmt.Errorf("save ttrec table: row set %d: %w", s, err)
		}
	}
	if err := frame.WriteEnd(w); err != nil {
		return fmt.Errorf("save ttrec table: %w", err)
	}
	return nil
}

// Load replaces the table's rows and optimizer state with those of a saved
// table of the same configuration (else embedding.ErrConfigMismatch). If
// it fails the table is partly overwritten and should be discarded.
func (t *Table) Load(r io.Reader) error {
	c, raw, err := readHeader(r)
	if err != nil {
		return fmt.Errorf("load ttrec table: %w", err)
	}
	mine, err := json.Marshal(t.cfg)
	if err != nil {
		return fmt.Errorf("load ttrec table: encode config: %w", err)
	}
	if !bytes.Equal(raw, mine) {
		return fmt.Errorf("load ttrec table: saved %+v, table %+v: %w", c, t.cfg, embedding.ErrConfigMismatch)
	}
	if err := t.loadBody(r); err != nil {
		return fmt.Errorf("load ttrec table: %w", err)
	}
	return nil
}

// Load reads a table saved by [Table.Save], with its threads at 1.
func Load(r io.Reader) (*Table, error) {
	c, _, err := readHeader(r)
	if err != nil {
		return nil, fmt.Errorf("load ttrec table: %w", err)
	}
	if r, err = checkBody(r, c); err != nil {
		return nil, fmt.Errorf("load ttrec table: %w", err)
	}
	t, err := New(c)
	if err != nil {
		return nil, fmt.Errorf("load ttrec table: %w: %w", embedding.ErrCorrupt, err)
	}
	if err := t.loadBody(r); err != nil {
		return nil, fmt.Errorf("load ttrec table: %w", err)
	}
	return t, nil
}

func (t *Table) loadBody(r io.Reader) error {
	for s, rows := range t.sets {
		if err := rows.Load(r); err != nil {
			if errors.Is(err, embedding.ErrConfigMismatch) {
				return fmt.Errorf("row set %d: %w: %w", s, embedding.ErrCorrupt, err)
			}
			return fmt.Errorf("row set %d: %w", s, err)
		}
	}
	return frame.ReadEnd(r)
}

// readHeader reads and checks the header; it returns the config (checked,
// defaults filled in) and its JSON as stored.
func readHeader(r io.Reader) (Config, []byte, error) {
	var c Config
	js, err := frame.ReadHeader(r, &c)
	if err != nil {
		return c, nil, err
	}
	if c, err = c.withDefaults(); err != nil {
		return c, nil, fmt.Errorf("%w: %w", embedding.ErrCorrupt, err)
	}
	return c, js, nil
}

// checkBody checks, before Load builds the rows of c, that r holds at
// least their parameter bytes (see streamsize.AtLeast).
func checkBody(r io.Reader, c Config) (io.Reader, error) {
	need := int64(0)
	for _, sh := range c.plan().Sets {
		row := embedding.StorageRowBytes(c.Storage, sh.Width)
		if row > (math.MaxInt64-need)/int64(sh.Rows) {
			return nil, fmt.Errorf("%d rows of %d bytes: %w", sh.Rows, row, embedding.ErrCorrupt)
		}
		need += int64(sh.Rows) * row
	}
	return streamsize.AtLeast(r, need, embedding.ErrCorrupt)
}
