package retrieval

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/embtab/embtab/densenet"
	"github.com/embtab/embtab/kernels/gemm"
)

// ModelName is the name of the two-tower model in TowersConfig and in an
// artifact's model config, which tells it from the CTR models.
const ModelName = "twotower"

// TowersConfig describes the dense part of a two-tower model: which table
// fields each tower reads and the MLP shapes. It is stored as JSON in the
// towers file and as an artifact's model config.
type TowersConfig struct {
	// Name is ModelName.
	Name string `json:"name"`
	// Fields are the table's fields (the schema's categorical columns);
	// UserFields and ItemFields the towers' inputs as positions in
	// Fields, key field first.
	Fields     []string `json:"fields"`
	UserFields []int    `json:"user_fields"`
	ItemFields []int    `json:"item_fields"`
	// Dim is the table's dim (floats per field vector), Hidden the hidden
	// layer's width and Out the output dim of both towers.
	Dim    int `json:"dim"`
	Hidden int `json:"hidden"`
	Out    int `json:"out"`
	// Nested are the prefix dims the model was trained with (the last is
	// Out); just [Out] without Matryoshka training.
	Nested []int `json:"nested"`
	// Temperature is the softmax temperature of training (the training
	// logits are scores divided by it). Scores over all Out dims are
	// cosines (both vectors are L2-normalised); a prefix score (the first
	// p dims of a nested model) is the dot product of the prefixes, which
	// are not renormalised, so it is not a cosine.
	Temperature float64 `json:"temperature"`
	// History, when > 0, is the most items whose pooled item-key vector
	// follows the user fields' vectors in the user tower's input.
	History int `json:"history,omitempty"`
}

// userIn returns the user tower's input width: its fields' vectors, and
// the pooled history with one.
func (c *TowersConfig) userIn() int {
	n := len(c.UserFields) * c.Dim
	if c.History > 0 {
		n += c.Dim
	}
	return n
}

// validate checks c's consistency.
func (c *TowersConfig) validate() error {
	switch {
	case c.Name != ModelName:
		return fmt.Errorf("model %q, want %q", c.Name, ModelName)
	case c.Dim < 1 || c.Hidden < 1 || c.Out < 1 || c.Dim > 1<<12 || c.Hidden > 1<<14 || c.Out > 1<<12:
		return fmt.Errorf("dims %d, hidden %d, out %d out of range", c.Dim, c.Hidden, c.Out)
	case len(c.UserFields) == 0 || len(c.ItemFields) == 0:
		return errors.New("a tower has no fields")
	case len(c.Nested) == 0 || c.Nested[len(c.Nested)-1] != c.Out:
		return fmt.Errorf("nested dims %v must end with out %d", c.Nested, c.Out)
	case c.History < 0:
		return fmt.Errorf("history %d is negative", c.History)
	}
	for _, f := range append(slices.Clone(c.UserFields), c.ItemFields...) {
		if f < 0 || f >= len(c.Fields) {
			return fmt.Errorf("tower field %d of %d", f, len(c.Fields))
		}
	}
	for name, fields := range map[string][]int{"user": c.UserFields, "item": c.ItemFields} {
		sorted := slices.Sorted(slices.Values(fields))
		if len(slices.Compact(sorted)) != len(fields) {
			return fmt.Errorf("the %s tower reads fields %v: a field twice", name, fields)
		}
	}
	for i, p := range c.Nested {
		if p < 1 || i > 0 && p <= c.Nested[i-1] {
			return fmt.Errorf("nested dims %v must increase from 1", c.Nested)
		}
	}
	return nil
}

// mlp is one tower's dense layers: in -> hidden (ReLU) -> out, row-major
// weights (W1 is in×hidden, W2 hidden×out).
type mlp struct {
	in, hidden, out int
	w1, b1, w2, b2  []float32
}

func newMLP(in, hidden, out int, rng *rand.Rand) *mlp {
	m := &mlp{in: in, hidden: hidden, out: out,
		w1: make([]float32, in*hidden), b1: make([]float32, hidden),
		w2: make([]float32, hidden*out), b2: make([]float32, out)}
	// He-uniform for the ReLU layer, Glorot-uniform for the output.
	a1 := float32(math.Sqrt(6 / float64(in)))
	for i := range m.w1 {
		m.w1[i] = (2*rng.Float32() - 1) * a1
	}
	a2 := float32(math.Sqrt(6 / float64(hidden+out)))
	for i := range m.w2 {
		m.w2[i] = (2*rng.Float32() - 1) * a2
	}
	return m
}

// params returns the weight slices in file order.
func (m *mlp) params() [][]float32 { return [][]float32{m.w1, m.b1, m.w2, m.b2} }

// net returns the tower's layers as a densenet.MLP over params().
func (m *mlp) net() densenet.MLP { return densenet.NewMLP(m.in, []int{m.hidden, m.out}, true) }

// mlpActs are a forward pass's activations, kept for the backward pass.
type mlpActs struct {
	n    int
	x    []float32 // n×in
	pass densenet.MLPPass
	norm []float32 // n: ‖o‖
	y    []float32 // n×out, o/‖o‖
}

// grow returns s resized to n, reusing its memory.
func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// forward computes a.y = normalise(relu(x·W1+b1)·W2+b2) for the n rows of
// a.x.
func (m *mlp) forward(g *gemm.Context, a *mlpActs) error {
	n := a.n
	a.y = grow(a.y, n*m.out)
	a.norm = grow(a.norm, n)
	o, err := m.net().Forward(g, m.params(), a.x, n, &a.pass)
	if err != nil {
		return fmt.Errorf("tower forward: %w", err)
	}
	for i := range n {
		o, y := o[i*m.out:(i+1)*m.out], a.y[i*m.out:(i+1)*m.out]
		var s float64
		for _, v := range o {
			s += float64(v) * float64(v)
		}
		nrm := float32(math.Sqrt(s))
		if nrm < 1e-12 {
			nrm = 1e-12
		}
		a.norm[i] = nrm
		for j, v := range o {
			y[j] = v / nrm
		}
	}
	return nil
}

// mlpGrads are the gradients of one tower's weights, and scratch.
type mlpGrads struct {
	w1, b1, w2, b2 []float32
	do             []float32
}

func newMLPGrads(m *mlp) *mlpGrads {
	return &mlpGrads{w1: make([]float32, len(m.w1)), b1: make([]float32, len(m.b1)),
		w2: make([]float32, len(m.w2)), b2: make([]float32, len(m.b2))}
}

func (gr *mlpGrads) params() [][]float32 { return [][]float32{gr.w1, gr.b1, gr.w2, gr.b2} }

// backward takes dy (n×out, the loss gradient with respect to a.y) and
// writes the weight gradients into gr and the input gradient into dx
// (n×in).
func (m *mlp) backward(g *gemm.Context, a *mlpActs, dy []float32, gr *mlpGrads, dx []float32) error {
	n := a.n
	gr.do = grow(gr.do, n*m.out)
	// y = o/‖o‖: do = (dy - y (y·dy)) / ‖o‖.
	for i := range n {
		y, d, do := a.y[i*m.out:(i+1)*m.out], dy[i*m.out:(i+1)*m.out], gr.do[i*m.out:(i+1)*m.out]
		var dot float32
		for j := range y {
			dot += y[j] * d[j]
		}
		inv := 1 / a.norm[i]
		for j := range y {
			do[j] = (d[j] - y[j]*dot) * inv
		}
	}
	if err := m.net().Backward(g, m.params(), gr.params(), a.x, n, &a.pass, gr.do, dx); err != nil {
		return fmt.Errorf("tower backward: %w", err)
	}
	return nil
}

// Towers is the dense part of a trained two-tower model: both MLPs. Its
// Embed methods turn field vectors into user or item vectors; they are
// safe for concurrent use.
type Towers struct {
	cfg        TowersConfig
	user, item *mlp
}

// Config returns the towers' configuration.
func (t *Towers) Config() TowersConfig { return t.cfg }

// embed runs tower m over n rows of concatenated field vectors x
// (n × fields·Dim) and writes n×Out normalised vectors to out.
func (t *Towers) embed(g *gemm.Context, m *mlp, n int, x, out []float32) error {
	if len(x) != n*m.in || len(out) != n*m.out {
		return fmt.Errorf("tower embed: %d inputs and %d outputs for %d rows of %d -> %d", len(x), len(out), n, m.in, m.out)
	}
	a := &mlpActs{n: n, x: x}
	if err := m.forward(g, a); err != nil {
		return err
	}
	copy(out, a.y)
	return nil
}

// EmbedUsers computes n user vectors (n×Out into out) from the vectors of
// the user fields (n × len(UserFields) × Dim, fields in UserFields order).
// g is a gemm context (nil: a single-threaded one made for the call).
func (t *Towers) EmbedUsers(g *gemm.Context, n int, fields, out []float32) error {
	if g == nil {
		g = gemm.NewContext(1)
		defer g.Close()
	}
	return t.embed(g, t.user, n, fields, out)
}

// EmbedItems is EmbedUsers for the item tower.
func (t *Towers) EmbedItems(g *gemm.Context, n int, fields, out []float32) error {
	if g == nil {
		g = gemm.NewContext(1)
		defer g.Close()
	}
	return t.embed(g, t.item, n, fields, out)
}

// Towers file: "EMBTTWR\x00", uint32 version 1, uint32 length L of the
// JSON TowersConfig, the JSON, then the user tower's W1, b1, W2, b2 and
// the item tower's, as little-endian float32 (sizes from the config), then
// the CRC-32C of everything before it (uint32).
const (
	towersMagic   = "EMBTTWR\x00"
	towersVersion = 1
	maxConfigLen  = 1 << 20
)

// ErrCorrupt reports a towers file that is not what it claims.
var ErrCorrupt = errors.New("retrieval: corrupt towers file")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Save writes the towers in the towers file format.
func (t *Towers) Save(w io.Writer) error {
	js, err := json.Marshal(t.cfg)
	if err != nil {
		return fmt.Errorf("save towers: %w", err)
	}
	var buf bytes.Buffer
	buf.WriteString(towersMagic)
	binary.Write(&buf, binary.LittleEndian, uint32(towersVersion))
	binary.Write(&buf, binary.LittleEndian, uint32(len(js)))
	buf.Write(js)
	for _, m := range []*mlp{t.user, t.item} {
		for _, p := range m.params() {
			binary.Write(&buf, binary.LittleEndian, p)
		}
	}
	binary.Write(&buf, binary.LittleEndian, crc32.Checksum(buf.Bytes(), castagnoli))
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("save towers: %w", err)
	}
	return nil
}

// LoadTowers reads towers saved by Save. Errors wrap ErrCorrupt for bad
// bytes.
func LoadTowers(r io.Reader) (*Towers, error) {
	data, err := io.ReadAll(io.LimitReader(r, 1<<30))
	if err != nil {
		return nil, fmt.Errorf("load towers: %w", err)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("load towers: %s: %w", fmt.Sprintf(format, args...), ErrCorrupt)
	}
	if len(data) < 20 || string(data[:8]) != towersMagic {
		return nil, bad("no towers magic")
	}
	if v := binary.LittleEndian.Uint32(data[8:]); v != towersVersion {
		return nil, bad("version %d, this build reads %d", v, towersVersion)
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, bad("checksum mismatch")
	}
	l := int(binary.LittleEndian.Uint32(data[12:]))
	if l > maxConfigLen || 16+l > len(body) {
		return nil, bad("config of %d bytes", l)
	}
	var cfg TowersConfig
	if err := json.Unmarshal(body[16:16+l], &cfg); err != nil {
		return nil, bad("config: %v", err)
	}
	if err := cfg.validate(); err != nil {
		return nil, bad("config: %v", err)
	}
	t := &Towers{cfg: cfg,
		user: &mlp{in: cfg.userIn(), hidden: cfg.Hidden, out: cfg.Out},
		item: &mlp{in: len(cfg.ItemFields) * cfg.Dim, hidden: cfg.Hidden, out: cfg.Out}}
	rest := body[16+l:]
	for _, m := range []*mlp{t.user, t.item} {
		sizes := []int{m.in * m.hidden, m.hidden, m.hidden * m.out, m.out}
		vals := make([][]float32, 4)
		for i, n := range sizes {
			if len(rest) < 4*n {
				return nil, bad("weights end early")
			}
			vals[i] = make([]float32, n)
			for j := range n {
				v := math.Float32frombits(binary.LittleEndian.Uint32(rest[4*j:]))
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					return nil, bad("non-finite weight")
				}
				vals[i][j] = v
			}
			rest = rest[4*n:]
		}
		m.w1, m.b1, m.w2, m.b2 = vals[0], vals[1], vals[2], vals[3]
	}
	if len(rest) != 0 {
		return nil, bad("%d bytes after the weights", len(rest))
	}
	return t, nil
}
