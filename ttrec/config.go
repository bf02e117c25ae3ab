package ttrec

import (
	"fmt"
	"math"
	"math/bits"

	"github.com/embtab/embtab/embedding"
)

// Method is the name the method registers under.
const Method = "ttrec"

// MaxRank is the largest TT-rank of a core (the contraction's scratch is
// a stack array of this many floats).
const MaxRank = 256

// maxKeys bounds the rows one id reads (a corrupt config could ask for
// more than any plan needs).
const maxKeys = 1 << 16

// Config is a ttrec table's configuration, as the manifest and the
// checkpoint record it.
type Config struct {
	// Dim is the floats per field vector.
	Dim int `json:"dim"`
	// Fields are the fields' shapes, in field order.
	Fields []FieldConfig `json:"fields"`
	// InitScale is s of the init (see the package doc); 0 means
	// embedding.DefaultInitScale.
	InitScale float32 `json:"init_scale"`
	// Optimizer is the sparse row optimizer of every row set.
	Optimizer embedding.Optimizer `json:"optimizer"`
	// Seed seeds the init and int8 rounding.
	Seed uint64 `json:"seed"`
	// Storage is the rows' training precision ("", fp32, int8).
	Storage string `json:"storage,omitempty"`
}

// FieldConfig is one field's shape: Rows plain hashed rows, or (Rows 0) a
// tensor train of cores with N[c] slices of D[c] output floats at Rank.
type FieldConfig struct {
	Rows int    `json:"rows,omitempty"`
	N    [3]int `json:"n,omitzero"`
	D    [3]int `json:"d,omitzero"`
	Rank int    `json:"rank,omitempty"`
}

// TT reports whether the field is a tensor train.
func (fc FieldConfig) TT() bool { return fc.Rows == 0 }

// slice returns the floats of one slice of core c.
func (fc FieldConfig) slice(c int) int {
	r := fc.Rank
	switch c {
	case 0:
		return fc.D[0] * r
	case 1:
		return r * fc.D[1] * r
	}
	return r * fc.D[2]
}

// Space returns n1·n2·n3, the hashed index space of a tensor-train field.
func (fc FieldConfig) Space() uint64 {
	return uint64(fc.N[0]) * uint64(fc.N[1]) * uint64(fc.N[2])
}

// Width returns the floats per row of the field's row set at dim: the
// largest divisor of the three slice sizes that is at most dim (dim for a
// plain field).
func (fc FieldConfig) Width(dim int) int {
	if !fc.TT() {
		return dim
	}
	return rowWidth(dim, fc.D, fc.Rank)
}

func rowWidth(dim int, d [3]int, r int) int {
	g := gcd(gcd(d[0]*r, d[1]*r*r), d[2]*r)
	for w := min(g, dim); w > 1; w-- {
		if g%w == 0 {
			return w
		}
	}
	return 1
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// keysPer returns the rows of one slice of each core (slice / width).
func (fc FieldConfig) keysPer(dim int) [3]int {
	w := fc.Width(dim)
	return [3]int{fc.slice(0) / w, fc.slice(1) / w, fc.slice(2) / w}
}

// SetRows returns the rows of the field's row set: the three cores'
// slices at Width floats per row (a tensor train), else Rows.
func (fc FieldConfig) SetRows(dim int) int {
	if !fc.TT() {
		return fc.Rows
	}
	k := fc.keysPer(dim)
	return fc.N[0]*k[0] + fc.N[1]*k[1] + fc.N[2]*k[2]
}

// Params returns the field's fp32 parameters (floats).
func (fc FieldConfig) Params(dim int) int64 {
	if !fc.TT() {
		return int64(fc.Rows) * int64(dim)
	}
	return ttFloats(fc.N, fc.D, fc.Rank)
}

func ttFloats(n, d [3]int, r int) int64 {
	r64 := int64(r)
	return int64(n[0])*int64(d[0])*r64 + int64(n[1])*int64(d[1])*r64*r64 + int64(n[2])*int64(d[2])*r64
}

// initScale returns a of the field's core init for product scale s.
func (fc FieldConfig) initScale(s float32) float32 {
	r := float64(fc.Rank)
	v := float64(s) * float64(s) / (3 * r * r) // the variance of one core entry, cubed
	return float32(math.Sqrt(3) * math.Pow(v, 1.0/6))
}

// withDefaults fills in the defaults and checks c; errors wrap
// embedding.ErrConfig.
func (c Config) withDefaults() (Config, error) {
	bad := func(format string, args ...any) (Config, error) {
		return c, fmt.Errorf("ttrec config: %s: %w", fmt.Sprintf(format, args...), embedding.ErrConfig)
	}
	if c.InitScale == 0 {
		c.InitScale = embedding.DefaultInitScale
	}
	opt, err := c.Optimizer.WithDefaults()
	if err != nil {
		return c, fmt.Errorf("ttrec config: %w", err)
	}
	c.Optimizer = opt
	switch {
	case c.Dim < 1 || c.Dim > 1<<16:
		return bad("dim %d", c.Dim)
	case len(c.Fields) == 0 || len(c.Fields) > 1<<20:
		return bad("%d fields", len(c.Fields))
	case !(c.InitScale > 0) || math.IsInf(float64(c.InitScale), 0):
		return bad("init scale %v", c.InitScale)
	case c.Storage != "" && c.Storage != embedding.StorageFP32 && c.Storage != embedding.StorageInt8 && !embedding.IsALPT(c.Storage):
		return bad("storage %q", c.Storage)
	}
	plain := 0
	for f, fc := range c.Fields {
		if !fc.TT() {
			if fc.Rows < 0 || fc.Rows > embedding.MaxRows-plain || fc.N != [3]int{} || fc.D != [3]int{} || fc.Rank != 0 {
				return bad("field %d: plain field %+v", f, fc)
			}
			plain += fc.Rows
			continue
		}
		if fc.Rank < 1 || fc.Rank > MaxRank {
			return bad("field %d: rank %d (1..%d)", f, fc.Rank, MaxRank)
		}
		dims := 1
		for k := range 3 {
			if fc.N[k] < 1 || fc.N[k] > embedding.MaxRows || fc.D[k] < 1 || fc.D[k] > c.Dim {
				return bad("field %d: cores %v x dims %v", f, fc.N, fc.D)
			}
			dims *= fc.D[k]
		}
		if dims != c.Dim {
			return bad("field %d: dims %v make %d floats, not %d", f, fc.D, dims, c.Dim)
		}
		if hi, _ := bits.Mul64(uint64(fc.N[0])*uint64(fc.N[1]), uint64(fc.N[2])); hi != 0 || fc.Space() > 1<<62 {
			return bad("field %d: index space %v", f, fc.N)
		}
		k := fc.keysPer(c.Dim)
		if k[0]+k[1]+k[2] > maxKeys {
			return bad("field %d: %d rows an id", f, k[0]+k[1]+k[2])
		}
		if int64(fc.N[0])*int64(k[0])+int64(fc.N[1])*int64(k[1])+int64(fc.N[2])*int64(k[2]) > embedding.MaxRows {
			return bad("field %d: cores of more than %d rows", f, embedding.MaxRows)
		}
	}
	return c, nil
}

// clone returns a deep copy.
func (c Config) clone() Config {
	c.Fields = append([]FieldConfig(nil), c.Fields...)
	return c
}

// ServingBytes returns the fp32 bytes of c's rows (the table has no
// index).
func (c Config) ServingBytes() int64 {
	var n int64
	for _, fc := range c.Fields {
		n += fc.Params(c.Dim) * 4
	}
	return n
}
