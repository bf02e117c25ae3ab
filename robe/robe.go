package robe

import (
	"fmt"

	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/hashing"
)

// Method is the method's name in manifests and flags.
const Method = "robe"

// DefaultBlock is the default block length Z in floats, used when it
// divides Dim (else Z = Dim): element-wise, the paper's ROBE-1. It won on
// the train command's default generated set (200k rows, dim 16, one
// epoch; test AUC, mean of seeds 1-3 at a 256 KiB budget, 32x less than
// the full table): Z = 1 0.7937, Z = 2 0.7754, Z = 4 0.7647, Z = 16
// (multiplex) 0.7441, hashed 0.6218; and at 80 KiB and 800 KiB (seed 1).
// It costs speed: a vector is Dim keys (Lookup of a batch about 24x a
// hashed table's, training samples/s about 0.4x hashed against 0.8x at
// Z = 4), and quantized artifacts pay their per-row scale per float
// (int8: 9 bytes a float at Z = 1). Set block (or --chunks) for speed.
const DefaultBlock = 1

// Config describes a ROBE table completely enough to rebuild it (with its
// saved rows, its state): a manifest stores it as JSON.
type Config struct {
	// Method is "robe" (or empty on input).
	Method string `json:"method"`
	// Fields is the number of fields sharing the array.
	Fields int `json:"fields"`
	// Dim is the floats per field vector.
	Dim int `json:"dim"`
	// Block is Z, the floats per block (a divisor of Dim).
	Block int `json:"block"`
	// Rows is the array's length in blocks: the array has Rows·Block
	// floats.
	Rows int `json:"rows"`
	// Sign turns on the sign hash.
	Sign bool `json:"sign,omitempty"`
	// Optimizer is the sparse row optimizer (a row is a block).
	Optimizer embedding.Optimizer `json:"optimizer"`
	// InitScale is the half-width of the uniform init (0: the embedding
	// default).
	InitScale float32 `json:"init_scale,omitempty"`
	// Seed seeds the init (and int8 rounding).
	Seed uint64 `json:"seed"`
	// Storage is the rows' training precision ("" for fp32, or int8).
	Storage string `json:"storage,omitempty"`
}

// maxSlots bounds Fields·Dim/Block, the keys of one example.
const maxSlots = 1 << 22

// WithDefaults validates c and returns it with its defaults filled in
// (the errors wrap embedding.ErrConfig or embedding.ErrTooManyRows).
func (c Config) WithDefaults() (Config, error) {
	if c.Method == "" {
		c.Method = Method
	}
	if c.Method != Method {
		return c, fmt.Errorf("robe table: method %q: %w", c.Method, embedding.ErrConfig)
	}
	if c.Fields < 1 || c.Dim < 1 || c.Block < 1 || c.Dim%c.Block != 0 {
		return c, fmt.Errorf("robe table: %d fields, dim %d, block %d (must divide the dim): %w", c.Fields, c.Dim, c.Block, embedding.ErrConfig)
	}
	if int64(c.Fields)*int64(c.Dim/c.Block) > maxSlots {
		return c, fmt.Errorf("robe table: %d fields of %d blocks: %w", c.Fields, c.Dim/c.Block, embedding.ErrConfig)
	}
	if c.Rows < 1 {
		return c, fmt.Errorf("robe table: %d rows: %w", c.Rows, embedding.ErrConfig)
	}
	if c.Rows > embedding.MaxRows {
		return c, fmt.Errorf("robe table: %d rows (max %d): %w", c.Rows, embedding.MaxRows, embedding.ErrTooManyRows)
	}
	// The store is a one-field hashed table of Block-float rows: its
	// Config checks the optimizer, init scale and storage.
	hc, err := c.storeConfig().WithDefaults()
	if err != nil {
		return c, fmt.Errorf("robe table: %w", err)
	}
	c.Optimizer, c.InitScale, c.Storage = hc.Optimizer, hc.InitScale, hc.Storage
	return c, nil
}

// storeConfig is the config of the hashed table that holds the array.
func (c Config) storeConfig() embedding.Config {
	return embedding.Config{Method: embedding.MethodHashed, Dim: c.Block, Rows: []int{c.Rows},
		Optimizer: c.Optimizer, InitScale: c.InitScale, Seed: hashing.FieldSalt(c.Seed, 0), Storage: c.Storage}
}

// Blocks returns the blocks per vector, Dim/Block.
func (c Config) Blocks() int { return c.Dim / c.Block }

// ParamBytes returns the array's fp32 bytes (its serving bytes: ROBE has
// no index).
func (c Config) ParamBytes() int64 { return int64(c.Rows) * int64(c.Block) * 4 }

// signSlot is the probe number of word w (floats 64w..64w+63) of field
// f's sign bits: past every block slot, so the sign hashes are
// independent of the block hashes.
func (c Config) signSlot(f, w int) int {
	words := (c.Dim + 63) / 64
	return c.Fields*c.Blocks() + f*words + w
}

// plan is the key plan of c (defaults filled in).
func (c Config) plan() *embedding.Plan {
	p := &embedding.Plan{Dim: c.Dim, Sets: []embedding.SetShape{{Rows: c.Rows, Width: c.Block}}}
	nb, rows := c.Blocks(), uint64(c.Rows)
	for f := range c.Fields {
		base := f * nb
		fp := embedding.FieldPlan{NumKeys: nb, Combine: embedding.ConcatRows, Width: c.Block, Used: c.Dim,
			Keys: func(dst []embedding.Key, id uint64) []embedding.Key {
				for k := range nb {
					dst = append(dst, embedding.Key{Row: uint32(hashing.Bucket(hashing.Probe(id, base+k), rows))})
				}
				return dst
			}}
		if c.Sign {
			fp.Combine = embedding.ComputeVector
			fp.Computer = signer{dim: c.Dim, slot: c.signSlot(f, 0)}
		}
		p.Fields = append(p.Fields, fp)
	}
	return p
}

// signer is a signed field's combine: float j of the vector is float j of
// the concatenated blocks times sign(id, j), +1 or -1 by bit j%64 of
// hashing.Probe(id, slot+j/64). It has no parameters of its own.
type signer struct {
	dim  int
	slot int
}

// flip applies the signs of id to src into dst (len dim each).
func (s signer) flip(id uint64, src, dst []float32) {
	for w := 0; w*64 < s.dim; w++ {
		h := hashing.Probe(id, s.slot+w)
		lo, hi := w*64, min(s.dim, (w+1)*64)
		for j := lo; j < hi; j++ {
			v := src[j] // bit set: negate
			if h>>(uint(j-lo))&1 != 0 {
				v = -v
			}
			dst[j] = v
		}
	}
}

// Compute writes the signed concatenation of rows.
func (s signer) Compute(id uint64, rows, out []float32) { s.flip(id, rows[:s.dim], out[:s.dim]) }

// Backward: the sign is its own inverse, so drows = s ⊙ dout.
func (s signer) Backward(id uint64, rows, dout, drows []float32) {
	s.flip(id, dout[:s.dim], drows[:s.dim])
}

// SignOf returns the sign hash of float j of id's vector in field f of a
// signed table of config c (+1 or -1); it is what Lookup multiplies by.
func (c Config) SignOf(f int, id uint64, j int) float32 {
	h := hashing.Probe(id, c.signSlot(f, j/64))
	if h>>(uint(j%64))&1 != 0 {
		return -1
	}
	return 1
}

// Table is a ROBE table: its config, the array (a one-field hashed table
// of Block-float rows, whose store the plan reads) and the shared engine.
// It implements embedding.TrainTable and embedding.Describer.
type Table struct {
	cfg   Config
	store *embedding.Hashed
	*embedding.Planned
}

// New returns a freshly initialised table for c. The errors wrap
// embedding.ErrConfig, embedding.ErrTooManyRows or
// embedding.ErrUnknownOptimizer.
func New(c Config) (*Table, error) {
	c, err := c.WithDefaults()
	if err != nil {
		return nil, fmt.Errorf("new robe table: %w", err)
	}
	t := &Table{cfg: c}
	if t.store, err = embedding.NewHashed(c.storeConfig()); err != nil {
		return nil, fmt.Errorf("new robe table: array: %w", err)
	}
	if t.Planned, err = embedding.NewPlanned(c.plan(), t.store.RowSets()); err != nil {
		return nil, fmt.Errorf("new robe table: %w", err)
	}
	return t, nil
}

// Config returns the table's configuration, defaults filled in.
func (t *Table) Config() Config { return t.cfg }

// Params returns the array (Rows·Block floats, block r at r·Block),
// aliasing the table (valid until the next Load; nil for int8 storage).
func (t *Table) Params() []float32 { return t.store.Params(0) }

// Bytes reports the array's parameter and optimizer bytes; the index is
// the hash functions and costs nothing.
func (t *Table) Bytes() embedding.Bytes { return t.Planned.Bytes() }

// SetThreads sets the goroutines of Apply and of the lookup kernel (n <= 0:
// GOMAXPROCS); results do not depend on it.
func (t *Table) SetThreads(n int) { t.Planned.SetThreads(n) }
