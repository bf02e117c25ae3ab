package multiplex

import (
	"bytes"
	"encoding/binary"
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
	// maxStreamSlots bounds the lookups per example (fields times chunks
	// or probes) of a table read from a stream, whose config a corrupt
	// stream could make arbitrarily large before the table is built.
	maxStreamSlots = 1 << 20
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
	r, err = checkBody(r, c)
	if err != nil {
		return nil, fmt.Errorf("load %s table: %w", c.Method, err)
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
			if errors.Is(err, embedding.ErrConfigMismatch) {
				// The stream's own header promised this table.
				return fmt.Errorf("table %d: %w: %w", p, embedding.ErrCorrupt, err)
			}
			return fmt.Errorf("table %d: %w", p, err)
		}
	}
	var m [8]byte
	if _, err := io.ReadFull(r, m[:]); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			err = fmt.Errorf("%w: %w", embedding.ErrCorrupt, io.ErrUnexpectedEOF)
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
		if err == io.ErrUnexpectedEOF {
			err = fmt.Errorf("%w: %w", embedding.ErrCorrupt, err) // an empty stream gives io.EOF
		}
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
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			err = fmt.Errorf("%w: %w", embedding.ErrCorrupt, io.ErrUnexpectedEOF)
		}
		return c, fmt.Errorf("read config: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("%w: decode config: %w", embedding.ErrCorrupt, err)
	}
	if c.Fields > maxStreamSlots || c.Probes > maxStreamSlots {
		return c, fmt.Errorf("%d fields, %d probes: %w", c.Fields, c.Probes, embedding.ErrCorrupt)
	}
	c, err := c.WithDefaults()
	if err != nil {
		return c, fmt.Errorf("%w: %w", embedding.ErrCorrupt, err)
	}
	slots := int64(c.Fields)
	switch c.Method {
	case MethodMultiProbe:
		slots *= int64(c.Probes)
	case MethodUnified:
		slots = 0
		for _, n := range c.Chunks {
			slots += int64(min(n, maxStreamSlots+1))
		}
	}
	if slots > maxStreamSlots {
		return c, fmt.Errorf("%d lookups per example (max %d): %w", slots, maxStreamSlots, embedding.ErrCorrupt)
	}
	return c, nil
}

// checkBody checks, before Load builds the pool for c, that r holds at
// least the pool's parameter bytes, and returns the reader to read the
// body from. A reader that tells its remaining length (a bytes.Reader, as
// the checkpoint code uses) or can seek is checked directly; from any
// other reader those bytes are read into memory first, so that a
// truncated stream fails having allocated no more than it holds.
func checkBody(r io.Reader, c Config) (io.Reader, error) {
	row := embedding.StorageRowBytes(c.Storage, c.width())
	need := int64(0)
	for _, n := range c.Rows { // at most MaxRows in all
		if row > (math.MaxInt64-need)/int64(n) {
			return nil, fmt.Errorf("%d rows of %d bytes: %w", n, row, embedding.ErrCorrupt)
		}
		need += int64(n) * row
	}
	return streamsize.AtLeast(r, need, embedding.ErrCorrupt)
}
