package densenet

// The parameters of each model: their names, shapes, order and
// initialisation, and the layers that use them. Every implementation of
// the models (Net here, the GoMLX reference graph in package trainer)
// builds on one Layout, so they agree on the State format.

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
)

// ParamSpec describes one parameter tensor: its name in State, its
// dimensions (a weight is [in, out]) and its initialisation
// U(-Bound, Bound).
type ParamSpec struct {
	Name  string
	Dims  []int
	Bound float64
	// Const, when not zero, is every value's initial value instead (a
	// PReLU slope): nothing is drawn for it.
	Const float64
}

// Size returns the number of values of the tensor.
func (p ParamSpec) Size() int {
	n := 1
	for _, d := range p.Dims {
		n *= d
	}
	return n
}

// Layer is a fully connected layer y = x·W + b (ReLU'd when ReLU is set)
// of a Layout: W ([In, Out]) and B ([Out]) index Layout.Params. Its
// parameters are initialised like PyTorch's nn.Linear,
// U(-1/sqrt(In), 1/sqrt(In)).
type Layer struct {
	W, B    int
	In, Out int
	ReLU    bool
}

// Layout is the parameter list of a model and the layers over it. Which
// layers are set depends on Config.Name (see the Model* constants):
//
//	lr      Linear
//	fm      Linear, Proj (when NumDense > 0)
//	deepfm  Linear, Proj (when NumDense > 0), Deep (ending in the logit layer)
//	dlrm    Bottom, Top (ending in the logit layer)
//	dcnv2   Cross, Deep (hidden layers only), Out
type Layout struct {
	// Params are in State order: the order of initialisation and of the
	// tensors of a State.
	Params []ParamSpec

	Linear Layer       // first-order term over x0 = [dense ; emb]
	Proj   Layer       // fm, deepfm: dense → Dim projection
	Deep   []Layer     // deepfm, dcnv2: the deep MLP over x0
	Bottom []Layer     // dlrm: bottom MLP over the dense features
	Top    []Layer     // dlrm: top MLP over [bottom output ; pair dots]
	Cross  []Layer     // dcnv2: cross layers [K, K]
	Out    Layer       // dcnv2: [x_L ; deep output] → logit; autoint: last tokens → logit
	Attn   []Attention // autoint: the self-attention layers
	// din: the activation unit [4·Dim → AttentionUnits (PReLU, slopes
	// PReLU) → 1] (AttUnit, AttOut), Deep over [dense ; other slots ;
	// pooled sequence] ending in the logit layer.
	AttUnit, AttOut Layer
	PReLU           int
}

// Attention is one self-attention layer of AutoInt: bias-free [In,
// Heads·HeadDim] weights Q, K, V and Res (indexes into Layout.Params).
type Attention struct {
	Q, K, V, Res     int
	In, Heads, HeadD int
}

// Width returns the layer's output floats per token.
func (a Attention) Width() int { return a.Heads * a.HeadD }

// PReLUInit is the initial slope of a PReLU unit (PyTorch's).
const PReLUInit = 0.25

// DINInput returns the width of DIN's deep MLP input: the dense features,
// every slot but the sequence's, and the pooled sequence.
func DINInput(c Config) int { return c.NumDense + (c.Fields-c.SeqLen+1)*c.Dim }

// Tokens returns AutoInt's attention tokens for c: the fields, and one
// more for the dense features when there are any.
func Tokens(c Config) int {
	if c.NumDense > 0 {
		return c.Fields + 1
	}
	return c.Fields
}

// NewLayout declares the parameters of c's model. c must be resolved
// (WithDefaults) and valid (Validate).
func NewLayout(c Config) (Layout, error) {
	if err := c.Validate(); err != nil {
		return Layout{}, err
	}
	var l Layout
	x0 := c.NumDense + c.Fields*c.Dim
	switch c.Name {
	case ModelLR:
		l.Linear = l.fc("lr/linear", x0, 1, false)
	case ModelFM, ModelDeepFM:
		l.Linear = l.fc("fm/linear", x0, 1, false)
		if c.NumDense > 0 {
			// The dense features' vector in the second-order term starts as
			// small as an embedding row (each feature's latent vector, as in
			// the FM papers, with no offset): a default-initialised layer
			// (bounds 1/sqrt(NumDense)) over log1p-scaled counts gives it a
			// norm of several units, and its products with every field
			// vector then swamp the field interactions (measured: a noise
			// dense column took test AUC from 0.97 to 0.65 on a two-field
			// XOR set: trainer's TestTrainTextFormats/csv_fm_dense).
			l.Proj = Layer{W: l.add("fm/dense_proj/w", fmDenseInitBound, c.NumDense, c.Dim),
				B: l.add("fm/dense_proj/b", 0, c.Dim), In: c.NumDense, Out: c.Dim}
		}
		if c.Name == ModelDeepFM {
			l.Deep = l.mlp("deep", x0, c.DeepMLP, true)
		}
	case ModelDLRM:
		l.Bottom = l.mlp("bottom", c.NumDense, c.BottomMLP, false)
		l.Top = l.mlp("top", c.Dim+pairs(1+c.Fields), c.TopMLP, true)
	case ModelDCNv2:
		for i := range max(c.CrossLayers, 0) {
			l.Cross = append(l.Cross, l.fc("cross/"+strconv.Itoa(i), x0, x0, false))
		}
		l.Deep = l.mlp("deep", x0, c.DeepMLP, false)
		l.Out = l.fc("dcn/logit", x0+width(l.Deep), 1, false)
	case ModelDIN:
		l.AttUnit = l.fc("din/att/0", 4*c.Dim, c.AttentionUnits, false)
		l.PReLU = len(l.Params)
		l.Params = append(l.Params, ParamSpec{Name: "din/att/prelu", Dims: []int{c.AttentionUnits}, Const: PReLUInit})
		l.AttOut = l.fc("din/att/1", c.AttentionUnits, 1, false)
		l.Deep = l.mlp("deep", DINInput(c), c.DeepMLP, true)
	case ModelAutoInt, ModelAutoIntPlus:
		if c.NumDense > 0 {
			// The dense token starts as small as an embedding row (see fm).
			l.Proj = Layer{W: l.add("autoint/dense_proj/w", fmDenseInitBound, c.NumDense, c.Dim),
				B: l.add("autoint/dense_proj/b", 0, c.Dim), In: c.NumDense, Out: c.Dim}
		}
		in, a := c.Dim, c.Heads*c.HeadDim
		for i := range c.AttentionLayers {
			bound := 1 / math.Sqrt(float64(in))
			name := "autoint/attn/" + strconv.Itoa(i)
			l.Attn = append(l.Attn, Attention{
				Q: l.add(name+"/q", bound, in, a), K: l.add(name+"/k", bound, in, a),
				V: l.add(name+"/v", bound, in, a), Res: l.add(name+"/res", bound, in, a),
				In: in, Heads: c.Heads, HeadD: c.HeadDim})
			in = a
		}
		l.Out = l.fc("autoint/logit", Tokens(c)*a, 1, false)
		if c.Name == ModelAutoIntPlus {
			l.Deep = l.mlp("deep", x0, c.DeepMLP, true)
		}
	default:
		return Layout{}, fmt.Errorf("%w: %q", ErrUnknownModel, c.Name)
	}
	return l, nil
}

// pairs is the number of pairwise dots of n vectors.
func pairs(n int) int { return n * (n - 1) / 2 }

// width returns the output width of a stack of layers (0 for none).
func width(ls []Layer) int {
	if len(ls) == 0 {
		return 0
	}
	return ls[len(ls)-1].Out
}

func (l *Layout) add(name string, bound float64, dims ...int) int {
	l.Params = append(l.Params, ParamSpec{Name: name, Dims: dims, Bound: bound})
	return len(l.Params) - 1
}

// fmDenseInitBound is the init half-width of the FM dense projection's
// weights: embedding.DefaultInitScale, the rows' own.
const fmDenseInitBound = 0.05

func (l *Layout) fc(name string, in, out int, relu bool) Layer {
	bound := 1 / math.Sqrt(float64(in))
	return Layer{W: l.add(name+"/w", bound, in, out), B: l.add(name+"/b", bound, out), In: in, Out: out, ReLU: relu}
}

// mlp declares layers of the given widths over in inputs, ReLU after
// each; with logit set a final linear layer to one output is appended.
func (l *Layout) mlp(name string, in int, widths []int, logit bool) []Layer {
	var m []Layer
	for i, w := range widths {
		m = append(m, l.fc(name+"/"+strconv.Itoa(i), in, w, true))
		in = w
	}
	if logit {
		m = append(m, l.fc(name+"/"+strconv.Itoa(len(widths)), in, 1, false))
	}
	return m
}

// InitParams draws the initial values of the parameters: every value
// from U(-Bound, Bound), from one PCG stream seeded with seed, in
// parameter order.
func InitParams(specs []ParamSpec, seed uint64) [][]float32 {
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	out := make([][]float32, len(specs))
	for i, s := range specs {
		p := make([]float32, s.Size())
		for j := range p {
			if s.Const != 0 {
				p[j] = float32(s.Const)
				continue
			}
			p[j] = float32((2*rng.Float64() - 1) * s.Bound)
		}
		out[i] = p
	}
	return out
}
