package artifact

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash"
	"io"
	"math"
	"os"
	"sort"
	"unsafe"
)

// Vocabulary file (vocab.bin) layout, little-endian. It maps the ids of a
// full table's vocabulary, or a hybrid table's head, to their rows within
// the field:
//
//	offset  size      field
//	0       8         magic "EMBTVOCB"
//	8       4         format version (1)
//	12      4         fields F
//	16      8         entries N (all fields)
//	24      36        reserved, zero
//	60      4         CRC-32C of bytes [0, 60)
//	64      8(F+1)    start[f]: index of field f's first entry; start[F] = N
//	        ...       zero padding to a multiple of 64
//	        8N        ids, ascending within each field
//	        ...       zero padding to a multiple of 64
//	        4N        rows: rows[i] is the row within its field of ids[i]
//	        ...       zero padding to a multiple of 64
//	        24        footer (layout.go)
//
// A reader finds an id by binary search in its field's slice of ids,
// directly in the mapped file.
const (
	vocabMagic   = "EMBTVOCB"
	vocabVersion = 1
)

// vocabLayout gives the section offsets (from the start of the file) of a
// vocabulary of f fields and n entries.
type vocabLayout struct {
	starts, ids, rows, end int64
}

func newVocabLayout(fields int, n int64) vocabLayout {
	var l vocabLayout
	l.starts = headerSize
	l.ids = align(l.starts + 8*int64(fields+1))
	l.rows = align(l.ids + 8*n)
	l.end = align(l.rows + 4*n)
	return l
}

// Vocab is the id→row mapping of a full or hybrid table, read from an
// artifact's vocabulary file. It is immutable and safe for concurrent use;
// on little-endian machines it reads the mapped file in place.
type Vocab struct {
	ids  [][]uint64
	rows [][]uint32
}

// Fields returns the number of fields.
func (v *Vocab) Fields() int { return len(v.ids) }

// Len returns the number of ids of field f.
func (v *Vocab) Len(f int) int { return len(v.ids[f]) }

// Find returns the row within field f of id, and whether the field's
// vocabulary lists it.
func (v *Vocab) Find(f int, id uint64) (row uint32, ok bool) {
	ids := v.ids[f]
	// sort.Search without the closure: this is the hot path of full
	// tables.
	lo, hi := 0, len(ids)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if ids[m] < id {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(ids) && ids[lo] == id {
		// A row outside the field only comes from a corrupt file opened
		// with SkipChecksums: treat the id as unknown rather than let a
		// lookup read past the field's rows.
		if r := v.rows[f][lo]; int(r) < len(ids) {
			return r, true
		}
	}
	return 0, false
}

// IDs returns the ids of field f in row order (a new slice).
func (v *Vocab) IDs(f int) []uint64 {
	out := make([]uint64, len(v.ids[f]))
	for i, id := range v.ids[f] {
		if r := int(v.rows[f][i]); r < len(out) { // see Find
			out[r] = id
		}
	}
	return out
}

// writeVocabFile writes the vocabulary vocab (per field, the ids in row
// order), fsyncs it and returns its entry with its checksum by h64 (a new
// Manifest.fileHash).
func writeVocabFile(path, name string, vocab [][]uint64, h64 hash.Hash64) (FileSpec, error) {
	fail := func(err error) (FileSpec, error) { return FileSpec{}, fmt.Errorf("write %s: %w", path, err) }
	var n int64
	for _, v := range vocab {
		n += int64(len(v))
	}
	l := newVocabLayout(len(vocab), n)
	body := make([]byte, l.end-headerSize)
	at := func(off int64) []byte { return body[off-headerSize:] }
	var start int64
	for f, v := range vocab {
		binary.LittleEndian.PutUint64(at(l.starts+8*int64(f)), uint64(start))
		order := make([]int, len(v))
		for i := range order {
			order[i] = i
		}
		sort.Slice(order, func(a, b int) bool { return v[order[a]] < v[order[b]] })
		for k, row := range order {
			if k > 0 && v[row] == v[order[k-1]] {
				return fail(fmt.Errorf("field %d lists id %#x twice: %w", f, v[row], ErrInvalid))
			}
			i := start + int64(k)
			binary.LittleEndian.PutUint64(at(l.ids+8*i), v[row])
			binary.LittleEndian.PutUint32(at(l.rows+4*i), uint32(row))
		}
		start += int64(len(v))
	}
	binary.LittleEndian.PutUint64(at(l.starts+8*int64(len(vocab))), uint64(start))
	h := make([]byte, headerSize)
	copy(h, vocabMagic)
	binary.LittleEndian.PutUint32(h[8:], vocabVersion)
	binary.LittleEndian.PutUint32(h[12:], uint32(len(vocab)))
	binary.LittleEndian.PutUint64(h[16:], uint64(n))
	sealHeader(h)
	foot := appendFooter(nil, int64(len(body)), checksum(body))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return fail(err)
	}
	defer f.Close()
	w := bufio.NewWriter(io.MultiWriter(f, h64))
	w.Write(h)
	w.Write(body)
	w.Write(foot)
	if err := w.Flush(); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(fmt.Errorf("fsync: %w", err))
	}
	if err := f.Close(); err != nil {
		return fail(err)
	}
	return FileSpec{Name: name, Bytes: int64(len(h) + len(body) + len(foot)), XXH3: Hex64(h64.Sum64())}, nil
}

// parseVocabFile validates a vocabulary file held in data and returns the
// mapping, reading data in place where the machine is little-endian.
// With checkBody it checksums the body and checks that ids ascend and
// rows are in range of their field's count.
func parseVocabFile(name string, data []byte, checkBody bool) (*Vocab, error) {
	if err := checkHeader(name, data, vocabMagic, vocabVersion); err != nil {
		return nil, err
	}
	fields := int64(binary.LittleEndian.Uint32(data[12:]))
	n := binary.LittleEndian.Uint64(data[16:])
	if fields < 1 || fields > 1<<24 || n > math.MaxInt32*uint64(fields) {
		return nil, fmt.Errorf("%s: %d fields, %d entries: %w", name, fields, n, ErrCorrupt)
	}
	l := newVocabLayout(int(fields), int64(n))
	if err := checkFooter(name, data, l.end-headerSize, checkBody); err != nil {
		return nil, err
	}
	ids := u64s(data[l.ids:l.ids+8*int64(n)], int(n))
	rows := u32s(data[l.rows:l.rows+4*int64(n)], int(n))
	v := &Vocab{ids: make([][]uint64, fields), rows: make([][]uint32, fields)}
	prev := uint64(0)
	for f := range fields {
		lo := binary.LittleEndian.Uint64(data[l.starts+8*f:])
		hi := binary.LittleEndian.Uint64(data[l.starts+8*(f+1):])
		if lo != prev || hi < lo || hi > n || (f == fields-1 && hi != n) {
			return nil, fmt.Errorf("%s: field %d spans entries [%d, %d) of %d: %w", name, f, lo, hi, n, ErrCorrupt)
		}
		prev = hi
		v.ids[f], v.rows[f] = ids[lo:hi:hi], rows[lo:hi:hi]
		if !checkBody {
			continue
		}
		fi, fr := v.ids[f], v.rows[f]
		for i := range fi {
			if i > 0 && fi[i] <= fi[i-1] {
				return nil, fmt.Errorf("%s: field %d: ids not ascending at entry %d: %w", name, f, i, ErrCorrupt)
			}
			if int(fr[i]) >= len(fi) {
				return nil, fmt.Errorf("%s: field %d: row %d of %d: %w", name, f, fr[i], len(fi), ErrCorrupt)
			}
		}
	}
	return v, nil
}

// littleEndian reports whether the machine stores integers little-endian,
// so that the file's arrays can be used in place.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// u64s views b (8n bytes, 8-byte aligned) as n little-endian uint64s: in
// place on little-endian machines, else decoded into a new slice.
func u64s(b []byte, n int) []uint64 {
	if n == 0 {
		return nil
	}
	if littleEndian && uintptr(unsafe.Pointer(&b[0]))%8 == 0 {
		return unsafe.Slice((*uint64)(unsafe.Pointer(&b[0])), n)
	}
	out := make([]uint64, n)
	for i := range out {
		out[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	return out
}

// u32s is u64s for uint32s.
func u32s(b []byte, n int) []uint32 {
	if n == 0 {
		return nil
	}
	if littleEndian && uintptr(unsafe.Pointer(&b[0]))%4 == 0 {
		return unsafe.Slice((*uint32)(unsafe.Pointer(&b[0])), n)
	}
	out := make([]uint32, n)
	for i := range out {
		out[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	return out
}
