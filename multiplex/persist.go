package multiplex

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"

	"github.com/embtab/embtab/embedding"
)

// Stream format, version 1, little-endian:
//
//	header  magic   8 bytes "EMBTMPLX"
//	        version uint32 (1)
//	        cfgLen  uint32
//	        config  cfgLen bytes: the Config as JSON, defaults filled in
//	tables  for each table p of the pool, the table as saved by
//	        embedding.Hashed.Save (its own header, rows with optimizer
//	        state, end marker)
//	end     magic   8 bytes "ENDMPLEX"
//
// The format has no checksum: the caller checksums the file.
var (
	headMagic = [8]byte{'E', 'M', 'B', 'T', 'M', 'P', 'L', 'X'}
	endMagic  = [8]byte{'E', 'N', 'D', 'M', 'P', 'L', 'E', 'X'}
)

const (
	formatVersion = 1
	maxConfigLen  = 1 << 26
)

// Save writes the table (config, then each pool table's parameters and
// optimizer state) to w in the format above.
func (t *Table) Save(w io.Writer) error {
	js, err := json.Marshal(t.cfg)
	if err != nil {
		return fmt.Errorf("save %s table: encode config: %w", t.cfg.Method, err)
	}
	h := make([]byte, 0, 16+len(js))
	h = append(h, headMagic[:]...)
	h = binary.LittleEndian.AppendUint32(h, formatVersion)
	h = binary.LittleEndian.AppendUint32(h, uint32(len(js)))
	h = append(h, js...)
	if _, err := w.Write(h); err != nil {
		return fmt.Errorf("save %s table: write header: %w", t.cfg.Method, err)
	}
	for p, tbl := range t.pool {
		if err := tbl.Save(w); err != nil {
			return fmt.Errorf("save %s table: table %d: %w", t.cfg.Method, p, err)
		}
	}
	if _, err := w.Write(endMagic[:]); err != nil {
		return fmt.Errorf("save %s table: write end marker: %w", t.cfg.Method, err)
	}
	return nil
}

// Load replaces the table's parameters and optimizer state with those of
// a saved table of the same configuration (else
// [embedding.ErrConfigMismatch]); training then continues bit-identically.
// Rows are read in place: if Load fails the table is partly overwritten
// and should be discarded. The thread count is kept.
func (t *Table) Load(r io.Reader) error {
	c, err := readHeader(r)
	if err != nil {
		return fmt.Errorf("load %s table: %w", t.cfg.Method, err)
	}
	if !c.equal(t.cfg) {
		return fmt.Errorf("load %s table: saved %+v, table %+v: %w", t.cfg.Method, c, t.cfg, embedding.ErrConfigMismatch)
	}
	if err := t.loadBody(r); err != nil {
		return fmt.Errorf("load %s table: %w", t.cfg.Method, err)
	}
	return nil
}

// Load reads a table saved by [Table.Save] and returns it, with its
// threads at 1.
func Load(r io.Reader) (*Table, error) {
	c, err := readHeader(r)
	if err != nil {
		return nil, fmt.Errorf("load multiplexed table: %w", err)
	}
	t, err := New(c)
	if err != nil {
		return nil, fmt.Errorf("load multiplexed table: %w: %w", embedding.ErrCorrupt, err)
	}
	if err := t.loadBody(r); err != nil {
		return nil, fmt.Errorf("load %s table: %w", c.Method, err)
	}
	return t, nil
}

func (t *Table) loadBody(r io.Reader) error {
	for p, tbl := range t.pool {
		if err := tbl.Load(r); err != nil {
			return fmt.Errorf("table %d: %w", p, err)
		}
	}
	t.bindParams()
	var m [8]byte
	if _, err := io.ReadFull(r, m[:]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("read end marker: %w", err)
	}
	if m != endMagic {
		return fmt.Errorf("end marker %q: %w", m[:], embedding.ErrCorrupt)
	}
	return nil
}

// readHeader reads and checks the header and returns the config, validated
// and with defaults.
func readHeader(r io.Reader) (Config, error) {
	var c Config
	var h [16]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return c, fmt.Errorf("read header: %w", err)
	}
	if [8]byte(h[:8]) != headMagic {
		return c, fmt.Errorf("magic %q: %w", h[:8], embedding.ErrBadMagic)
	}
	if v := binary.LittleEndian.Uint32(h[8:]); v != formatVersion {
		return c, fmt.Errorf("version %d (can read %d): %w", v, formatVersion, embedding.ErrVersion)
	}
	n := binary.LittleEndian.Uint32(h[12:])
	if n > maxConfigLen {
		return c, fmt.Errorf("config of %d bytes: %w", n, embedding.ErrCorrupt)
	}
	js := make([]byte, n)
	if _, err := io.ReadFull(r, js); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return c, fmt.Errorf("read config: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("%w: decode config: %w", embedding.ErrCorrupt, err)
	}
	c, err := c.WithDefaults()
	if err != nil {
		return c, fmt.Errorf("%w: %w", embedding.ErrCorrupt, err)
	}
	return c, nil
}
