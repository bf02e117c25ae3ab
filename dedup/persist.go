package dedup

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/internal/streamsize"
)

// Stream format, version 1, little-endian:
//
//	header  magic   8 bytes "EMBTDEDU"
//	        version uint32 (1)
//	        steps   uint64: the Apply calls so far
//	        cfgLen  uint32
//	        config  cfgLen bytes: the Config as JSON, defaults filled in
//	        (with the remap after the dedup)
//	blocks  the physical blocks as embedding.Hashed.Save writes a
//	        one-field table of Block-float rows
//	end     magic   8 bytes "ENDTDEDU"
//
// The format has no checksum: the caller (checkpoint, artifact) checksums
// the file.
var (
	headMagic = [8]byte{'E', 'M', 'B', 'T', 'D', 'E', 'D', 'U'}
	endMagic  = [8]byte{'E', 'N', 'D', 'T', 'D', 'E', 'D', 'U'}
)

const (
	formatVersion = 1
	// maxConfigLen bounds the config (its remap is 16/3 bytes of base64
	// a logical block).
	maxConfigLen = 1<<16 + 6*maxLogical
)

// Save writes the table (step count, config, then the blocks' parameters
// and optimizer state) to w in the format above.
func (t *Table) Save(w io.Writer) error {
	js, err := json.Marshal(t.cfg)
	if err != nil {
		return fmt.Errorf("save dedup table: encode config: %w", err)
	}
	h := make([]byte, 0, 24+len(js))
	h = append(h, headMagic[:]...)
	h = binary.LittleEndian.AppendUint32(h, formatVersion)
	h = binary.LittleEndian.AppendUint64(h, uint64(t.steps))
	h = binary.LittleEndian.AppendUint32(h, uint32(len(js)))
	h = append(h, js...)
	if _, err := w.Write(h); err != nil {
		return fmt.Errorf("save dedup table: write header: %w", err)
	}
	if err := t.store.Save(w); err != nil {
		return fmt.Errorf("save dedup table: blocks: %w", err)
	}
	if _, err := w.Write(endMagic[:]); err != nil {
		return fmt.Errorf("save dedup table: write end marker: %w", err)
	}
	return nil
}

// Load replaces the table's state with that of a saved table of the same
// configuration, before or after its dedup (else
// embedding.ErrConfigMismatch). If Load fails the table should be
// discarded. The thread count is kept.
func (t *Table) Load(r io.Reader) error {
	c, steps, err := readHeader(r)
	if err != nil {
		return fmt.Errorf("load dedup table: %w", err)
	}
	if !sameShape(c, t.cfg) {
		return fmt.Errorf("load dedup table: saved %+v, table %+v: %w", c, t.cfg, embedding.ErrConfigMismatch)
	}
	if err := t.loadBody(c, steps, r); err != nil {
		return fmt.Errorf("load dedup table: %w", err)
	}
	return nil
}

// Load reads a table saved by [Table.Save] and returns it, with its
// threads at 1.
func Load(r io.Reader) (*Table, error) {
	c, steps, err := readHeader(r)
	if err != nil {
		return nil, fmt.Errorf("load dedup table: %w", err)
	}
	row := embedding.StorageRowBytes(c.Storage, c.Block)
	if r, err = streamsize.AtLeast(r, int64(c.PhysicalRows())*row, embedding.ErrCorrupt); err != nil {
		return nil, fmt.Errorf("load dedup table: %w", err)
	}
	t := &Table{threads: 1}
	if err := t.loadBody(c, steps, r); err != nil {
		return nil, fmt.Errorf("load dedup table: %w", err)
	}
	return t, nil
}

// loadBody builds the table of c and reads its blocks.
func (t *Table) loadBody(c Config, steps int, r io.Reader) error {
	store, err := embedding.NewHashed(c.storeConfig(c.PhysicalRows()))
	if err != nil {
		return fmt.Errorf("%w: %w", embedding.ErrCorrupt, err)
	}
	if err := store.Load(r); err != nil {
		if errors.Is(err, embedding.ErrConfigMismatch) {
			return fmt.Errorf("blocks: %w: %w", embedding.ErrCorrupt, err)
		}
		return fmt.Errorf("blocks: %w", err)
	}
	var m [8]byte
	if _, err := io.ReadFull(r, m[:]); err != nil {
		return fmt.Errorf("read end marker: %w", unexpected(err))
	}
	if m != endMagic {
		return fmt.Errorf("end marker %q: %w", m[:], embedding.ErrCorrupt)
	}
	if err := t.use(c, store); err != nil {
		return fmt.Errorf("%w: %w", embedding.ErrCorrupt, err)
	}
	t.steps = steps
	return nil
}

// readHeader reads and checks the header and returns the config, validated
// and with defaults, and the step count.
func readHeader(r io.Reader) (Config, int, error) {
	var c Config
	var h [24]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		if err == io.ErrUnexpectedEOF {
			err = unexpected(err) // an empty stream gives io.EOF
		}
		return c, 0, fmt.Errorf("read header: %w", err)
	}
	if [8]byte(h[:8]) != headMagic {
		return c, 0, fmt.Errorf("magic %q: %w", h[:8], embedding.ErrBadMagic)
	}
	if v := binary.LittleEndian.Uint32(h[8:]); v != formatVersion {
		return c, 0, fmt.Errorf("version %d (can read %d): %w", v, formatVersion, embedding.ErrVersion)
	}
	steps := binary.LittleEndian.Uint64(h[12:])
	n := binary.LittleEndian.Uint32(h[20:])
	if n > maxConfigLen || steps > 1<<62 {
		return c, 0, fmt.Errorf("config of %d bytes, %d steps: %w", n, steps, embedding.ErrCorrupt)
	}
	r, err := streamsize.AtLeast(r, int64(n), embedding.ErrCorrupt)
	if err != nil {
		return c, 0, err
	}
	js := make([]byte, n)
	if _, err := io.ReadFull(r, js); err != nil {
		return c, 0, fmt.Errorf("read config: %w", unexpected(err))
	}
	if err := embedding.DecodeConfig(bytes.TrimSpace(js), &c); err != nil {
		return c, 0, err
	}
	c, err = c.WithDefaults()
	if err != nil {
		return c, 0, fmt.Errorf("%w: %w", embedding.ErrCorrupt, err)
	}
	return c, int(steps), nil
}

// unexpected turns a short read into an error wrapping embedding.ErrCorrupt
// and io.ErrUnexpectedEOF; other errors pass through.
func unexpected(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("%w: %w", embedding.ErrCorrupt, io.ErrUnexpectedEOF)
	}
	return err
}
