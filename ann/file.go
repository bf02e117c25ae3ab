package ann

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"unsafe"
)

// File layout constants; see the package doc.
const (
	fileMagic    = "EMBTANN\x00"
	footerMagic  = "ANNX"
	fileVersion  = 1
	headerSize   = 128
	footerSize   = 8
	sectionAlign = 64
	flagFloats   = 1 // the float32 vectors section is present
	noEntry      = ^uint32(0)
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

func alignUp(n int64) int64 { return (n + sectionAlign - 1) &^ (sectionAlign - 1) }

// header is the decoded fixed header.
type header struct {
	cfg      Config
	flags    uint32
	n        int64
	upperLen int64
	entry    uint32
	maxLevel int
	rng      []byte
}

// section is one array of the file: its offset and length in bytes.
type section struct{ off, size int64 }

// layout returns the offsets of the sections of a file with header h, in
// file order (labels, levels, upperOff, upper, links0, vecs, codes,
// norms, deleted), and the total file size.
func layout(h *header) ([9]section, int64) {
	n, d := h.n, int64(h.cfg.Dim)
	sizes := [9]int64{
		8 * n, n, 4 * n, 4 * h.upperLen, 4 * n * int64(2*h.cfg.M+1), 0, 0, 0, 8 * ((n + 63) / 64),
	}
	if h.flags&flagFloats != 0 {
		sizes[5] = 4 * n * d
	}
	if h.cfg.Quantization == Int8 {
		sizes[6] = n * (d + 8)
		sizes[7] = 4 * n
	}
	var secs [9]section
	off := int64(headerSize)
	for i, sz := range sizes {
		secs[i] = section{off, sz}
		off = alignUp(off + sz)
	}
	return secs, off + footerSize
}

func bytesOf[T any](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s)*int(unsafe.Sizeof(s[0])))
}

func viewOf[T any](b []byte) []T {
	var z T
	n := len(b) / int(unsafe.Sizeof(z))
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*T)(unsafe.Pointer(&b[0])), n)[:n:n]
}

// Save writes the index to w in the format of the package doc. It holds
// the index's read lock, so Searches go on while it writes.
func (ix *Index) Save(w io.Writer) error {
	if !littleEndian {
		return fmt.Errorf("ann: save: %w", ErrUnsupported)
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.closed {
		return ErrClosed
	}
	h := header{cfg: ix.cfg, n: int64(len(ix.labels)), upperLen: int64(len(ix.upper)), entry: ix.entry, maxLevel: ix.maxLevel}
	if ix.vecs != nil || ix.cfg.Quantization == Float32 || ix.cfg.Rerank {
		h.flags |= flagFloats
	}
	if h.maxLevel < 0 {
		h.entry, h.maxLevel = noEntry, 0
	}
	rngState, err := ix.rng.MarshalBinary()
	if err != nil {
		return fmt.Errorf("ann: save: %w", err)
	}
	secs, total := layout(&h)
	crc := crc32.New(castagnoli)
	bw := bufio.NewWriterSize(io.MultiWriter(w, crc), 1<<20)
	hb := make([]byte, 0, headerSize)
	hb = append(hb, fileMagic...)
	le := binary.LittleEndian
	hb = le.AppendUint32(hb, fileVersion)
	hb = le.AppendUint32(hb, uint32(ix.cfg.Metric))
	hb = le.AppendUint32(hb, uint32(ix.cfg.Quantization))
	hb = le.AppendUint32(hb, h.flags)
	hb = le.AppendUint32(hb, uint32(ix.cfg.Dim))
	hb = le.AppendUint32(hb, uint32(ix.cfg.M))
	hb = le.AppendUint32(hb, uint32(ix.cfg.EfConstruction))
	hb = le.AppendUint32(hb, uint32(ix.cfg.EfSearch))
	hb = le.AppendUint32(hb, uint32(h.maxLevel))
	hb = le.AppendUint32(hb, h.entry)
	hb = le.AppendUint64(hb, uint64(h.n))
	hb = le.AppendUint64(hb, uint64(h.upperLen))
	hb = le.AppendUint64(hb, ix.cfg.Seed)
	hb = append(hb, byte(len(rngState)))
	hb = append(hb, rngState...)
	if len(hb) > headerSize {
		return fmt.Errorf("ann: save: header of %d bytes", len(hb))
	}
	hb = hb[:headerSize] // zero padding (the capacity is zeroed)
	data := [9][]byte{
		bytesOf(ix.labels), ix.levels, bytesOf(ix.upperOff), bytesOf(ix.upper), bytesOf(ix.links0),
		nil, ix.codes, bytesOf(ix.norms), bytesOf(ix.deleted[:(h.n+63)/64]),
	}
	if h.flags&flagFloats != 0 {
		data[5] = bytesOf(ix.vecs)
	}
	if _, err := bw.Write(hb); err != nil {
		return fmt.Errorf("ann: save: %w", err)
	}
	var zero [sectionAlign]byte
	off := int64(headerSize)
	for i, s := range secs {
		if int64(len(data[i])) != s.size {
			return fmt.Errorf("ann: save: section %d has %d bytes, want %d", i, len(data[i]), s.size)
		}
		if _, err := bw.Write(zero[:s.off-off]); err != nil {
			return fmt.Errorf("ann: save: %w", err)
		}
		if _, err := bw.Write(data[i]); err != nil {
			return fmt.Errorf("ann: save: %w", err)
		}
		off = s.off + s.size
	}
	if _, err := bw.Write(zero[:total-footerSize-off]); err != nil {
		return fmt.Errorf("ann: save: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("ann: save: %w", err)
	}
	foot := le.AppendUint32(nil, crc.Sum32())
	foot = append(foot, footerMagic...)
	if _, err := w.Write(foot); err != nil {
		return fmt.Errorf("ann: save: %w", err)
	}
	return nil
}

// SaveFile writes the index to path atomically: to path.tmp, fsynced,
// then renamed over path.
func (ix *Index) SaveFile(path string) (err error) {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("ann: save: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = ix.Save(f); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("ann: save %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("ann: save %s: %w", path, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("ann: save %s: %w", path, err)
	}
	return nil
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}

// parseHeader validates magic, then version, then sizes.
func parseHeader(b []byte) (*header, error) {
	if len(b) < headerSize+footerSize || string(b[:8]) != fileMagic {
		return nil, corrupt("bad magic or %d-byte file", len(b))
	}
	le := binary.LittleEndian
	if v := le.Uint32(b[8:]); v != fileVersion {
		return nil, corrupt("version %d, want %d", v, fileVersion)
	}
	h := &header{}
	h.cfg.Metric = Metric(le.Uint32(b[12:]))
	h.cfg.Quantization = Quantization(le.Uint32(b[16:]))
	h.flags = le.Uint32(b[20:])
	h.cfg.Dim = int(le.Uint32(b[24:]))
	h.cfg.M = int(le.Uint32(b[28:]))
	h.cfg.EfConstruction = int(le.Uint32(b[32:]))
	h.cfg.EfSearch = int(le.Uint32(b[36:]))
	h.maxLevel = int(le.Uint32(b[40:]))
	h.entry = le.Uint32(b[44:])
	h.n = int64(le.Uint64(b[48:]))
	h.upperLen = int64(le.Uint64(b[56:]))
	h.cfg.Seed = le.Uint64(b[64:])
	rl := int(b[72])
	if 73+rl > headerSize {
		return nil, corrupt("rng state of %d bytes", rl)
	}
	h.rng = b[73 : 73+rl]
	h.cfg.Rerank = h.cfg.Quantization == Int8 && h.flags&flagFloats != 0
	if err := h.cfg.normalize(); err != nil {
		return nil, corrupt("%v", err)
	}
	if h.n < 0 || h.n >= int64(noEntry) || h.upperLen < 0 || h.upperLen > int64(len(b)) ||
		h.maxLevel > maxLevelCap || (h.n > 0 && h.entry >= uint32(h.n)) || (h.n == 0 && h.entry != noEntry) {
		return nil, corrupt("n %d, upper %d, entry %d, max level %d", h.n, h.upperLen, h.entry, h.maxLevel)
	}
	if h.cfg.Quantization == Float32 && h.flags&flagFloats == 0 {
		return nil, corrupt("float32 index without vectors")
	}
	return h, nil
}

// fromBytes validates b, a whole index file, and returns an index viewing
// it; b must be 8-byte aligned and stay untouched while the index lives.
func fromBytes(b []byte) (*Index, error) {
	if !littleEndian {
		return nil, ErrUnsupported
	}
	h, err := parseHeader(b)
	if err != nil {
		return nil, err
	}
	secs, total := layout(h)
	if total != int64(len(b)) {
		return nil, corrupt("%d bytes, header says %d", len(b), total)
	}
	foot := b[len(b)-footerSize:]
	if string(foot[4:]) != footerMagic {
		return nil, corrupt("bad footer magic")
	}
	if got, want := crc32.Checksum(b[:len(b)-footerSize], castagnoli), binary.LittleEndian.Uint32(foot); got != want {
		return nil, corrupt("CRC-32C %08x, want %08x", got, want)
	}
	sec := func(i int) []byte { return b[secs[i].off : secs[i].off+secs[i].size : secs[i].off+secs[i].size] }
	ix := &Index{}
	ix.init(h.cfg)
	ix.labels = viewOf[uint64](sec(0))
	ix.levels = sec(1)
	ix.upperOff = viewOf[uint32](sec(2))
	ix.upper = viewOf[uint32](sec(3))
	ix.links0 = viewOf[uint32](sec(4))
	ix.vecs = viewOf[float32](sec(5))
	if len(sec(6)) > 0 {
		ix.codes = sec(6)
	}
	ix.norms = viewOf[float32](sec(7))
	ix.deleted = slices.Clone(viewOf[uint64](sec(8))) // Delete writes it
	if h.n > 0 {
		ix.entry, ix.maxLevel = h.entry, h.maxLevel
	}
	ix.rng = &rand.PCG{}
	if err := ix.rng.UnmarshalBinary(h.rng); err != nil {
		return nil, corrupt("rng state: %v", err)
	}
	if err := ix.validate(); err != nil {
		return nil, err
	}
	return ix, nil
}

// validate checks what a search trusts: list lengths, link targets and
// layer offsets, so that a file with a matching CRC but a bad graph is an
// error rather than a panic.
func (ix *Index) validate() error {
	n := uint32(len(ix.labels))
	m := ix.cfg.M + 1
	var want uint32
	for i := uint32(0); i < n; i++ {
		lv := int(ix.levels[i])
		if lv > ix.maxLevel || ix.upperOff[i] != want {
			return corrupt("node %d: level %d, upper offset %d", i, lv, ix.upperOff[i])
		}
		want += uint32(lv * m)
		if int(want) > len(ix.upper) {
			return corrupt("node %d: upper lists past the end", i)
		}
		for l := 0; l <= lv; l++ {
			lst := ix.list(i, l)
			if int(lst[0]) > len(lst)-1 {
				return corrupt("node %d layer %d: %d links", i, l, lst[0])
			}
			for _, nb := range lst[1 : 1+lst[0]] {
				if nb >= n || int(ix.levels[nb]) < l {
					return corrupt("node %d layer %d: link to %d", i, l, nb)
				}
			}
		}
		if ix.isDeleted(i) {
			ix.nDeleted++
		}
	}
	if int(want) != len(ix.upper) {
		return corrupt("upper lists hold %d links, want %d", len(ix.upper), want)
	}
	if n > 0 && int(ix.levels[ix.entry]) != ix.maxLevel {
		return corrupt("entry %d is not on the top layer", ix.entry)
	}
	return nil
}

// Load reads an index written by Save into memory.
func Load(r io.Reader) (*Index, error) {
	raw, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("ann: load: %w", err)
	}
	// Copy into 8-byte-aligned memory for the typed views.
	words := make([]uint64, (len(raw)+7)/8)
	b := bytesOf(words)[:len(raw)]
	copy(b, raw)
	ix, err := fromBytes(b)
	if err != nil {
		return nil, fmt.Errorf("ann: load: %w", err)
	}
	return ix, nil
}

// LoadFile reads the index file at path into memory.
func LoadFile(path string) (*Index, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("ann: load: %w", err)
	}
	defer f.Close()
	ix, err := Load(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ix, nil
}

// OpenMmap maps the index file at path read-only and searches it in
// place: only the tombstone bitmap is copied. It reads the whole file
// once to check the CRC-32C. The first Add copies the index into process
// memory; Close unmaps the file.
func OpenMmap(path string) (*Index, error) {
	b, unmap, err := mmapFile(path)
	if err != nil {
		return nil, fmt.Errorf("ann: open %s: %w", path, err)
	}
	ix, err := fromBytes(b)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("ann: open %s: %w", path, err), unmap())
	}
	ix.mapped, ix.unmap = b, unmap
	return ix, nil
}

// own copies the arrays that view a mapped file into process memory, so
// that they can be written. Callers hold mu for writing.
func (ix *Index) own() {
	if ix.mapped == nil {
		return
	}
	ix.labels = slices.Clone(ix.labels)
	ix.levels = slices.Clone(ix.levels)
	ix.upperOff = slices.Clone(ix.upperOff)
	ix.upper = slices.Clone(ix.upper)
	ix.links0 = slices.Clone(ix.links0)
	ix.vecs = slices.Clone(ix.vecs)
	ix.codes = slices.Clone(ix.codes)
	ix.norms = slices.Clone(ix.norms)
	_ = ix.release()
}

// release unmaps the file, if any. Callers hold mu for writing and no
// longer use views of it.
func (ix *Index) release() error {
	if ix.mapped == nil {
		return nil
	}
	err := ix.unmap()
	ix.mapped, ix.unmap = nil, nil
	return err
}

// Close releases a mapped file. Searches after Close return ErrClosed.
// Closing an in-memory index only marks it closed.
func (ix *Index) Close() error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.closed {
		return nil
	}
	ix.closed = true
	return ix.release()
}
