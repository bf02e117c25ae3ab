package adaptemb

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
//	header  magic   8 bytes "EMBADAPT"
//	        version uint32 (1)
//	        cfgLen  uint32
//	        config  cfgLen bytes: the Config as JSON (hybrid defaults filled in)
//	table   the hybrid table as embedding.Hybrid.Save writes it (its own
//	        header, head ids, rows with optimizer state, end marker)
//	end     magic   8 bytes "ENDADAPT"
//
// The format has no checksum: the caller checksums the file.
var (
	headMagic = [8]byte{'E', 'M', 'B', 'A', 'D', 'A', 'P', 'T'}
	endMagic  = [8]byte{'E', 'N', 'D', 'A', 'D', 'A', 'P', 'T'}
)

const (
	formatVersion = 1
	maxConfigLen  = 1 << 26
)

// Save writes the table in the format above.
func (t *Table) Save(w io.Writer) error {
	js, err := json.Marshal(t.AdaptConfig())
	if err != nil {
		return fmt.Errorf("save adaptemb table: encode config: %w", err)
	}
	h := make([]byte, 0, 16+len(js))
	h = append(h, headMagic[:]...)
	h = binary.LittleEndian.AppendUint32(h, formatVersion)
	h = binary.LittleEndian.AppendUint32(h, uint32(len(js)))
	h = append(h, js...)
	if _, err := w.Write(h); err != nil {
		return fmt.Errorf("save adaptemb table: write header: %w", err)
	}
	if err := t.Hybrid.Save(w); err != nil {
		return fmt.Errorf("save adaptemb table: %w", err)
	}
	if _, err := w.Write(endMagic[:]); err != nil {
		return fmt.Errorf("save adaptemb table: write end marker: %w", err)
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
	var m [8]byte
	if _, err := io.ReadFull(r, m[:]); err != nil {
		return nil, fmt.Errorf("read end marker: %w", unexpected(err))
	}
	if m != endMagic {
		return nil, fmt.Errorf("end marker %q: %w", m[:], embedding.ErrCorrupt)
	}
	return h, nil
}

// readHeader reads and checks the header; it returns the config and its
// JSON as saved.
func readHeader(r io.Reader) (Config, []byte, error) {
	var c Config
	var h [16]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		if err == io.ErrUnexpectedEOF {
			err = unexpected(err) // an empty stream gives io.EOF
		}
		return c, nil, fmt.Errorf("read header: %w", err)
	}
	if [8]byte(h[:8]) != headMagic {
		return c, nil, fmt.Errorf("magic %q: %w", h[:8], embedding.ErrBadMagic)
	}
	if v := binary.LittleEndian.Uint32(h[8:]); v != formatVersion {
		return c, nil, fmt.Errorf("version %d (can read %d): %w", v, formatVersion, embedding.ErrVersion)
	}
	n := binary.LittleEndian.Uint32(h[12:])
	if n > maxConfigLen {
		return c, nil, fmt.Errorf("config of %d bytes: %w", n, embedding.ErrCorrupt)
	}
	js := make([]byte, n)
	if _, err := io.ReadFull(r, js); err != nil {
		return c, nil, fmt.Errorf("read config: %w", unexpected(err))
	}
	if err := embedding.DecodeConfig(js, &c); err != nil {
		return c, nil, err
	}
	if c.Method != Method {
		return c, nil, fmt.Errorf("config says method %q: %w", c.Method, embedding.ErrCorrupt)
	}
	return c, js, nil
}

func unexpected(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("%w: %w", embedding.ErrCorrupt, io.ErrUnexpectedEOF)
	}
	return err
}
