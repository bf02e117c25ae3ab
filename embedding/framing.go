package embedding

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
)

// Frame is the framing of a table method's saved stream (what its Save
// writes into a checkpoint): a header — an 8-byte magic, a uint32
// version, a uint32 length and the config as JSON, little-endian — then
// the method's body (typically its row stores, [Rows.Save]), then an
// 8-byte end marker. The methods outside this package share it, so each
// defines only its magics, its version and its body.
type Frame struct {
	Head, End [8]byte
	Version   uint32
	// MaxConfig bounds the config's length (a corrupt length must not
	// allocate); 0 means 64 KiB.
	MaxConfig int
}

// WriteHeader writes the header with cfg encoded as JSON.
func (f Frame) WriteHeader(w io.Writer, cfg any) error {
	js, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("encode config: %w", err)
	}
	if n := f.maxConfig(); len(js) > n {
		return fmt.Errorf("config of %d bytes, more than the %d a stream holds: %w", len(js), n, ErrConfig)
	}
	h := make([]byte, 0, 16+len(js))
	h = append(h, f.Head[:]...)
	h = binary.LittleEndian.AppendUint32(h, f.Version)
	h = binary.LittleEndian.AppendUint32(h, uint32(len(js)))
	h = append(h, js...)
	if _, err := w.Write(h); err != nil {
		return fmt.Errorf("write header: %w", err)
	}
	return nil
}

// ReadHeader reads and checks a header (magic: [ErrBadMagic]; version:
// [ErrVersion]; length and JSON: [ErrCorrupt]), decodes the config
// strictly into cfg and returns its JSON. An empty stream gives io.EOF, a
// truncated one an error wrapping ErrCorrupt and io.ErrUnexpectedEOF.
func (f Frame) ReadHeader(r io.Reader, cfg any) ([]byte, error) {
	var h [16]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		if err == io.ErrUnexpectedEOF {
			err = truncated(err) // an empty stream gives io.EOF
		}
		return nil, fmt.Errorf("read header: %w", err)
	}
	if [8]byte(h[:8]) != f.Head {
		return nil, fmt.Errorf("magic %q: %w", h[:8], ErrBadMagic)
	}
	if v := binary.LittleEndian.Uint32(h[8:]); v != f.Version {
		return nil, fmt.Errorf("version %d (can read %d): %w", v, f.Version, ErrVersion)
	}
	n := binary.LittleEndian.Uint32(h[12:])
	if int64(n) > int64(f.maxConfig()) {
		return nil, fmt.Errorf("config of %d bytes: %w", n, ErrCorrupt)
	}
	js := make([]byte, n)
	if _, err := io.ReadFull(r, js); err != nil {
		return nil, fmt.Errorf("read config: %w", truncated(err))
	}
	if err := DecodeConfig(bytes.TrimSpace(js), cfg); err != nil {
		return nil, err
	}
	return js, nil
}

// WriteEnd writes the end marker.
func (f Frame) WriteEnd(w io.Writer) error {
	if _, err := w.Write(f.End[:]); err != nil {
		return fmt.Errorf("write end marker: %w", err)
	}
	return nil
}

// ReadEnd reads and checks the end marker (errors wrap ErrCorrupt).
func (f Frame) ReadEnd(r io.Reader) error {
	var m [8]byte
	if _, err := io.ReadFull(r, m[:]); err != nil {
		return fmt.Errorf("read end marker: %w", truncated(err))
	}
	if m != f.End {
		return fmt.Errorf("end marker %q: %w", m[:], ErrCorrupt)
	}
	return nil
}

// Truncated turns a short read (io.EOF, io.ErrUnexpectedEOF) in a
// stream's body into an error wrapping ErrCorrupt and
// io.ErrUnexpectedEOF; other errors pass through.
func Truncated(err error) error { return truncated(err) }

func (f Frame) maxConfig() int {
	if f.MaxConfig > 0 {
		return f.MaxConfig
	}
	return 1 << 16
}
