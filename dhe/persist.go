package dhe

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"

	"github.com/embtab/embtab/embedding"
)

// Stream format (little-endian), what Save writes and Load reads:
//
//	magic    "EMBTDHE1"
//	uint32   n, then n bytes: the Config as JSON
//	rows     each layer's weight store (embedding.Rows.Save), layer order
//	uint64   Adam's step count
//	float32  Adam's first then second moments of each layer, layer order
//	end      "DHE-END."
//
// The format has no checksum: the checkpoint around it has one.
var (
	streamMagic = [8]byte{'E', 'M', 'B', 'T', 'D', 'H', 'E', '1'}
	endMagic    = [8]byte{'D', 'H', 'E', '-', 'E', 'N', 'D', '.'}
)

// maxConfigBytes bounds the config section.
const maxConfigBytes = 1 << 16

// Save writes the table: config, weights and Adam's state.
func (t *Table) Save(w io.Writer) error {
	js, err := json.Marshal(t.cfg)
	if err != nil {
		return fmt.Errorf("dhe table: encode config: %w", err)
	}
	var h [12]byte
	copy(h[:], streamMagic[:])
	binary.LittleEndian.PutUint32(h[8:], uint32(len(js)))
	if _, err := w.Write(append(h[:], js...)); err != nil {
		return fmt.Errorf("dhe table: write header: %w", err)
	}
	for l, r := range t.sets {
		if err := r.Save(w); err != nil {
			return fmt.Errorf("dhe table: layer %d: %w", l, err)
		}
	}
	if err := binary.Write(w, binary.LittleEndian, uint64(t.adam.Steps())); err != nil {
		return fmt.Errorf("dhe table: write Adam steps: %w", err)
	}
	m, v := t.adam.Moments()
	for _, part := range [][][]float32{m, v} {
		for l, x := range part {
			if err := binary.Write(w, binary.LittleEndian, x); err != nil {
				return fmt.Errorf("dhe table: write Adam moments of layer %d: %w", l, err)
			}
		}
	}
	if _, err := w.Write(endMagic[:]); err != nil {
		return fmt.Errorf("dhe table: write end: %w", err)
	}
	return nil
}

// Load restores a table that Save wrote from a table of the same config,
// in place. The errors wrap embedding.ErrBadMagic, ErrCorrupt (a
// truncated stream also io.ErrUnexpectedEOF), ErrConfigMismatch, or the
// reader's error.
func (t *Table) Load(r io.Reader) error {
	c, err := readConfig(r)
	if err != nil {
		return err
	}
	if c != t.cfg {
		return fmt.Errorf("dhe table: saved %+v, table %+v: %w", c, t.cfg, embedding.ErrConfigMismatch)
	}
	return t.loadBody(r)
}

// load reads a whole stream into a new table.
func load(r io.Reader) (*Table, error) {
	c, err := readConfig(r)
	if err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("dhe table: saved config: %w: %w", embedding.ErrCorrupt, err)
	}
	t, err := build(c)
	if err != nil {
		return nil, err
	}
	if err := t.loadBody(r); err != nil {
		return nil, err
	}
	return t, nil
}

func readConfig(r io.Reader) (Config, error) {
	var h [12]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return Config{}, fmt.Errorf("dhe table: read header: %w", short(err))
	}
	if !bytes.Equal(h[:8], streamMagic[:]) {
		return Config{}, fmt.Errorf("dhe table: magic %q: %w", h[:8], embedding.ErrBadMagic)
	}
	n := binary.LittleEndian.Uint32(h[8:])
	if n > maxConfigBytes {
		return Config{}, fmt.Errorf("dhe table: config of %d bytes: %w", n, embedding.ErrCorrupt)
	}
	js := make([]byte, n)
	if _, err := io.ReadFull(r, js); err != nil {
		return Config{}, fmt.Errorf("dhe table: read config: %w", short(err))
	}
	var c Config
	if err := embedding.DecodeConfig(js, &c); err != nil {
		return Config{}, fmt.Errorf("dhe table: %w", err)
	}
	return c, nil
}

func (t *Table) loadBody(r io.Reader) error {
	for l, s := range t.sets {
		if err := s.Load(r); err != nil {
			return fmt.Errorf("dhe table: layer %d: %w", l, short(err))
		}
	}
	var steps uint64
	if err := binary.Read(r, binary.LittleEndian, &steps); err != nil {
		return fmt.Errorf("dhe table: read Adam steps: %w", short(err))
	}
	m, v := t.adam.Moments()
	for _, part := range [][][]float32{m, v} {
		for l, x := range part {
			if err := binary.Read(r, binary.LittleEndian, x); err != nil {
				return fmt.Errorf("dhe table: read Adam moments of layer %d: %w", l, short(err))
			}
		}
	}
	var end [8]byte
	if _, err := io.ReadFull(r, end[:]); err != nil {
		return fmt.Errorf("dhe table: read end: %w", short(err))
	}
	if end != endMagic {
		return fmt.Errorf("dhe table: end marker %q: %w", end[:], embedding.ErrCorrupt)
	}
	t.adam.SetSteps(int64(steps))
	return nil
}

// short turns an end of stream where data was due into an error wrapping
// embedding.ErrCorrupt and io.ErrUnexpectedEOF.
func short(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("%w: %w", embedding.ErrCorrupt, io.ErrUnexpectedEOF)
	}
	return err
}
