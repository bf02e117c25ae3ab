package artifact

import (
	"encoding/json"
	"fmt"
	"hash"
	"hash/crc32"

	"github.com/zeebo/xxh3"
)

// The manifest's checksums (format version 2), bound to the artifact id:
//
//   - each file's FileSpec.XXH3 is the XXH3-64 of its bytes seeded with
//     fileSeed(ID);
//   - Manifest.ManifestXXH3 is the XXH3-64, seeded with manifestSeed(ID),
//     of the manifest's canonical encoding (canonical) with that field
//     absent.
//
// Why not the CRC-32C of each file, as format version 1 recorded: a file
// that ends with the CRC-32C of everything before it (dense.bin in the
// trainer's and the towers' formats; items.ann before its magic) has a
// whole-file CRC-32C that depends on its length only (the CRC residue,
// 0x48674BC7 for dense.bin), so another run's file of the same size
// matched. Seeding a CRC does not help: CRC is affine, and the trailing
// self-CRC cancels whatever state precedes the file. XXH3 is not affine,
// so files that differ get different checksums (but for the odds of a
// 64-bit collision), and the seed makes the same file's checksum differ
// between artifacts, so the manifest of one artifact cannot vouch for
// another's files.
//
// The canonical encoding is the manifest as Write stores it:
// json.MarshalIndent with a two-space indent and a final newline. Open
// decodes manifest.json, re-encodes it that way without the checksum and
// compares: any change that alters a decoded value (a seed, a dim, a file
// size, a byte of the model config) is refused; a change of whitespace or
// key order, which alters none, is not. Like the CRC-32C of the files'
// framing, these checksums detect accidents and mix-ups, not attacks: the
// id is in the manifest, so anyone can recompute them.

// fileSeed and manifestSeed return the XXH3 seeds of artifact id's
// checksums.
func fileSeed(id string) uint64     { return xxh3.HashString("embtab artifact file " + id) }
func manifestSeed(id string) uint64 { return xxh3.HashString("embtab artifact manifest " + id) }

// crcHash is a CRC-32C as a hash.Hash64 (format version 1 files).
type crcHash struct{ hash.Hash32 }

func (c crcHash) Sum64() uint64 { return uint64(c.Sum32()) }

// fileHash returns a new hash of the files' checksums of m's format
// version.
func (m *Manifest) fileHash() hash.Hash64 {
	if m.FormatVersion == LegacyFormatVersion {
		return crcHash{crc32.New(castagnoli)}
	}
	return xxh3.NewSeed(fileSeed(m.ID))
}

// fileSum returns the checksum of data of m's format version.
func (m *Manifest) fileSum(data []byte) uint64 {
	h := m.fileHash()
	h.Write(data)
	return h.Sum64()
}

// checkFileSum compares got, the checksum (fileHash) of the file at path,
// with the manifest's entry spec.
func (m *Manifest) checkFileSum(path string, spec FileSpec, got uint64) error {
	if m.FormatVersion == LegacyFormatVersion {
		if uint32(got) != spec.CRC32C {
			return fmt.Errorf("%s: CRC-32C %08x, manifest says %08x: %w", path, uint32(got), spec.CRC32C, ErrCorrupt)
		}
		return nil
	}
	if got != uint64(spec.XXH3) {
		return fmt.Errorf("%s: XXH3-64 %016x, manifest says %016x (a file of another artifact, or damaged): %w", path, got, uint64(spec.XXH3), ErrCorrupt)
	}
	return nil
}

// canonical returns the canonical encoding of m (see above), with its
// checksum field as it is.
func (m *Manifest) canonical() ([]byte, error) {
	js, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode manifest: %w", err)
	}
	return append(js, '\n'), nil
}

// manifestSum returns the checksum of m: that of its canonical encoding
// without ManifestXXH3.
func (m *Manifest) manifestSum() (uint64, error) {
	c := *m
	c.ManifestXXH3 = 0
	js, err := c.canonical()
	if err != nil {
		return 0, err
	}
	return xxh3.HashSeed(js, manifestSeed(m.ID)), nil
}

// seal sets m's checksum and returns its canonical encoding, the bytes of
// manifest.json.
func (m *Manifest) seal() ([]byte, error) {
	sum, err := m.manifestSum()
	if err != nil {
		return nil, err
	}
	m.ManifestXXH3 = Hex64(sum)
	return m.canonical()
}

// checkSeal checks the checksum of a manifest read from path (format
// version 2; version 1 manifests have none).
func (m *Manifest) checkSeal(path string) error {
	if m.FormatVersion == LegacyFormatVersion {
		return nil
	}
	sum, err := m.manifestSum()
	if err != nil {
		return fmt.Errorf("%s: %w: %w", path, ErrCorrupt, err)
	}
	if sum != uint64(m.ManifestXXH3) {
		return fmt.Errorf("%s: checksum %016x, manifest_xxh3 says %016x: edited or damaged since it was written: %w",
			path, sum, uint64(m.ManifestXXH3), ErrCorrupt)
	}
	return nil
}
