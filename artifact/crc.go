package artifact

import "hash/crc32"

// The checksum of the files' own framing: CRC-32C (Castagnoli polynomial,
// 0x1EDC6F41, reflected), as computed by hash/crc32 with
// crc32.MakeTable(crc32.Castagnoli), which uses the SSE4.2 / ARMv8 CRC
// instructions where the CPU has them. File headers and footers store it
// little-endian; manifests of format version 1 stored each file's as an
// unsigned 32-bit number. The manifest's own checksums (format version 2)
// are keyed XXH3-64 instead (checksum.go). Both guard against torn
// writes, bit rot and mix-ups, not against tampering.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// checksum returns the CRC-32C of b.
func checksum(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// updateChecksum continues crc over b.
func updateChecksum(crc uint32, b []byte) uint32 { return crc32.Update(crc, castagnoli, b) }
