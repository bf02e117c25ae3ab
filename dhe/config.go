package dhe

import (
	"fmt"

	"github.com/embtab/embtab/embedding"
)

// Method is the name the method registers under (train --table dhe).
const Method = "dhe"

// Defaults and bounds of the shape (see the package doc).
const (
	// DefaultHidden is the width of the hidden layers when the budget
	// allows it.
	DefaultHidden = 32
	// DefaultLayers is the number of hidden layers.
	DefaultLayers = 2
	// DefaultBuckets is m, the buckets of each hash (the paper's 10⁶).
	DefaultBuckets = 1_000_000
	// MaxHashes is the paper's k: beyond it the width grows instead.
	MaxHashes = 1024
	// MinHashes is the fewest hashes sizing accepts before narrowing the
	// hidden layers.
	MinHashes = 16
	// MaxHidden is the widest hidden layer derived sizing grows to once k
	// is [MaxHashes]: beyond it a network's multiply-adds (k·h per id and
	// field) make CPU training impractical, so larger budgets are left
	// unused (set the hidden setting to go wider).
	MaxHidden = 64
	// minHidden is the narrowest hidden layer sizing goes down to.
	minHidden = 4
	// DefaultLR is the Adam learning rate of the networks.
	DefaultLR = 1e-3
)

// Config is a DHE table's configuration, as its manifest records it.
type Config struct {
	Fields  int     `json:"fields"`
	Dim     int     `json:"dim"`
	Hashes  int     `json:"hashes"`  // k
	Buckets uint64  `json:"buckets"` // m
	Hidden  int     `json:"hidden"`  // width of each hidden layer
	Layers  int     `json:"layers"`  // hidden layers (>= 1)
	Seed    uint64  `json:"seed"`
	LR      float64 `json:"lr"` // Adam's
}

// maxParamsPerField bounds a field's network (well within int and
// embedding.MaxRows rows per set).
const maxParamsPerField = 1 << 28

// maxParams bounds a table's parameters (so that a corrupt config cannot
// make Load allocate without limit).
const maxParams = 1 << 31

// Validate checks c; the errors wrap embedding.ErrConfig.
func (c Config) Validate() error {
	switch {
	case c.Fields < 1 || c.Dim < 1:
		return fmt.Errorf("dhe table: %d fields of dim %d: %w", c.Fields, c.Dim, embedding.ErrConfig)
	case c.Hashes < 1 || c.Hidden < 1 || c.Layers < 1:
		return fmt.Errorf("dhe table: %d hashes, %d hidden layers of width %d: %w", c.Hashes, c.Layers, c.Hidden, embedding.ErrConfig)
	case c.Buckets < 2 || c.Buckets > 1<<32:
		return fmt.Errorf("dhe table: %d buckets (want 2 to 2^32): %w", c.Buckets, embedding.ErrConfig)
	case !(c.LR > 0):
		return fmt.Errorf("dhe table: learning rate %v: %w", c.LR, embedding.ErrConfig)
	case c.Hashes > maxParamsPerField || c.Hidden > 1<<16 || c.Layers > 64 || c.Dim > 1<<16:
		return fmt.Errorf("dhe table: %d hashes, %d layers of width %d, dim %d: too large: %w", c.Hashes, c.Layers, c.Hidden, c.Dim, embedding.ErrConfig)
	}
	if n := ParamsPerField(c.Hashes, c.Hidden, c.Layers, c.Dim); n > maxParamsPerField {
		return fmt.Errorf("dhe table: %d parameters per field: too large: %w", n, embedding.ErrConfig)
	}
	if n := int64(c.Fields) * ParamsPerField(c.Hashes, c.Hidden, c.Layers, c.Dim); n > maxParams {
		return fmt.Errorf("dhe table: %d parameters: too large: %w", n, embedding.ErrConfig)
	}
	if rows := int64(c.Fields) * int64(max(c.Hidden, c.Dim)); rows > embedding.MaxRows {
		return fmt.Errorf("dhe table: %d rows in a layer's row set: %w", rows, embedding.ErrTooManyRows)
	}
	return nil
}

// ParamsPerField returns the parameters (weights and biases) of one
// field's network: k inputs, layers hidden layers of width hidden, dim
// outputs.
func ParamsPerField(k, hidden, layers, dim int) int64 {
	h := int64(hidden)
	return h*int64(k+1) + int64(layers-1)*h*(h+1) + int64(dim)*(h+1)
}

// ServingBytes returns the serving bytes of c: the fp32 parameters of
// every field's network as its row sets hold them (no index; each
// layer's last row is padded to Dim floats).
func (c Config) ServingBytes() int64 {
	var n int64
	for l := range c.Layers + 1 {
		n += int64(c.setRows(l)) * int64(c.Dim)
	}
	return 4 * n
}

// LayerParams returns the parameters of layer l of every field: field f's
// unit j has its ins weights and then its bias at [(f·outs+j)·(ins+1),
// (f·outs+j+1)·(ins+1)) of the layer's flat parameters.
func (c Config) LayerParams(l int) int {
	outs, ins := c.widths()
	return c.Fields * outs[l] * (ins[l] + 1)
}

// setRows returns the rows of layer l's row set: its flat parameters in
// rows of Dim floats (an artifact's rows are at most Dim wide), the last
// row zero-padded.
func (c Config) setRows(l int) int {
	return (c.LayerParams(l) + c.Dim - 1) / c.Dim
}

// widths returns the output width of each layer (the hidden ones, then
// Dim) and ins their inputs (k, then the hidden width).
func (c Config) widths() (outs, ins []int) {
	for l := range c.Layers + 1 {
		in, out := c.Hidden, c.Hidden
		if l == 0 {
			in = c.Hashes
		}
		if l == c.Layers {
			out = c.Dim
		}
		outs, ins = append(outs, out), append(ins, in)
	}
	return outs, ins
}

// hashesFor returns the most hashes a field's network of perField
// parameters affords at width h (possibly < 1).
func hashesFor(perField int64, h, layers, dim int) int64 {
	rest := perField - ParamsPerField(0, h, layers, dim) // the network without the first layer's weights
	return rest / int64(h)
}

// Shape sizes a field's network to perField parameters: hidden and hashes
// are the settings (0: derive). With hidden fixed, k is what is left for
// the first layer (at most [MaxHashes] when derived); with k fixed, the
// widest hidden layers that fit; with both derived, the width starts at
// [DefaultHidden], halves (down to 4) while k would fall below
// [MinHashes], and grows once k reaches MaxHashes, up to [MaxHidden]
// (a larger budget is left unused). The errors wrap
// embedding.ErrBudgetTooSmall.
func Shape(perField int64, hidden, hashes, layers, dim int) (h, k int, err error) {
	small := func(h, k int64) error {
		return fmt.Errorf("dhe table: %d parameters a field cannot hold a network of %d hashes, %d hidden layers of width %d and %d outputs (%d parameters): %w",
			perField, max(k, 1), layers, h, dim, ParamsPerField(int(max(k, 1)), int(h), layers, dim), embedding.ErrBudgetTooSmall)
	}
	switch {
	case hidden > 0 && hashes > 0:
		if ParamsPerField(hashes, hidden, layers, dim) > perField {
			return 0, 0, small(int64(hidden), int64(hashes))
		}
		return hidden, hashes, nil
	case hidden > 0:
		k := min(hashesFor(perField, hidden, layers, dim), MaxHashes)
		if k < 1 {
			return 0, 0, small(int64(hidden), k)
		}
		return hidden, int(k), nil
	case hashes > 0:
		h := 0
		for w := 1; w <= 1<<16 && ParamsPerField(hashes, w, layers, dim) <= perField; w++ {
			h = w
		}
		if h == 0 {
			return 0, 0, small(1, int64(hashes))
		}
		return h, hashes, nil
	}
	h = DefaultHidden
	for h > minHidden && hashesFor(perField, h, layers, dim) < MinHashes {
		h /= 2
	}
	for hashesFor(perField, h+8, layers, dim) >= MaxHashes && h+8 <= MaxHidden {
		h += 8
	}
	k64 := min(hashesFor(perField, h, layers, dim), MaxHashes)
	if k64 < 1 {
		return 0, 0, small(int64(h), k64)
	}
	return h, int(k64), nil
}

// configFor sizes a table for s (see [dheMethod.New]).
func configFor(s embedding.Spec) (Config, error) {
	c := Config{Fields: len(s.Fields), Dim: s.Dim, Seed: s.Seed, LR: DefaultLR, Buckets: DefaultBuckets}
	if err := s.CheckParams(Method, "hashes", "hidden", "layers", "buckets", "lr"); err != nil {
		return c, err
	}
	if s.Dim < 1 || len(s.Fields) == 0 || s.Budget < 0 {
		return c, fmt.Errorf("dhe table: %d fields of dim %d, budget %d: %w", len(s.Fields), s.Dim, s.Budget, embedding.ErrConfig)
	}
	if s.FieldDims != nil {
		return c, fmt.Errorf("dhe table: per-field dims (a dimension plan) are not supported: every field's network has Dim outputs: %w", embedding.ErrConfig)
	}
	if s.Storage != "" && s.Storage != embedding.StorageFP32 {
		return c, fmt.Errorf("dhe table: storage %q: the networks train in fp32: %w", s.Storage, embedding.ErrConfig)
	}
	hidden, err := s.IntParam("hidden", 0)
	if err != nil {
		return c, fmt.Errorf("dhe table: %w", err)
	}
	hashes, err := s.IntParam("hashes", 0)
	if err != nil {
		return c, fmt.Errorf("dhe table: %w", err)
	}
	if c.Layers, err = s.IntParam("layers", DefaultLayers); err != nil {
		return c, fmt.Errorf("dhe table: %w", err)
	}
	buckets, err := s.IntParam("buckets", DefaultBuckets)
	if err != nil {
		return c, fmt.Errorf("dhe table: %w", err)
	}
	if c.LR, err = s.FloatParam("lr", DefaultLR); err != nil {
		return c, fmt.Errorf("dhe table: %w", err)
	}
	if hidden < 0 || hashes < 0 || c.Layers < 1 || buckets < 2 {
		return c, fmt.Errorf("dhe table: hidden %d, hashes %d, layers %d, buckets %d: %w", hidden, hashes, c.Layers, buckets, embedding.ErrConfig)
	}
	c.Buckets = uint64(buckets)
	// Each layer's row set pads its last row: reserve that first.
	perField := (s.SizingBudget()/4 - int64(c.Layers+1)*int64(c.Dim)) / int64(c.Fields)
	if c.Hidden, c.Hashes, err = Shape(perField, hidden, hashes, c.Layers, c.Dim); err != nil {
		return c, fmt.Errorf("%w (budget %d bytes over %d fields)", err, s.SizingBudget(), c.Fields)
	}
	return c, c.Validate()
}
