package cafe

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/hotsketch"
)

// The checkpoint stream of a CAFE table, little-endian:
//
//	magic "EMBCAFE1"
//	config: u32 length, then the Config as JSON
//	sketch: the hot sketch's state (hotsketch's format)
//	owners: Pool × (field i32, id u64): each pool row's last owner
//	promotions u64
//	rows:   the row store (embedding.Rows.Save)
//	end "CAFE.END"
var (
	magic   = [8]byte{'E', 'M', 'B', 'C', 'A', 'F', 'E', '1'}
	endMark = [8]byte{'C', 'A', 'F', 'E', '.', 'E', 'N', 'D'}
)

// maxConfigBytes bounds the config of a stream.
const maxConfigBytes = 1 << 20

// Save writes the table: config, sketch, pool owners and rows. A table
// loaded from it looks up and trains exactly as this one.
func (t *Table) Save(w io.Writer) error {
	js, err := json.Marshal(t.cfg)
	if err != nil {
		return fmt.Errorf("cafe table: save config: %w", err)
	}
	var b bytes.Buffer
	b.Write(magic[:])
	b.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(js))))
	b.Write(js)
	if err := t.sk.Save(&b); err != nil {
		return fmt.Errorf("cafe table: save: %w", err)
	}
	ow := make([]byte, 0, 12*t.cfg.Pool+8)
	for h := range t.cfg.Pool {
		ow = binary.LittleEndian.AppendUint32(ow, uint32(t.ownerField[h]))
		ow = binary.LittleEndian.AppendUint64(ow, t.ownerID[h])
	}
	ow = binary.LittleEndian.AppendUint64(ow, t.promotions)
	b.Write(ow)
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("cafe table: save: %w", err)
	}
	if err := t.rows.Save(w); err != nil {
		return fmt.Errorf("cafe table: save rows: %w", err)
	}
	if _, err := w.Write(endMark[:]); err != nil {
		return fmt.Errorf("cafe table: save: %w", err)
	}
	return nil
}

// readConfig reads a stream's magic and config.
func readConfig(r io.Reader) (Config, []byte, error) {
	var h [12]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return Config{}, nil, fmt.Errorf("cafe table: load: %w", err)
		}
		return Config{}, nil, fmt.Errorf("cafe table: load header: %w: %w", embedding.ErrCorrupt, err)
	}
	if [8]byte(h[:8]) != magic {
		return Config{}, nil, fmt.Errorf("cafe table: load: magic %q: %w", h[:8], embedding.ErrBadMagic)
	}
	n := binary.LittleEndian.Uint32(h[8:])
	if n == 0 || n > maxConfigBytes {
		return Config{}, nil, fmt.Errorf("cafe table: load: config of %d bytes: %w", n, embedding.ErrCorrupt)
	}
	js := make([]byte, n)
	if _, err := io.ReadFull(r, js); err != nil {
		return Config{}, nil, fmt.Errorf("cafe table: load config: %w: %w", embedding.ErrCorrupt, err)
	}
	var c Config
	if err := embedding.DecodeConfig(js, &c); err != nil {
		return Config{}, nil, fmt.Errorf("cafe table: load: %w", err)
	}
	if err := c.validate(); err != nil {
		return Config{}, nil, fmt.Errorf("cafe table: load: %w: %w", embedding.ErrCorrupt, err)
	}
	return c, js, nil
}

// loadBody reads what follows the config into t.
func (t *Table) loadBody(r io.Reader) error {
	if err := t.sk.Load(r); err != nil {
		if errors.Is(err, hotsketch.ErrCorrupt) {
			return fmt.Errorf("cafe table: load: %w: %w", embedding.ErrCorrupt, err)
		}
		return fmt.Errorf("cafe table: load: %w", err)
	}
	ow := make([]byte, 12*t.cfg.Pool+8)
	if _, err := io.ReadFull(r, ow); err != nil {
		return fmt.Errorf("cafe table: load pool owners: %w: %w", embedding.ErrCorrupt, err)
	}
	nf := int32(len(t.cfg.HashRows))
	for h := range t.cfg.Pool {
		f := int32(binary.LittleEndian.Uint32(ow[12*h:]))
		id := binary.LittleEndian.Uint64(ow[12*h+4:])
		if f < 0 || f >= nf {
			return fmt.Errorf("cafe table: load: pool row %d owned by field %d of %d: %w", h, f, nf, embedding.ErrCorrupt)
		}
		if key, ok := t.sk.Owner(h); ok && key != id^t.salts[f] {
			return fmt.Errorf("cafe table: load: pool row %d: owner %x of field %d disagrees with the sketch: %w", h, id, f, embedding.ErrCorrupt)
		}
		t.ownerField[h], t.ownerID[h] = f, id
	}
	t.promotions = binary.LittleEndian.Uint64(ow[12*t.cfg.Pool:])
	if err := t.rows.Load(r); err != nil {
		return fmt.Errorf("cafe table: load rows: %w", err)
	}
	var end [8]byte
	if _, err := io.ReadFull(r, end[:]); err != nil {
		return fmt.Errorf("cafe table: load end marker: %w: %w", embedding.ErrCorrupt, err)
	}
	if end != endMark {
		return fmt.Errorf("cafe table: load: end marker %q: %w", end[:], embedding.ErrCorrupt)
	}
	return nil
}

// Load restores a table saved by a table of the same config. On error
// the table may be partly overwritten: discard it.
func (t *Table) Load(r io.Reader) error {
	c, js, err := readConfig(r)
	if err != nil {
		return err
	}
	mine, err := json.Marshal(t.cfg)
	if err != nil {
		return fmt.Errorf("cafe table: %w", err)
	}
	if !bytes.Equal(js, mine) {
		return fmt.Errorf("cafe table: load: saved %+v, table %+v: %w", c, t.cfg, embedding.ErrConfigMismatch)
	}
	return t.loadBody(r)
}

// Load restores a table from what its Save wrote.
func (method) Load(r io.Reader) (embedding.Trainable, error) {
	c, _, err := readConfig(r)
	if err != nil {
		return nil, err
	}
	t, err := newTable(c)
	if err != nil {
		return nil, fmt.Errorf("cafe table: load: %w", err)
	}
	if err := t.loadBody(r); err != nil {
		return nil, err
	}
	return t, nil
}
