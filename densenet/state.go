package densenet

// Snapshots of a dense net's training state (State) and their binary
// encoding (WriteState, ReadState): the dense.bin of an artifact and the
// dense part of a checkpoint.
//
// Encoding, all integers little-endian:
//
//	magic      8 bytes  "EMBTDNS\x00"
//	version    uint32   denseStateVersion
//	configLen  uint32   then configLen bytes: the Config as JSON
//	step       int64    Adam steps taken
//	count      uint32   number of tensors, then per tensor:
//	  nameLen  uint16   then nameLen bytes of name
//	  rank     uint8    then rank × uint32 dimensions
//	  data     float32 × product(dimensions)
//	crc        uint32   CRC-32C (Castagnoli) of every preceding byte

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"slices"
)

const (
	denseStateMagic   = "EMBTDNS\x00"
	denseStateVersion = 1
	// Decoding limits, checked before allocating.
	maxStateConfigLen   = 1 << 20
	maxStateTensors     = 1 << 16
	maxStateTensorRank  = 8
	maxStateTensorElems = 1 << 28
)

var denseStateCRCTable = crc32.MakeTable(crc32.Castagnoli)

// NamedTensor is one float32 tensor of a State, row-major.
type NamedTensor struct {
	Name string
	Dims []int
	Data []float32
}

// State is everything that determines how a dense net continues to
// train: restoring it with SetState (or Save then Load) and feeding the same
// batches reproduces the same losses and gradients bit for bit.
type State struct {
	// Config is the resolved config of the net the state was taken from.
	Config Config
	// Step is the number of Adam steps taken.
	Step int64
	// Tensors are the parameters in the model's fixed order (names like
	// "top/0/w", weights stored [in, out]), then their first Adam moments
	// ("adam_m/<name>") and their second moments ("adam_v/<name>").
	Tensors []NamedTensor
}

// WriteState writes s in the encoding at the top of this file.
func WriteState(w io.Writer, s State) error {
	cfg, err := json.Marshal(s.Config)
	if err != nil {
		return fmt.Errorf("densenet: encoding dense config: %w", err)
	}
	bw := bufio.NewWriter(w)
	crc := crc32.New(denseStateCRCTable)
	out := io.MultiWriter(bw, crc)
	var buf []byte
	buf = append(buf, denseStateMagic...)
	buf = binary.LittleEndian.AppendUint32(buf, denseStateVersion)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(cfg)))
	buf = append(buf, cfg...)
	buf = binary.LittleEndian.AppendUint64(buf, uint64(s.Step))
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(s.Tensors)))
	if _, err := out.Write(buf); err != nil {
		return err
	}
	for _, t := range s.Tensors {
		if len(t.Name) > math.MaxUint16 || len(t.Dims) > maxStateTensorRank {
			return fmt.Errorf("densenet: dense state tensor %q cannot be encoded", t.Name)
		}
		buf = binary.LittleEndian.AppendUint16(buf[:0], uint16(len(t.Name)))
		buf = append(buf, t.Name...)
		buf = append(buf, byte(len(t.Dims)))
		for _, d := range t.Dims {
			buf = binary.LittleEndian.AppendUint32(buf, uint32(d))
		}
		for _, v := range t.Data {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
		}
		if _, err := out.Write(buf); err != nil {
			return err
		}
	}
	if _, err := bw.Write(binary.LittleEndian.AppendUint32(nil, crc.Sum32())); err != nil {
		return err
	}
	return bw.Flush()
}

// stateReader reads fields and feeds them to a CRC.
type stateReader struct {
	r   io.Reader
	crc hashWriter
	err error
}

type hashWriter interface {
	io.Writer
	Sum32() uint32
}

func (sr *stateReader) read(n int) []byte {
	if sr.err != nil {
		return nil
	}
	b, err := readN(sr.r, n)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			err = fmt.Errorf("%w: truncated", ErrCorruptState)
		}
		sr.err = err
		return nil
	}
	sr.crc.Write(b)
	return b
}

// stateReadChunk is the most readN allocates before it has read that
// many bytes.
const stateReadChunk = 1 << 20

// readN reads n bytes from r. The buffer grows with the bytes read, so a
// corrupt length cannot make it allocate more than about twice what r
// holds (a tensor length is bounded by maxStateTensorElems, a gigabyte).
func readN(r io.Reader, n int) ([]byte, error) {
	b := make([]byte, min(n, stateReadChunk))
	got := 0
	for {
		k, err := io.ReadFull(r, b[got:])
		if got += k; err != nil {
			return nil, err
		}
		if got == n {
			return b, nil
		}
		b = append(b, make([]byte, min(n-got, len(b)))...)
	}
}

func (sr *stateReader) u32() uint32 {
	if b := sr.read(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (sr *stateReader) fail(format string, args ...any) {
	if sr.err == nil {
		sr.err = fmt.Errorf("%w: %s", ErrCorruptState, fmt.Sprintf(format, args...))
	}
}

// ReadState reads a state written by WriteState. Errors wrap
// ErrCorruptState for malformed input (including a checksum mismatch);
// lengths are checked before anything is allocated for them.
func ReadState(r io.Reader) (State, error) {
	sr := &stateReader{r: bufio.NewReader(r), crc: crc32.New(denseStateCRCTable)}
	var s State
	if magic := sr.read(len(denseStateMagic)); magic != nil && string(magic) != denseStateMagic {
		sr.fail("bad magic %q", magic)
	}
	if v := sr.u32(); sr.err == nil && v != denseStateVersion {
		sr.fail("unsupported version %d", v)
	}
	if n := sr.u32(); n > maxStateConfigLen {
		sr.fail("config length %d", n)
	} else if cfg := sr.read(int(n)); cfg != nil {
		if err := json.Unmarshal(cfg, &s.Config); err != nil {
			sr.fail("config: %v", err)
		}
	}
	if b := sr.read(8); b != nil {
		s.Step = int64(binary.LittleEndian.Uint64(b))
	}
	count := sr.u32()
	if count > maxStateTensors {
		sr.fail("%d tensors", count)
	}
	for i := 0; sr.err == nil && i < int(count); i++ {
		var t NamedTensor
		if b := sr.read(2); b != nil {
			t.Name = string(sr.read(int(binary.LittleEndian.Uint16(b))))
		}
		rank := 0
		if b := sr.read(1); b != nil {
			rank = int(b[0])
		}
		if rank > maxStateTensorRank {
			sr.fail("tensor %q has rank %d", t.Name, rank)
			break
		}
		elems := 1
		for range rank {
			d := int(sr.u32())
			t.Dims = append(t.Dims, d)
			if elems *= d; elems > maxStateTensorElems {
				sr.fail("tensor %q is too large (%v)", t.Name, t.Dims)
				break
			}
		}
		if b := sr.read(4 * elems); b != nil {
			t.Data = make([]float32, elems)
			for j := range t.Data {
				t.Data[j] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*j:]))
			}
		}
		s.Tensors = append(s.Tensors, t)
	}
	if sr.err != nil {
		return State{}, sr.err
	}
	want := sr.crc.Sum32()
	var got [4]byte
	if _, err := io.ReadFull(sr.r, got[:]); err != nil {
		return State{}, fmt.Errorf("%w: truncated checksum", ErrCorruptState)
	}
	if binary.LittleEndian.Uint32(got[:]) != want {
		return State{}, fmt.Errorf("%w: checksum mismatch", ErrCorruptState)
	}
	return s, nil
}

// StatePrefixes are the name prefixes of a State's tensor groups, in
// order: the parameters, their first Adam moments, their second moments.
var StatePrefixes = [...]string{"", "adam_m/", "adam_v/"}

// CheckState validates that s holds, for each of StatePrefixes in turn,
// one tensor per spec with the spec's name (prefixed) and shape, and a
// valid step: the layout every dense-net implementation reads and writes.
// Errors wrap ErrStateMismatch.
func CheckState(s State, specs []ParamSpec) error {
	prefixes := StatePrefixes[:]
	if want := len(prefixes) * len(specs); len(s.Tensors) != want {
		return fmt.Errorf("%w: %d tensors, want %d", ErrStateMismatch, len(s.Tensors), want)
	}
	if s.Step < 0 {
		return fmt.Errorf("%w: negative step %d", ErrStateMismatch, s.Step)
	}
	k := 0
	for _, prefix := range prefixes {
		for _, spec := range specs {
			t := s.Tensors[k]
			k++
			if t.Name != prefix+spec.Name || !slices.Equal(t.Dims, spec.Dims) || len(t.Data) != spec.Size() {
				return fmt.Errorf("%w: tensor %d is %q %v (%d values), want %q %v",
					ErrStateMismatch, k-1, t.Name, t.Dims, len(t.Data), prefix+spec.Name, spec.Dims)
			}
		}
	}
	return nil
}
