package robe

import (
	"errors"
	"fmt"
	"io"

	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/internal/streamsize"
)

// Stream format, version 1, little-endian:
//
//	header  magic   8 bytes "EMBTROBE"
//	        version uint32 (1)
//	        cfgLen  uint32
//	        config  cfgLen bytes: the Config as JSON, defaults filled in
//	array   the array as embedding.Hashed.Save writes a one-field table of
//	        Block-float rows (its own header, rows with optimizer state,
//	        end marker)
//	end     magic   8 bytes "ENDTROBE"
//
// The format has no checksum: the caller (checkpoint, artifact) checksums
// the file.
var frame = embedding.Frame{
	Head:    [8]byte{'E', 'M', 'B', 'T', 'R', 'O', 'B', 'E'},
	End:     [8]byte{'E', 'N', 'D', 'T', 'R', 'O', 'B', 'E'},
	Version: 1,
}

// Save writes the table (config, then the array's parameters and
// optimizer state) to w in the format above.
func (t *Table) Save(w io.Writer) error {
	if err := frame.WriteHeader(w, t.cfg); err != nil {
		return fmt.Errorf("save robe table: %w", err)
	}
	if err := t.store.Save(w); err != nil {
		return fmt.Errorf("save robe table: array: %w", err)
	}
	if err := frame.WriteEnd(w); err != nil {
		return fmt.Errorf("save robe table: %w", err)
	}
	return nil
}

// Load replaces the table's parameters and optimizer state with those of
// a saved table of the same configuration (else
// embedding.ErrConfigMismatch). Rows are read in place: if Load fails the
// table is partly overwritten and should be discarded. The thread count
// is kept.
func (t *Table) Load(r io.Reader) error {
	c, err := readHeader(r)
	if err != nil {
		return fmt.Errorf("load robe table: %w", err)
	}
	if c != t.cfg {
		return fmt.Errorf("load robe table: saved %+v, table %+v: %w", c, t.cfg, embedding.ErrConfigMismatch)
	}
	if err := t.loadBody(r); err != nil {
		return fmt.Errorf("load robe table: %w", err)
	}
	return nil
}

// Load reads a table saved by [Table.Save] and returns it, with its
// threads at 1.
func Load(r io.Reader) (*Table, error) {
	c, err := readHeader(r)
	if err != nil {
		return nil, fmt.Errorf("load robe table: %w", err)
	}
	row := embedding.StorageRowBytes(c.Storage, c.Block)
	// Before allocating the array: the stream must hold its rows.
	if r, err = streamsize.AtLeast(r, int64(c.Rows)*row, embedding.ErrCorrupt); err != nil {
		return nil, fmt.Errorf("load robe table: %w", err)
	}
	t, err := New(c)
	if err != nil {
		return nil, fmt.Errorf("load robe table: %w: %w", embedding.ErrCorrupt, err)
	}
	if err := t.loadBody(r); err != nil {
		return nil, fmt.Errorf("load robe table: %w", err)
	}
	return t, nil
}

func (t *Table) loadBody(r io.Reader) error {
	if err := t.store.Load(r); err != nil {
		if errors.Is(err, embedding.ErrConfigMismatch) {
			// The stream's own header promised this array.
			return fmt.Errorf("array: %w: %w", embedding.ErrCorrupt, err)
		}
		return fmt.Errorf("array: %w", err)
	}
	return frame.ReadEnd(r)
}

// readHeader reads and checks the header and returns the config, validated
// and with defaults.
func readHeader(r io.Reader) (Config, error) {
	var c Config
	if _, err := frame.ReadHeader(r, &c); err != nil {
		return c, err
	}
	c, err := c.WithDefaults()
	if err != nil {
		return c, fmt.Errorf("%w: %w", embedding.ErrCorrupt, err)
	}
	return c, nil
}
