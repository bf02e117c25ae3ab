package trainer

// NativeNet: the DenseNet implementation that runs the dense models in
// plain Go plus the kernels of package kernels/gemm (packed GEMMs with
// fused bias/ReLU epilogues, the fused pairwise-dot interaction), with the
// same math, initialisation, Adam and DenseState format as GoMLXNet.

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"

	"github.com/embtab/embtab/kernels/gemm"
)

// ErrNotImplemented is returned (wrapped) by NewNativeNet for a valid model
// that has no native implementation yet: use NewDenseNet (GoMLX) for it.
var ErrNotImplemented = errors.New("trainer: dense model not implemented natively")

// NativeNet is a DenseNet that computes the models of gomlx_models.go
// directly on float32 slices: the fully connected layers are GEMMs of
// package kernels/gemm with the bias, the ReLU, the ReLU gradient and the
// bias gradient fused into their epilogues, the DLRM interaction is one
// kernel forward and one backward, and Adam runs in Go. The math, the
// parameter order, the initialisation (the same PCG stream as
// NewDenseNet) and Adam (torch.optim.Adam, bias corrections in float64)
// are those of GoMLXNet, so both nets built from one config start from
// identical weights and train alike up to float32 rounding; State, SetState,
// Save and Load use the same DenseState format, so checkpoints move between
// them.
//
// The GEMMs and the interaction use runtime.GOMAXPROCS(0) threads (as of
// NewNativeNet). Buffers are sized for the largest batch seen and reused,
// so steady-state steps do not allocate.
//
// A NativeNet is safe for concurrent use; calls are serialised.
type NativeNet struct {
	mu sync.Mutex

	cfg   ModelConfig
	specs []paramSpec
	model nativeModel
	ctx   *gemm.Context
	// params, grads, adamM and adamV hold one tensor per paramSpec.
	params, grads, adamM, adamV [][]float32
	// step is the number of Adam steps taken (torch's state["step"]).
	step int64

	// pool runs the Adam update over the cores; adamFn is n.adamRange
	// (stored once: method values allocate), adamHyper the current step's
	// constants and offsets the start of each parameter in the
	// concatenation of all of them.
	pool      *nativePool
	threads   *nativeThreads // n.ctx and n.pool, for the cleanup
	adamFn    func(lo, hi int)
	adamHyper adamHyper
	offsets   []int

	capBatch      int       // rows the buffers hold
	logit, dLogit []float32 // [capBatch]
	// err is the first kernel error of the current call (see gemm).
	err error
}

// nativeModel is one model's forward and backward pass on a NativeNet.
type nativeModel interface {
	// reserve sizes the model's buffers for batch rows.
	reserve(batch int)
	// forward writes the logits of the batch into n.logit.
	forward(n *NativeNet, dense, emb []float32, batch int)
	// backward back-propagates n.dLogit: it writes every parameter's
	// gradient into n.grads and dL/d(emb) into dEmb.
	backward(n *NativeNet, dense, emb []float32, batch int, dEmb []float32)
}

// Compile-time check.
var _ DenseNet = (*NativeNet)(nil)

// NewNativeNet builds the dense model described by cfg (defaults filled in
// by ModelConfig.WithDefaults) with the initial parameters NewDenseNet
// would draw. Errors wrap ErrUnknownModel or ErrInvalidConfig like
// NewDenseNet's, or ErrNotImplemented for a model without a native
// implementation.
func NewNativeNet(cfg ModelConfig) (*NativeNet, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	gm, specs := buildModel(cfg)
	n := &NativeNet{cfg: cfg, specs: specs}
	layer := func(l fcLayer) nativeFC {
		d := specs[l.w].dims
		return nativeFC{w: l.w, b: l.b, in: d[0], out: d[1], relu: l.relu}
	}
	layers := func(m mlp) []nativeFC {
		var out []nativeFC
		for _, l := range m {
			out = append(out, layer(l))
		}
		return out
	}
	switch m := gm.(type) {
	case *dlrmModel:
		n.model = newNativeDLRM(cfg, layers(m.bottom), layers(m.top))
	case *lrModel:
		n.model = &nativeLR{cfg: cfg, lin: layer(m.lin)}
	case *fmModel:
		f := &nativeFM{cfg: cfg, lin: layer(m.lin), deep: nativeMLP{layers: layers(m.deep)}}
		if cfg.NumDense > 0 {
			f.proj = layer(m.proj)
		}
		n.model = f
	case *dcnModel:
		d := &nativeDCN{cfg: cfg, deep: nativeMLP{layers: layers(m.deep)}, out: layer(m.out)}
		for _, l := range m.cross {
			d.cross = append(d.cross, layer(l))
		}
		n.model = d
	default:
		return nil, fmt.Errorf("%w: %q", ErrNotImplemented, cfg.Name)
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x9e3779b97f4a7c15))
	for _, s := range specs {
		p := make([]float32, s.size())
		for j := range p {
			p[j] = float32((2*rng.Float64() - 1) * s.bound)
		}
		n.params = append(n.params, p)
		n.grads = append(n.grads, make([]float32, s.size()))
		n.adamM = append(n.adamM, make([]float32, s.size()))
		n.adamV = append(n.adamV, make([]float32, s.size()))
	}
	n.offsets = append(n.offsets, 0)
	for _, s := range specs {
		n.offsets = append(n.offsets, n.offsets[len(n.offsets)-1]+s.size())
	}
	n.adamFn = n.adamRange
	n.threads = &nativeThreads{}
	n.setThreads(runtime.GOMAXPROCS(0))
	// The goroutines do not reference n: stop them when n is unreachable.
	runtime.AddCleanup(n, (*nativeThreads).close, n.threads)
	return n, nil
}

// Config returns the resolved configuration of the net.
func (n *NativeNet) Config() ModelConfig {
	c := n.cfg
	c.BottomMLP, c.TopMLP, c.DeepMLP = slices.Clone(c.BottomMLP), slices.Clone(c.TopMLP), slices.Clone(c.DeepMLP)
	return c
}

// Step returns the number of training steps (Adam updates) taken.
func (n *NativeNet) Step() int64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.step
}

// ForwardBackward implements DenseNet, with the argument rules of
// GoMLXNet.ForwardBackward. On error the parameters are unchanged.
func (n *NativeNet) ForwardBackward(dense, emb, labels []float32, batch int, dEmb []float32) (float32, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	loss, err := n.gradient(dense, emb, labels, batch, dEmb)
	if err != nil {
		return 0, err
	}
	n.adam()
	n.step++
	return loss, nil
}

// Gradient is ForwardBackward without the parameter update: it returns
// the batch's mean loss and writes dL/d(emb) into dEmb, leaving the net
// as it was (DNIS's validation steps train other weights on it).
func (n *NativeNet) Gradient(dense, emb, labels []float32, batch int, dEmb []float32) (float32, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.gradient(dense, emb, labels, batch, dEmb)
}

// gradient runs the forward and backward passes: the loss, every
// parameter's gradient in n.grads and dL/d(emb) in dEmb. Callers hold mu.
func (n *NativeNet) gradient(dense, emb, labels []float32, batch int, dEmb []float32) (float32, error) {
	if err := n.checkBatch(dense, emb, batch); err != nil {
		return 0, err
	}
	embLen := batch * n.cfg.Fields * n.cfg.Dim
	if len(labels) < batch || len(dEmb) < embLen {
		return 0, fmt.Errorf("%w: batch %d needs %d labels and room for %d gradients, got %d and %d",
			ErrBatchShape, batch, batch, embLen, len(labels), len(dEmb))
	}
	n.reserve(batch)
	n.err = nil
	n.model.forward(n, dense, emb, batch)
	loss := bceLoss(n.logit[:batch], labels[:batch], n.dLogit[:batch])
	n.model.backward(n, dense, emb, batch, dEmb[:embLen])
	if n.err != nil {
		return 0, n.err
	}
	return loss, nil
}

// Predict implements DenseNet: it writes batch click probabilities into
// out[:batch].
func (n *NativeNet) Predict(dense, emb []float32, batch int, out []float32) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.checkBatch(dense, emb, batch); err != nil {
		return err
	}
	if len(out) < batch {
		return fmt.Errorf("%w: out has room for %d probabilities, batch is %d", ErrBatchShape, len(out), batch)
	}
	n.reserve(batch)
	n.err = nil
	n.model.forward(n, dense, emb, batch)
	if n.err != nil {
		return n.err
	}
	for i, z := range n.logit[:batch] {
		out[i] = float32(1 / (1 + math.Exp(-float64(z))))
	}
	return nil
}

// SetThreads sets the number of goroutines the kernels use (at least 1;
// the default is runtime.GOMAXPROCS(0) at NewNativeNet). Results depend
// on it only through the order of the bias gradients' sums.
func (n *NativeNet) SetThreads(threads int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.threads.close()
	n.setThreads(threads)
}

func (n *NativeNet) setThreads(threads int) {
	n.ctx = gemm.NewContext(threads)
	n.pool = newNativePool(threads)
	*n.threads = nativeThreads{n.ctx, n.pool}
}

// nativeThreads are the goroutines of a NativeNet (n.ctx and n.pool).
type nativeThreads struct {
	ctx  *gemm.Context
	pool *nativePool
}

func (t *nativeThreads) close() {
	t.ctx.Close()
	t.pool.close()
}

// Close stops the worker goroutines of the net's kernels. The net must
// not be used afterwards. Calling it is optional: an unreachable net's
// workers stop on their own.
func (n *NativeNet) Close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.threads.close()
}

func (n *NativeNet) checkBatch(dense, emb []float32, batch int) error {
	c := n.cfg
	if batch <= 0 {
		return fmt.Errorf("%w: batch size %d", ErrBatchShape, batch)
	}
	if len(dense) < batch*c.NumDense || len(emb) < batch*c.Fields*c.Dim {
		return fmt.Errorf("%w: batch %d needs %d dense and %d emb values (NumDense=%d, Fields=%d, Dim=%d), got %d and %d",
			ErrBatchShape, batch, batch*c.NumDense, batch*c.Fields*c.Dim, c.NumDense, c.Fields, c.Dim,
			len(dense), len(emb))
	}
	return nil
}

// reserve sizes the buffers for batch rows.
func (n *NativeNet) reserve(batch int) {
	if batch <= n.capBatch {
		return
	}
	n.capBatch = batch
	n.logit = make([]float32, batch)
	n.dLogit = make([]float32, batch)
	n.model.reserve(batch)
}

// bceLoss returns the mean sigmoid binary cross-entropy of the logits z
// against the labels y, max(z,0) - z·y + log1p(exp(-|z|)) summed in
// float64, and writes its gradient dL/dz = (sigmoid(z) - y)/B into dz.
func bceLoss(z, y, dz []float32) float32 {
	var sum float64
	inv := 1 / float32(len(z))
	for i, zi := range z {
		z64, y64 := float64(zi), float64(y[i])
		sum += max(z64, 0) - z64*y64 + math.Log1p(math.Exp(-math.Abs(z64)))
		dz[i] = (float32(1/(1+math.Exp(-z64))) - y[i]) * inv
	}
	return float32(sum / float64(len(z)))
}

// adamHyper are the constants of one Adam step, in float32 like the
// GoMLX graph's.
type adamHyper struct {
	stepSize, bc2Sqrt, b1, b2, c1, c2, eps float32
}

// adam applies one torch.optim.Adam step (see GoMLXNet.adamUpdate) to every
// parameter, with the same float32 operations in the same order.
func (n *NativeNet) adam() {
	c := n.cfg
	t := float64(n.step + 1)
	n.adamHyper = adamHyper{
		stepSize: float32(c.LR / (1 - math.Pow(c.Beta1, t))),
		bc2Sqrt:  float32(math.Sqrt(1 - math.Pow(c.Beta2, t))),
		b1:       float32(c.Beta1), b2: float32(c.Beta2),
		c1: float32(1 - c.Beta1), c2: float32(1 - c.Beta2),
		eps: float32(c.Eps),
	}
	n.pool.run(n.offsets[len(n.offsets)-1], 1<<14, n.adamFn)
}

// adamRange updates the parameter values [lo, hi) of the concatenation of
// all parameters.
func (n *NativeNet) adamRange(lo, hi int) {
	h := n.adamHyper
	for i, p := range n.params {
		start, end := max(lo, n.offsets[i]), min(hi, n.offsets[i+1])
		if start >= end {
			continue
		}
		a, b := start-n.offsets[i], end-n.offsets[i]
		p := p[a:b]
		g, m, v := n.grads[i][a:b], n.adamM[i][a:b], n.adamV[i][a:b]
		for j, gj := range g[:len(p)] {
			mj := m[j]*h.b1 + gj*h.c1
			vj := v[j]*h.b2 + (gj*gj)*h.c2
			m[j], v[j] = mj, vj
			denom := float32(math.Sqrt(float64(vj)))/h.bc2Sqrt + h.eps
			p[j] -= h.stepSize * (mj / denom)
		}
	}
}

// gemm runs ctx.Sgemm unless an earlier kernel of this call failed, and
// records its error in n.err (the arguments come from the model's shapes,
// so an error is a bug, reported rather than panicking).
func (n *NativeNet) gemm(tA, tB gemm.Transpose, m, nn, k int, a []float32, lda int, b []float32, ldb int,
	beta float32, c []float32, ldc int, ep *gemm.Epilogue) {
	if n.err != nil {
		return
	}
	if err := n.ctx.Sgemm(tA, tB, m, nn, k, 1, a, lda, b, ldb, beta, c, ldc, ep); err != nil {
		n.err = fmt.Errorf("trainer: native %s: %w", n.cfg.Name, err)
	}
}

// State returns a deep copy of the net's training state, in the format of
// GoMLXNet.State.
func (n *NativeNet) State() (DenseState, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := DenseState{Config: n.Config(), Step: n.step}
	for _, g := range n.stateGroups() {
		for i, t := range g.tensors {
			s.Tensors = append(s.Tensors, NamedTensor{
				Name: g.prefix + n.specs[i].name,
				Dims: slices.Clone(n.specs[i].dims),
				Data: slices.Clone(t),
			})
		}
	}
	return s, nil
}

// SetState replaces the net's parameters, Adam moments and step with those
// of s (copied), with the rules of GoMLXNet.SetState: tensors must match by
// name, order and shape (errors wrap ErrStateMismatch), s.Config is not
// consulted, and nothing changes on error.
func (n *NativeNet) SetState(s DenseState) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	groups := n.stateGroups()
	prefixes := make([]string, len(groups))
	for i, g := range groups {
		prefixes[i] = g.prefix
	}
	if err := checkState(s, n.specs, prefixes); err != nil {
		return err
	}
	k := 0
	for _, g := range groups {
		for _, t := range g.tensors {
			copy(t, s.Tensors[k].Data)
			k++
		}
	}
	n.step = s.Step
	return nil
}

type nativeStateGroup struct {
	prefix  string
	tensors [][]float32
}

// stateGroups lists the tensors in DenseState order.
func (n *NativeNet) stateGroups() []nativeStateGroup {
	return []nativeStateGroup{{"", n.params}, {"adam_m/", n.adamM}, {"adam_v/", n.adamV}}
}

// Save writes the net's state (see the encoding at the top of
// dense_state.go) to w.
func (n *NativeNet) Save(w io.Writer) error {
	s, err := n.State()
	if err != nil {
		return err
	}
	return writeDenseState(w, s)
}

// LoadNativeNet builds a NativeNet from the config stored in a state
// written by Save (of a NativeNet or a GoMLXNet) and restores that state
// into it.
func LoadNativeNet(r io.Reader) (*NativeNet, error) {
	s, err := readDenseState(r)
	if err != nil {
		return nil, err
	}
	n, err := NewNativeNet(s.Config)
	if err != nil {
		return nil, err
	}
	if err := n.SetState(s); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

// Load reads a state written by Save (of a NativeNet or a GoMLXNet) and
// restores it with SetState.
func (n *NativeNet) Load(r io.Reader) error {
	s, err := readDenseState(r)
	if err != nil {
		return err
	}
	return n.SetState(s)
}
