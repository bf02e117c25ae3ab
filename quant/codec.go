package quant

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
)

// Codec encodes rows of float32 values to a fixed number of bytes and back.
// A codec is stateless and safe for concurrent use.
//
// EncodeRow writes src to dst, which must be RowBytes(len(src)) bytes long;
// DecodeRow writes the row in src, which must be RowBytes(len(dst)) bytes
// long, to dst. Rows have at least one value. EncodeRow rounds to nearest.
// A wrong length or an empty row is an error wrapping [ErrRowSize]; a value
// the codec cannot represent is an error wrapping [ErrRange]. DecodeRow
// accepts any bytes of the right length and never panics: garbage in gives
// garbage values (possibly NaN or Inf) out. Neither allocates.
type Codec interface {
	// Name is the codec's registered name ("int8").
	Name() string
	// RowBytes is the encoded size in bytes of a row of dim values, dim >= 1.
	RowBytes(dim int) int
	EncodeRow(dst []byte, src []float32) error
	DecodeRow(dst []float32, src []byte) error
}

// StochasticEncoder is implemented by codecs that can round stochastically,
// for low-precision training: EncodeRowStochastic is EncodeRow except that
// each value rounds to one of the two representable values around it, the
// upper with probability proportional to its distance from the lower, so
// that the decoded value is unbiased. It draws exactly one rng.Uint64 per
// value, in order, whether or not the value needs rounding, so a seeded
// source gives reproducible rows. All built-in codecs implement it (fp32
// trivially: it is exact).
type StochasticEncoder interface {
	EncodeRowStochastic(rng rand.Source, dst []byte, src []float32) error
}

var (
	registryMu sync.RWMutex
	registry   = map[string]Codec{}
)

// Register makes a codec available by its name to [Lookup], for manifests
// that name codecs. It panics if c is nil or a codec of that name is already
// registered, as [database/sql.Register] does; call it from an init
// function.
func Register(c Codec) {
	if c == nil {
		panic("quant: Register of a nil codec")
	}
	registryMu.Lock()
	defer registryMu.Unlock()
	name := c.Name()
	if _, dup := registry[name]; dup {
		panic("quant: Register called twice for codec " + name)
	}
	registry[name] = c
}

// Lookup returns the codec registered under name; the error wraps
// [ErrUnknownCodec].
func Lookup(name string) (Codec, error) {
	registryMu.RLock()
	c, ok := registry[name]
	registryMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("quant: codec %q (have %v): %w", name, Codecs(), ErrUnknownCodec)
	}
	return c, nil
}

// Codecs returns the names of the registered codecs, sorted.
func Codecs() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	names := make([]string, 0, len(registry))
	for name := range registry {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

func init() {
	Register(FP32)
	Register(FP16)
	Register(Int8)
	Register(Int4)
}

// checkRow returns an error unless src holds a row of dim >= 1 values
// and dst has exactly rowBytes bytes; name and op are for the message.
func checkRow(c Codec, op string, nbytes, dim int) error {
	if dim < 1 {
		return fmt.Errorf("quant: %s %s: empty row: %w", c.Name(), op, ErrRowSize)
	}
	if want := c.RowBytes(dim); nbytes != want {
		return fmt.Errorf("quant: %s %s: %d bytes for dim %d, want %d: %w", c.Name(), op, nbytes, dim, want, ErrRowSize)
	}
	return nil
}

// uniform returns a uniform value in [0, 1) from one draw of rng
// (its top 53 bits).
func uniform(rng rand.Source) float64 {
	return float64(rng.Uint64()>>11) * (1.0 / (1 << 53))
}
