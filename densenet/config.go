package densenet

// The serialisable description of the dense models (Config), its
// defaults and its validation.

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/embtab/embtab/densenet/optim"
)

// Model names accepted in Config.Name.
const (
	// ModelLR is logistic regression over [dense ; emb flattened]: one linear
	// layer to the logit. With D-dim embeddings the weight of a categorical
	// value is not a free scalar but w_f·e_{f,value}, the projection of its
	// embedding row on the field's weight vector: the per-feature weights are
	// learned through the embedding (with Dim 1 this is plain hashed LR up to a
	// per-field scale).
	ModelLR = "lr"
	// ModelFM is a factorization machine: a first-order linear term over
	// [dense ; emb flattened] plus the second-order term
	// FMScale·0.5*Σ_d((Σ_i v_id)² - Σ_i v_id²) over the F field vectors and one more
	// vector projected from the dense features (a linear layer NumDense→Dim,
	// only when NumDense > 0).
	ModelFM = "fm"
	// ModelDeepFM is ModelFM plus a deep MLP (ReLU after every hidden layer,
	// then a linear layer to one logit) over [dense ; emb flattened]; the two
	// logits are summed.
	ModelDeepFM = "deepfm"
	// ModelDLRM is "dlrm-small" (docs/architecture.md,
	// shared/peers/torch_dlrm.py): bottom MLP over the dense features with
	// ReLU after every layer (its last width must be Dim), the pairwise dot
	// products of the 1+F vectors (bottom output first, upper triangle i<j, in
	// row-major order like torch.triu_indices) concatenated after the bottom
	// output, then the top MLP (ReLU between layers) and a linear layer to the
	// logit. It requires NumDense > 0.
	ModelDLRM = "dlrm"
	// ModelDCNv2 is DCN-v2 (Wang et al. 2021), parallel variant:
	// x0 = [dense ; emb flattened], full-rank cross layers
	// x_{l+1} = x0 ⊙ (x_l·W_l + b_l) + x_l, a deep MLP on x0 (ReLU after every
	// layer) in parallel, both outputs concatenated, then a linear layer to the
	// logit.
	ModelDCNv2 = "dcnv2"
	// ModelAutoInt is AutoInt (Song et al. 2019): the field vectors (and,
	// when NumDense > 0, one more projected from the dense features, as
	// FM's) are T tokens through AttentionLayers layers of multi-head
	// self-attention with residuals: per head h of HeadDim,
	// P = softmax_j(Q_h·K_hᵀ) (unscaled, as the paper), O_h = P·V_h, the
	// heads concatenated, and the layer's output ReLU(O + X·W_res); the
	// last layer's tokens, flattened, go through a linear layer to the
	// logit. Q, K, V and W_res are bias-free [in, Heads·HeadDim] maps.
	ModelAutoInt = "autoint"
	// ModelAutoIntPlus is AutoInt with a deep MLP over [dense ; emb
	// flattened] in parallel (ReLU after every hidden layer, a linear
	// layer to a logit), the two logits summed.
	ModelAutoIntPlus = "autoint+"
	// ModelDIN is the Deep Interest Network (Zhou et al. 2018): the SeqLen
	// slots from SeqStart are a behaviour sequence (zero vectors pad it),
	// the Target slot the candidate. A local activation unit scores each
	// behaviour e_j against the candidate e_c, an MLP over [e_j ; e_c ;
	// e_j−e_c ; e_j⊙e_c] with one PReLU hidden layer of AttentionUnits and
	// a linear output w_j (no softmax, as the paper); the sequence pools to
	// Σ_j w_j·e_j (a padding zero vector adds nothing and passes no
	// gradient to the unit). The deep MLP (ReLU) over [dense ; every
	// other slot ; the pooled sequence] ends in the logit.
	ModelDIN = "din"
)

// Hyperparameter defaults used by Config.WithDefaults. They match
// torch.optim.Adam (optim's defaults) and shared/peers/torch_dlrm.py.
const (
	DefaultLR          = optim.DefaultLR
	DefaultBeta1       = optim.DefaultBeta1
	DefaultBeta2       = optim.DefaultBeta2
	DefaultEps         = optim.DefaultEps
	DefaultCrossLayers = 3
	DefaultBottomWidth = 64 // dlrm bottom MLP: NumDense→64→Dim
	// DefaultAttentionUnits is the hidden width of DIN's activation unit.
	DefaultAttentionUnits = 36
	// AutoInt's attention: layers, heads and floats per head.
	DefaultAttentionLayers = 3
	DefaultHeads           = 2
	DefaultHeadDim         = 16
)

// DefaultTopMLP is the default hidden widths of the dlrm top MLP and
// DefaultDeepMLP those of the deepfm and dcnv2 deep MLPs.
var (
	DefaultTopMLP  = []int{256, 128}
	DefaultDeepMLP = []int{256, 128}
	// DefaultDINMLP is DIN's deep MLP (the paper's 200-80).
	DefaultDINMLP = []int{200, 80}
)

// Config describes a dense model. It is serialised (JSON) into
// checkpoints and artifacts, so a net can be rebuilt from it.
//
// Layer lists follow one rule: nil means "use the default", an empty
// non-nil slice means "no hidden layers" (JSON null versus []).
// WithDefaults resolves them, and New keeps the resolved config.
type Config struct {
	// Name is one of ModelLR, ModelFM, ModelDeepFM, ModelDLRM, ModelDCNv2,
	// ModelAutoInt, ModelAutoIntPlus, ModelDIN.
	Name string `json:"name"`
	// NumDense is the number of dense features per example (may be 0 except
	// for dlrm), Fields the number of embedded categorical fields and Dim
	// their embedding dimension.
	NumDense int `json:"num_dense"`
	Fields   int `json:"fields"`
	Dim      int `json:"dim"`
	// BottomMLP (dlrm) lists the bottom MLP widths; the last must equal Dim.
	// Default {64, Dim}.
	BottomMLP []int `json:"bottom_mlp"`
	// TopMLP (dlrm) lists the top MLP hidden widths; a final linear layer to
	// the logit is always added. Default {256, 128}.
	TopMLP []int `json:"top_mlp"`
	// DeepMLP (deepfm, dcnv2, autoint+) lists the deep MLP hidden widths. Default
	// {256, 128}.
	DeepMLP []int `json:"deep_mlp"`
	// FMScale (fm, deepfm) multiplies the second-order term. Zero means 1,
	// the plain factorization machine (and the value of artifacts written
	// before the field existed); the trainer sets 1/Fields
	// (trainer.DefaultFMScale).
	FMScale float64 `json:"fm_scale,omitempty"`
	// CrossLayers (dcnv2) is the number of cross layers. Default 3; use a
	// negative value for none.
	CrossLayers int `json:"cross_layers"`
	// AttentionLayers, Heads and HeadDim (autoint, autoint+) shape the
	// self-attention; zero means the default (3, 2, 16).
	AttentionLayers int `json:"attention_layers,omitempty"`
	Heads           int `json:"heads,omitempty"`
	HeadDim         int `json:"head_dim,omitempty"`
	// SeqStart, SeqLen and Target (din) place the behaviour sequence and
	// the candidate among the Fields slots; AttentionUnits is the
	// activation unit's hidden width (0: 36).
	SeqStart       int `json:"seq_start,omitempty"`
	SeqLen         int `json:"seq_len,omitempty"`
	Target         int `json:"target,omitempty"`
	AttentionUnits int `json:"attention_units,omitempty"`
	// LR, Beta1, Beta2 and Eps configure Adam for the dense parameters
	// (torch.optim.Adam semantics, no weight decay). Zero means the default.
	LR    float64 `json:"lr"`
	Beta1 float64 `json:"beta1"`
	Beta2 float64 `json:"beta2"`
	Eps   float64 `json:"eps"`
	// Seed seeds the Go-side parameter initialisation.
	Seed uint64 `json:"seed"`
}

// WithDefaults returns a copy of c with unset fields replaced by their
// defaults for c.Name. Fields that do not apply to the model are cleared, so
// the result describes the model exactly.
func (c Config) WithDefaults() Config {
	orInt := func(v []int, def []int) []int {
		if v == nil {
			return slices.Clone(def)
		}
		return slices.Clone(v)
	}
	a := c.adam().WithDefaults()
	c.LR, c.Beta1, c.Beta2, c.Eps = a.LR, a.Beta1, a.Beta2, a.Eps
	var bottom, top, deep []int
	cross := 0
	fmScale := 0.0
	layers, heads, headDim, units := 0, 0, 0, 0
	switch c.Name {
	case ModelDIN:
		units = cmp.Or(c.AttentionUnits, DefaultAttentionUnits)
		deep = orInt(c.DeepMLP, DefaultDINMLP)
	case ModelAutoInt, ModelAutoIntPlus:
		layers = cmp.Or(c.AttentionLayers, DefaultAttentionLayers)
		heads = cmp.Or(c.Heads, DefaultHeads)
		headDim = cmp.Or(c.HeadDim, DefaultHeadDim)
		if c.Name == ModelAutoIntPlus {
			deep = orInt(c.DeepMLP, DefaultDeepMLP)
		}
	case ModelFM:
		fmScale = cmp.Or(c.FMScale, 1)
	case ModelDLRM:
		bottom = orInt(c.BottomMLP, []int{DefaultBottomWidth, c.Dim})
		top = orInt(c.TopMLP, DefaultTopMLP)
	case ModelDeepFM:
		fmScale = cmp.Or(c.FMScale, 1)
		deep = orInt(c.DeepMLP, DefaultDeepMLP)
	case ModelDCNv2:
		deep = orInt(c.DeepMLP, DefaultDeepMLP)
		switch {
		case c.CrossLayers == 0:
			cross = DefaultCrossLayers
		case c.CrossLayers > 0:
			cross = c.CrossLayers
		default:
			cross = -1
		}
	}
	c.BottomMLP, c.TopMLP, c.DeepMLP, c.CrossLayers, c.FMScale = bottom, top, deep, cross, fmScale
	c.AttentionLayers, c.Heads, c.HeadDim, c.AttentionUnits = layers, heads, headDim, units
	if c.Name != ModelDIN {
		c.SeqStart, c.SeqLen, c.Target = 0, 0, 0
	}
	return c
}

// Validate reports whether c (after WithDefaults) describes a buildable
// model. Errors wrap ErrInvalidConfig or ErrUnknownModel.
func (c Config) Validate() error {
	switch c.Name {
	case ModelLR, ModelFM, ModelDeepFM, ModelDLRM, ModelDCNv2, ModelAutoInt, ModelAutoIntPlus, ModelDIN:
	default:
		return fmt.Errorf("%w: %q", ErrUnknownModel, c.Name)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalidConfig, c.Name, fmt.Sprintf(format, args...))
	}
	if c.NumDense < 0 || c.Fields <= 0 || c.Dim <= 0 {
		return bad("need NumDense >= 0, Fields > 0, Dim > 0; got %d, %d, %d", c.NumDense, c.Fields, c.Dim)
	}
	if c.FMScale < 0 || math.IsNaN(c.FMScale) || math.IsInf(c.FMScale, 0) {
		return bad("FMScale must be finite and >= 0, got %v", c.FMScale)
	}
	if err := c.adam().Validate(); err != nil {
		return bad("%v", err)
	}
	for _, l := range [][]int{c.BottomMLP, c.TopMLP, c.DeepMLP} {
		for _, w := range l {
			if w <= 0 {
				return bad("layer widths must be positive, got %v", l)
			}
		}
	}
	if (c.Name == ModelAutoInt || c.Name == ModelAutoIntPlus) && (c.AttentionLayers <= 0 || c.Heads <= 0 || c.HeadDim <= 0) {
		return bad("attention layers, heads and head dim must be positive, got %d, %d, %d", c.AttentionLayers, c.Heads, c.HeadDim)
	}
	if c.Name == ModelDIN {
		switch {
		case c.SeqLen <= 0 || c.SeqStart < 0 || c.SeqStart+c.SeqLen > c.Fields:
			return bad("the sequence slots [%d, %d) must be a non-empty range of the %d slots", c.SeqStart, c.SeqStart+c.SeqLen, c.Fields)
		case c.Target < 0 || c.Target >= c.Fields || (c.Target >= c.SeqStart && c.Target < c.SeqStart+c.SeqLen):
			return bad("the target slot %d must be a slot outside the sequence [%d, %d)", c.Target, c.SeqStart, c.SeqStart+c.SeqLen)
		case c.AttentionUnits <= 0:
			return bad("attention units must be positive, got %d", c.AttentionUnits)
		}
	}
	if c.Name == ModelDLRM {
		if c.NumDense == 0 {
			return bad("dlrm needs dense features (NumDense > 0)")
		}
		if len(c.BottomMLP) == 0 || c.BottomMLP[len(c.BottomMLP)-1] != c.Dim {
			return bad("the last bottom MLP width must equal Dim=%d, got %v", c.Dim, c.BottomMLP)
		}
	}
	return nil
}

// adam returns the Adam hyperparameters of c.
func (c Config) adam() optim.AdamConfig {
	return optim.AdamConfig{LR: c.LR, Beta1: c.Beta1, Beta2: c.Beta2, Eps: c.Eps}
}
