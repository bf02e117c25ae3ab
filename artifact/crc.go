package artifact

import "hash/crc32"

// The one checksum of the format: CRC-32C (Castagnoli polynomial,
// 0x1EDC6F41, reflected), as computed by hash/crc32 with
// crc32.MakeTable(crc32.Castagnoli), which uses the SSE4.2 / ARMv8 CRC
// instructions where the CPU has them. It guards against torn writes and
// bit rot, not against tampering. The manifest stores it as an unsigned
// 32-bit number; file headers and footers store it little-endian.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// checksum returns the CRC-32C of b.
func checksum(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// updateChecksum continues crc over b.
func updateChecksum(crc uint32, b []byte) uint32 { return crc32.Update(crc, castagnoli, b) }
