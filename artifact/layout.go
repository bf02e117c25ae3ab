package artifact

import (
	"encoding/binary"
	"fmt"
)

// File framing shared by the table and vocabulary files (see
// docs/format/artifact.md). Both start with a 64-byte header whose last 4
// bytes are the CRC-32C of its first 60, start every section at a multiple
// of 64 bytes from the start of the file (so in an mmap'ed file, which
// starts on a page boundary, every section starts on a cache line; the
// rows within the row section are packed unless the writer pads them, see
// RowStride), and end with a 24-byte footer:
//
//	offset  size  field
//	0       8     magic "EMBTEND\x00"
//	8       8     body length: the bytes between the header and the footer
//	16      4     CRC-32C of the body
//	20      4     CRC-32C of footer bytes [0, 20)
const (
	headerSize = 64
	footerSize = 24
	// Align is the alignment in bytes of the sections of a file (a cache
	// line); rows within a section are packed by default (RowStride).
	Align     = 64
	endMagic  = "EMBTEND\x00"
	headerCRC = headerSize - 4
)

// align rounds n up to a multiple of Align.
func align(n int64) int64 { return (n + Align - 1) &^ (Align - 1) }

// sealHeader writes the CRC of h[:60] into h[60:64].
func sealHeader(h []byte) {
	binary.LittleEndian.PutUint32(h[headerCRC:], checksum(h[:headerCRC]))
}

// checkHeader checks a header's magic, then its version, then its CRC
// (bbolt's order): a foreign file is reported as such, not as a checksum
// error.
func checkHeader(name string, data []byte, magic string, version uint32) error {
	if len(data) < headerSize+footerSize {
		return fmt.Errorf("%s: %d bytes, shorter than a header and footer: %w", name, len(data), ErrCorrupt)
	}
	if string(data[:8]) != magic {
		return fmt.Errorf("%s: magic %q, want %q: %w", name, data[:8], magic, ErrCorrupt)
	}
	if v := binary.LittleEndian.Uint32(data[8:]); v != version {
		return fmt.Errorf("%s: format version %d, this build reads %d: %w", name, v, version, ErrVersion)
	}
	if got, want := checksum(data[:headerCRC]), binary.LittleEndian.Uint32(data[headerCRC:]); got != want {
		return fmt.Errorf("%s: header checksum %08x, stored %08x: %w", name, got, want, ErrCorrupt)
	}
	return nil
}

// appendFooter appends the footer of a body of n bytes with CRC crc.
func appendFooter(b []byte, n int64, crc uint32) []byte {
	start := len(b)
	b = append(b, endMagic...)
	b = binary.LittleEndian.AppendUint64(b, uint64(n))
	b = binary.LittleEndian.AppendUint32(b, crc)
	return binary.LittleEndian.AppendUint32(b, checksum(b[start:]))
}

// checkFooter checks the footer at the end of data against a body of
// bodyLen bytes after the header; with checkBody it also checksums the
// body.
func checkFooter(name string, data []byte, bodyLen int64, checkBody bool) error {
	if want := int64(headerSize) + bodyLen + footerSize; int64(len(data)) != want {
		return fmt.Errorf("%s: %d bytes, the header promises %d: %w", name, len(data), want, ErrCorrupt)
	}
	f := data[len(data)-footerSize:]
	if string(f[:8]) != endMagic {
		return fmt.Errorf("%s: footer magic %q (truncated?): %w", name, f[:8], ErrCorrupt)
	}
	if got, want := checksum(f[:20]), binary.LittleEndian.Uint32(f[20:]); got != want {
		return fmt.Errorf("%s: footer checksum %08x, stored %08x: %w", name, got, want, ErrCorrupt)
	}
	if n := binary.LittleEndian.Uint64(f[8:]); n != uint64(bodyLen) {
		return fmt.Errorf("%s: footer body length %d, header %d: %w", name, n, bodyLen, ErrCorrupt)
	}
	if checkBody {
		body := data[headerSize : headerSize+bodyLen]
		if got, want := checksum(body), binary.LittleEndian.Uint32(f[16:]); got != want {
			return fmt.Errorf("%s: body checksum %08x, stored %08x: %w", name, got, want, ErrCorrupt)
		}
	}
	return nil
}
