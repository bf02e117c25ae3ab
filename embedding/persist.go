package embedding

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"

	"github.com/embtab/embtab/internal/streamsize"
)

// Persister is implemented by tables that can checkpoint themselves. Save
// writes the table's configuration, parameters and optimizer state; Load
// restores them into a table of the same configuration, after which
// training continues exactly as it would have in the saved table. All the
// tables of this package implement it.
type Persister interface {
	Save(w io.Writer) error
	Load(r io.Reader) error
}

// Stream format, versions 1 to 3. All integers and floats are
// little-endian.
//
//	header   magic   8 bytes "EMBTABLE"
//	         version uint32 (1: fp32 storage; 2: int8 or ALPT storage; 3:
//	                 per-field dims, any storage)
//	         cfgLen  uint32
//	         config  cfgLen bytes: the table's Config as JSON, defaults filled in
//	vocab    (full tables only) for each field f, Rows[f]-1 uint64 ids in row order
//	rows     n       uint64  rows
//	         dim     uint32  floats per row
//	         stride  uint32  optimizer state floats per row
//	         steps   uint32  1 if a uint32 step count per row follows, else 0
//	         applies uint64  (version 2 only) Applies so far, which seed the
//	                         stochastic rounding (see Storage)
//	         params  version 1: n*dim float32, row-major
//	                 version 2: n rows of dim+8 bytes, each dim uint8 codes,
//	                 float32 scale, float32 bias (quant's int8 row format)
//	         state   n*stride float32, row-major
//	         counts  n uint32 (if steps)
//	         accs    n float32 (ALPT storage only: the steps' Adagrad
//	                 accumulators; the steps are the rows' scales)
//	         masters n float32 (ALPT-4 storage only: the float32 steps
//	                 whose nearest float16 the rows' scales are)
//	end      magic   8 bytes "ENDTABLE"
//
// Version 3 is the format of tables whose config has field_dims: the rows
// section is repeated once per field, in field order, each of the field's
// rows (dim = its field dim), laid out as in version 1 for fp32 storage
// and as in version 2 (with its own apply count) for int8 storage.
//
// Save writes the lowest version that holds the table: fp32 tables are
// saved exactly as before int8 storage existed (their config has no
// "storage" key), so older readers still read them, and reject int8
// tables and tables with per-field dims with ErrVersion. Load reads all
// three; the version must match the config's Storage and FieldDims (else
// ErrCorrupt).
//
// The format has no checksum: the caller checksums the file (see the
// artifact and checkpoint code).
var (
	headMagic = [8]byte{'E', 'M', 'B', 'T', 'A', 'B', 'L', 'E'}
	endMagic  = [8]byte{'E', 'N', 'D', 'T', 'A', 'B', 'L', 'E'}
)

const (
	formatV1     = 1       // fp32 storage
	formatV2     = 2       // int8 storage
	formatV3     = 3       // per-field dims (one rows section per field), either storage
	maxConfigLen = 1 << 26 // a config with 2^22 fields is still far below
	ioChunk      = 1 << 16 // bytes converted per Write or Read
)

// versionFor returns the stream version of a table with the canonical
// Config.Storage s, with per-field dims if perField.
func versionFor(s string, perField bool) uint32 {
	switch {
	case perField:
		return formatV3
	case s == StorageInt8 || s == StorageALPT || s == StorageALPT4:
		return formatV2
	}
	return formatV1
}

// checkVersion returns an error wrapping ErrVersion unless v is readable.
func checkVersion(v uint32) error {
	if v < formatV1 || v > formatV3 {
		return fmt.Errorf("version %d (can read %d to %d): %w", v, formatV1, formatV3, ErrVersion)
	}
	return nil
}

// Load reads a table saved by the Save method of [Hashed], [QR] or [Full]
// and returns it, of the type that saved it. The table is rebuilt from the
// config in the stream (with its threads at 1); compare its Config with a
// manifest's to check that it is the table the manifest names.
func Load(r io.Reader) (Trainable, error) {
	c, err := readHeader(r)
	if err != nil {
		return nil, fmt.Errorf("load table: %w", err)
	}
	switch c.Method {
	case MethodHashed:
		r, err := checkBody(r, bodyBytes(c.Rows, c.FieldDims, c.Dim, c.Optimizer, c.Storage, 0))
		if err != nil {
			return nil, fmt.Errorf("load hashed table: %w", err)
		}
		t, err := newHashed(c, false)
		if err == nil {
			err = t.loadBody(r)
		}
		if err != nil {
			return nil, fmt.Errorf("load hashed table: %w", err)
		}
		return t, nil
	case MethodQR:
		r, err := checkBody(r, bodyBytes([]int{sumRows(c.Rows) + sumRows(c.RemRows)}, nil, c.Dim, c.Optimizer, c.Storage, 0))
		if err != nil {
			return nil, fmt.Errorf("load qr table: %w", err)
		}
		t, err := newQR(c, false)
		if err == nil {
			err = t.loadBody(r)
		}
		if err != nil {
			return nil, fmt.Errorf("load qr table: %w", err)
		}
		return t, nil
	default: // readHeader checked the method
		t, err := loadFull(r, c)
		if err != nil {
			return nil, fmt.Errorf("load full table: %w", err)
		}
		return t, nil
	}
}

func writeHeader(w io.Writer, c Config) error {
	js, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode config: %w", err)
	}
	b := make([]byte, 0, 16+len(js))
	b = append(b, headMagic[:]...)
	b = binary.LittleEndian.AppendUint32(b, versionFor(c.Storage, c.FieldDims != nil))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(js)))
	b = append(b, js...)
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("write header: %w", err)
	}
	return nil
}

// readHeader reads and checks the header and returns the config, validated
// and with defaults.
func readHeader(r io.Reader) (Config, error) {
	var c Config
	v, err := readFramedConfig(r, headMagic, &c)
	if err != nil {
		return c, err
	}
	if c, err = c.WithDefaults(); err != nil {
		return c, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return c, checkStreamVersion(v, c.Storage, c.FieldDims)
}

// readFramedConfig reads a stream header (magic, version, config length,
// config JSON), checks the magic and the version's range and decodes the
// config strictly into c; it returns the version. An empty stream gives
// io.EOF, a truncated one an error wrapping ErrCorrupt.
func readFramedConfig(r io.Reader, magic [8]byte, c any) (uint32, error) {
	var h [16]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		if err == io.ErrUnexpectedEOF {
			err = truncated(err) // an empty stream gives io.EOF
		}
		return 0, fmt.Errorf("read header: %w", err)
	}
	if [8]byte(h[:8]) != magic {
		return 0, fmt.Errorf("magic %q: %w", h[:8], ErrBadMagic)
	}
	v := binary.LittleEndian.Uint32(h[8:])
	if err := checkVersion(v); err != nil {
		return 0, err
	}
	n := binary.LittleEndian.Uint32(h[12:])
	if n > maxConfigLen {
		return 0, fmt.Errorf("config of %d bytes: %w", n, ErrCorrupt)
	}
	js := make([]byte, n)
	if _, err := io.ReadFull(r, js); err != nil {
		return 0, fmt.Errorf("read config: %w", truncated(err))
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return 0, fmt.Errorf("%w: decode config: %w", ErrCorrupt, err)
	}
	return v, nil
}

// checkStreamVersion checks that a stream's version is the one its
// config (storage, per-field dims) is written with.
func checkStreamVersion(v uint32, storage string, fieldDims []int) error {
	if want := versionFor(storage, fieldDims != nil); v != want {
		return fmt.Errorf("version %d stream of a table with storage %q, field dims %v (want version %d): %w", v, storage, fieldDims, want, ErrCorrupt)
	}
	return nil
}

func writeEnd(w io.Writer) error {
	if _, err := w.Write(endMagic[:]); err != nil {
		return fmt.Errorf("write end marker: %w", err)
	}
	return nil
}

func readEnd(r io.Reader) error {
	var m [8]byte
	if _, err := io.ReadFull(r, m[:]); err != nil {
		return fmt.Errorf("read end marker: %w", truncated(err))
	}
	if m != endMagic {
		return fmt.Errorf("end marker %q: %w", m[:], ErrCorrupt)
	}
	return nil
}

// save writes the rows section.
func (r *Rows) save(w io.Writer) error {
	var h [20]byte
	binary.LittleEndian.PutUint64(h[0:], uint64(r.n))
	binary.LittleEndian.PutUint32(h[8:], uint32(r.dim))
	binary.LittleEndian.PutUint32(h[12:], uint32(r.stride))
	if r.steps != nil {
		binary.LittleEndian.PutUint32(h[16:], 1)
	}
	if _, err := w.Write(h[:]); err != nil {
		return fmt.Errorf("write rows header: %w", err)
	}
	buf := make([]byte, ioChunk)
	if r.codes != nil {
		if err := writeSlice(w, buf, []uint64{r.applies}); err != nil {
			return fmt.Errorf("write apply count: %w", err)
		}
		for c := r.codes; len(c) > 0; c = c[min(len(c), ioChunk):] {
			if _, err := w.Write(c[:min(len(c), ioChunk)]); err != nil {
				return fmt.Errorf("write parameters: %w", err)
			}
		}
	} else if err := writeSlice(w, buf, r.params); err != nil {
		return fmt.Errorf("write parameters: %w", err)
	}
	if err := writeSlice(w, buf, r.state); err != nil {
		return fmt.Errorf("write optimizer state: %w", err)
	}
	if err := writeSlice(w, buf, r.steps); err != nil {
		return fmt.Errorf("write step counts: %w", err)
	}
	if r.alpt != nil {
		if err := writeSlice(w, buf, r.alpt.acc); err != nil {
			return fmt.Errorf("write step accumulators: %w", err)
		}
		if err := writeSlice(w, buf, r.alpt.master); err != nil {
			return fmt.Errorf("write master steps: %w", err)
		}
	}
	return nil
}

// load reads a rows section of the same shape and storage into r, in
// place. The storage is the config's, which the header has checked
// against the stream's version.
func (r *Rows) load(rd io.Reader) error {
	var h [20]byte
	if _, err := io.ReadFull(rd, h[:]); err != nil {
		return fmt.Errorf("read rows header: %w", truncated(err))
	}
	n := binary.LittleEndian.Uint64(h[0:])
	dim := binary.LittleEndian.Uint32(h[8:])
	stride := binary.LittleEndian.Uint32(h[12:])
	steps := binary.LittleEndian.Uint32(h[16:])
	if n != uint64(r.n) || dim != uint32(r.dim) || stride != uint32(r.stride) || (steps == 1) != (r.steps != nil) || steps > 1 {
		return fmt.Errorf("rows %d x %d, state %d, steps %d; config wants %d x %d, state %d, steps %t: %w",
			n, dim, stride, steps, r.n, r.dim, r.stride, r.steps != nil, ErrCorrupt)
	}
	buf := make([]byte, ioChunk)
	if r.codes != nil {
		var applies [1]uint64
		if err := readSlice(rd, buf, applies[:]); err != nil {
			return fmt.Errorf("read apply count: %w", err)
		}
		if _, err := io.ReadFull(rd, r.codes); err != nil {
			return fmt.Errorf("read parameters: %w", truncated(err))
		}
		r.applies = applies[0]
	} else if err := readSlice(rd, buf, r.params); err != nil {
		return fmt.Errorf("read parameters: %w", err)
	}
	if err := readSlice(rd, buf, r.state); err != nil {
		return fmt.Errorf("read optimizer state: %w", err)
	}
	if err := readSlice(rd, buf, r.steps); err != nil {
		return fmt.Errorf("read step counts: %w", err)
	}
	if r.alpt != nil {
		r.alpt.dropHold()
		if err := readSlice(rd, buf, r.alpt.acc); err != nil {
			return fmt.Errorf("read step accumulators: %w", err)
		}
		if err := readSlice(rd, buf, r.alpt.master); err != nil {
			return fmt.Errorf("read master steps: %w", err)
		}
	}
	return nil
}

// writeSlice writes v little-endian through buf (ioChunk bytes), so that
// any writer works without a whole-table copy.
func writeSlice[T float32 | uint32 | uint64](w io.Writer, buf []byte, v []T) error {
	size := binary.Size(T(0))
	for len(v) > 0 {
		k := min(len(v), len(buf)/size)
		n, err := binary.Encode(buf, binary.LittleEndian, v[:k])
		if err != nil {
			return err
		}
		if _, err := w.Write(buf[:n]); err != nil {
			return err
		}
		v = v[k:]
	}
	return nil
}

// readSlice fills v from little-endian data read through buf.
func readSlice[T float32 | uint32 | uint64](r io.Reader, buf []byte, v []T) error {
	size := binary.Size(T(0))
	for len(v) > 0 {
		k := min(len(v), len(buf)/size)
		if _, err := io.ReadFull(r, buf[:k*size]); err != nil {
			return truncated(err)
		}
		if _, err := binary.Decode(buf[:k*size], binary.LittleEndian, v[:k]); err != nil {
			return err
		}
		v = v[k:]
	}
	return nil
}

// truncated turns a clean or unexpected EOF (the stream ended where data
// was due) into an error wrapping both ErrCorrupt and
// io.ErrUnexpectedEOF; other errors of the reader pass as they are.
func truncated(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("%w: %w", ErrCorrupt, io.ErrUnexpectedEOF)
	}
	return err
}

// Body size checks. The sizes of a stream's sections follow from its
// config, which a corrupt stream can make as large as MaxRows rows of any
// dim: before the loaders allocate a table for it, checkBody makes sure
// that the stream holds that many bytes.

// sumRows returns the sum of rows, saturating at math.MaxInt64 (the
// configs' checks bound it to MaxRows).
func sumRows(rows []int) int {
	s := int64(0)
	for _, n := range rows {
		s = addSat(s, int64(max(n, 0)))
	}
	return int(s)
}

// addSat and mulSat add and multiply non-negative int64s, saturating at
// math.MaxInt64.
func addSat(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

func mulSat(a, b int64) int64 {
	if a != 0 && b > math.MaxInt64/a {
		return math.MaxInt64
	}
	return a * b
}

// sectionBytes returns the stream bytes of a rows section of n rows of dim
// floats with optimizer opt (with defaults) and storage (canonical).
func sectionBytes(n, dim int, opt Optimizer, storage string) int64 {
	spec, ok := optimizers[opt.Name]
	if !ok || n < 0 || dim < 1 {
		return 0 // the table's constructor rejects it
	}
	d := int64(min(dim, 1<<40)) // anything wider saturates below
	row := 4 * d
	head := int64(20)
	switch storage {
	case StorageInt8:
		row = int64(int8RowBytes(int(d)))
		head += 8
	case StorageALPT:
		row = int64(int8RowBytes(int(d))) + 4 // and the step's accumulator
		head += 8
	case StorageALPT4:
		row = int64(int8RowBytes(int(d))) + 8 // and the step's accumulator and master
		head += 8
	}
	row += 4 * int64(spec.stateFloats(int(d)))
	if spec.steps {
		row += 4
	}
	return addSat(head, mulSat(int64(n), row))
}

// bodyBytes returns the stream bytes after the header of a table whose
// fields have rows[f] rows (one rows section of their sum, or with dims
// one per field of dims[f] floats), preceded by ids uint64 ids (the
// vocabularies or heads) and followed by the end marker.
func bodyBytes(rows, dims []int, dim int, opt Optimizer, storage string, ids int64) int64 {
	b := addSat(mulSat(ids, 8), int64(len(endMagic)))
	if dims == nil {
		return addSat(b, sectionBytes(sumRows(rows), dim, opt, storage))
	}
	for f, n := range rows {
		d := dim
		if f < len(dims) {
			d = dims[f]
		}
		b = addSat(b, sectionBytes(n, d, opt, storage))
	}
	return b
}

// checkBody checks that r holds at least need more bytes before a loader
// allocates a table for them, and returns the reader to read them from. A
// reader that reports its remaining length (a bytes.Reader, as the
// checkpoint and artifact code use) or can seek (a file) is checked
// directly; from any other reader the need bytes are read into memory
// first, so that a truncated stream fails having allocated no more than
// it holds.
func checkBody(r io.Reader, need int64) (io.Reader, error) {
	return streamsize.AtLeast(r, need, ErrCorrupt)
}

// Save writes the rows (parameters, optimizer state, and for int8 storage
// the rounding state) as the rows section of the stream format above:
// what a table method outside this package saves of its row stores.
func (r *Rows) Save(w io.Writer) error { return r.save(w) }

// Load restores rows that Save wrote from a store of the same shape,
// optimizer and storage, in place.
func (r *Rows) Load(rd io.Reader) error { return r.load(rd) }
