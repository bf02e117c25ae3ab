package trainer

// GoMLXNet: the DenseNet implementation that runs the dense models of
// gomlx_models.go as GoMLX graphs on the pure-Go simplego backend, with
// Adam applied inside the training graph.

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"

	"github.com/embtab/embtab/densenet"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// maxCachedBatchSizes bounds the per-batch-size input buffers a GoMLXNet
// keeps; the compiled graphs are bounded by GoMLX's own Exec cache (32 input
// shapes per Exec, graph.DefaultExecMaxCacheSize).
const maxCachedBatchSizes = 16

// simpleGoConfig configures the simplego backend. "ops_sequential" runs the
// ops of a graph one after another (each large op still splits its work over
// the worker pool). simplego v0.26.0's default runs independent ops as
// worker-pool tasks, and its small-matrix DotGeneral then waits for pool
// slots from inside a task without releasing its own: with a few
// independent DotGenerals in flight (every backward pass has them) all
// slots (2×NumCPU) are taken by waiting tasks and the execution deadlocks.
var simpleGoConfig = "ops_sequential"

// simpleGoBackend is the process-wide simplego backend: tensors are bound to
// one backend instance, and one worker pool per process is enough. Limit its
// threads with GOMAXPROCS.
var simpleGoBackend = sync.OnceValues(func() (backends.Backend, error) {
	return simplego.New(simpleGoConfig)
})

// GoMLXNet is a DenseNet whose forward pass, hand-written backward pass and
// Adam update run as one GoMLX graph per batch size on the pure-Go simplego
// backend. Parameters and Adam moments stay in GoMLX buffers between steps:
// a training step copies in the batch (dense, emb, labels and two Adam
// scalars) and copies out the loss and dL/d(emb).
//
// Graphs are compiled on the first use of each batch size (for training and
// for prediction separately) and cached; on simplego compiling is cheap
// (tens of milliseconds for dlrm-small). Up to 32 batch sizes are cached per
// graph; beyond that the calls fail with ErrGraph.
//
// A GoMLXNet is safe for concurrent use; calls are serialised.
type GoMLXNet struct {
	mu sync.Mutex

	cfg   ModelConfig
	model denseModel
	specs []densenet.ParamSpec

	backend backends.Backend
	// params, adamM and adamV hold one variable per paramSpec.
	params, adamM, adamV []*context.Variable
	// step is the number of Adam steps taken (torch's state["step"]).
	step int64

	train, predict *context.Exec
	// inputs holds reusable shared-buffer input tensors per batch size.
	inputs map[int]*batchInputs
	// hyper is the [2] input holding Adam's step size lr/(1-β1^t) and
	// sqrt(1-β2^t) for the current step.
	hyper *tensors.Tensor
	// graphsBuilt counts graph constructions (tests check the cache).
	graphsBuilt int
}

// batchInputs are the graph inputs for one batch size, shared with the
// backend so filling them is a single copy.
type batchInputs struct {
	dense, emb, labels *tensors.Tensor
}

// Compile-time check.
var _ DenseNet = (*GoMLXNet)(nil)

// NewDenseNet builds the dense model described by cfg (defaults filled in by
// ModelConfig.WithDefaults) with freshly initialised parameters: every weight
// and bias is drawn from U(-1/sqrt(fan_in), 1/sqrt(fan_in)) like PyTorch's
// nn.Linear, from a PCG generator seeded with cfg.Seed, in parameter order.
// Adam moments start at zero.
func NewDenseNet(cfg ModelConfig) (net *GoMLXNet, err error) {
	defer recoverGraphPanic("NewDenseNet", &err)
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	backend, err := simpleGoBackend()
	if err != nil {
		return nil, fmt.Errorf("%w: creating the simplego backend: %w", ErrGraph, err)
	}
	model, specs, err := buildModel(cfg)
	if err != nil {
		return nil, err
	}
	n := &GoMLXNet{
		cfg:     cfg,
		model:   model,
		specs:   specs,
		backend: backend,
		inputs:  make(map[int]*batchInputs),
	}
	ctx := context.New()
	for i, data := range densenet.InitParams(specs, cfg.Seed) {
		s := specs[i]
		name := strings.ReplaceAll(s.Name, "/", ".")
		n.params = append(n.params, ctx.In("param").VariableWithValue(name,
			tensors.FromFlatDataAndDimensions(data, s.Dims...)))
		n.adamM = append(n.adamM, ctx.In("adam_m").VariableWithValue(name,
			tensors.FromFlatDataAndDimensions(make([]float32, s.Size()), s.Dims...)))
		n.adamV = append(n.adamV, ctx.In("adam_v").VariableWithValue(name,
			tensors.FromFlatDataAndDimensions(make([]float32, s.Size()), s.Dims...)))
	}
	if n.train, err = context.NewExec(backend, ctx.Reuse(), n.trainGraph); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrGraph, err)
	}
	if n.predict, err = context.NewExec(backend, ctx.Reuse(), n.predictGraph); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrGraph, err)
	}
	if n.hyper, err = newSharedTensor(backend, 2); err != nil {
		return nil, err
	}
	return n, nil
}

// Config returns the resolved configuration of the net.
func (n *GoMLXNet) Config() ModelConfig {
	c := n.cfg
	// slices.Clone keeps nil (default) and empty (no layers) apart.
	c.BottomMLP, c.TopMLP, c.DeepMLP = slices.Clone(c.BottomMLP), slices.Clone(c.TopMLP), slices.Clone(c.DeepMLP)
	return c
}

// Step returns the number of training steps (Adam updates) taken.
func (n *GoMLXNet) Step() int64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.step
}

// ForwardBackward implements DenseNet. dense, emb and labels must hold at
// least batch*NumDense, batch*Fields*Dim and batch values (only that prefix
// is read), and dEmb room for batch*Fields*Dim values. The gradient written
// to dEmb is that of the mean loss over the batch.
//
// If it returns an ErrGraph error the net's parameters may be lost; the
// other errors leave it unchanged.
func (n *GoMLXNet) ForwardBackward(dense, emb, labels []float32, batch int, dEmb []float32) (loss float32, err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	defer recoverGraphPanic("ForwardBackward", &err)
	if err := n.checkBatch(dense, emb, batch); err != nil {
		return 0, err
	}
	embLen := batch * n.cfg.Fields * n.cfg.Dim
	if len(labels) < batch || len(dEmb) < embLen {
		return 0, fmt.Errorf("%w: batch %d needs %d labels and room for %d gradients, got %d and %d",
			densenet.ErrBatchShape, batch, batch, embLen, len(labels), len(dEmb))
	}
	in, err := n.batchInputs(batch)
	if err != nil {
		return 0, err
	}
	if err := fill(in.emb, emb[:embLen]); err != nil {
		return 0, err
	}
	if err := fill(in.labels, labels[:batch]); err != nil {
		return 0, err
	}
	// torch.optim.Adam: step t counts from 1; the bias corrections are
	// computed in float64 on the host.
	t := float64(n.step + 1)
	c := n.cfg
	hyper := []float32{
		float32(c.LR / (1 - math.Pow(c.Beta1, t))),
		float32(math.Sqrt(1 - math.Pow(c.Beta2, t))),
	}
	if err := fill(n.hyper, hyper); err != nil {
		return 0, err
	}
	args := []any{in.emb, in.labels, n.hyper}
	if c.NumDense > 0 {
		if err := fill(in.dense, dense[:batch*c.NumDense]); err != nil {
			return 0, err
		}
		args = append(args, in.dense)
	}
	outs, err := n.train.Exec(args...)
	if err != nil {
		return 0, fmt.Errorf("%w: ForwardBackward: %w", ErrGraph, err)
	}
	defer finalizeAll(outs)
	n.step++
	if err := tensors.ConstFlatData(outs[0], func(f []float32) { loss = f[0] }); err != nil {
		return 0, fmt.Errorf("%w: reading the loss: %w", ErrGraph, err)
	}
	if err := tensors.ConstFlatData(outs[1], func(f []float32) { copy(dEmb[:embLen], f) }); err != nil {
		return 0, fmt.Errorf("%w: reading dL/d(emb): %w", ErrGraph, err)
	}
	return loss, nil
}

// Predict implements DenseNet: it writes batch click probabilities into
// out[:batch]. Input lengths follow ForwardBackward.
func (n *GoMLXNet) Predict(dense, emb []float32, batch int, out []float32) (err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	defer recoverGraphPanic("Predict", &err)
	if err := n.checkBatch(dense, emb, batch); err != nil {
		return err
	}
	if len(out) < batch {
		return fmt.Errorf("%w: out has room for %d probabilities, batch is %d", densenet.ErrBatchShape, len(out), batch)
	}
	in, err := n.batchInputs(batch)
	if err != nil {
		return err
	}
	c := n.cfg
	if err := fill(in.emb, emb[:batch*c.Fields*c.Dim]); err != nil {
		return err
	}
	args := []any{in.emb}
	if c.NumDense > 0 {
		if err := fill(in.dense, dense[:batch*c.NumDense]); err != nil {
			return err
		}
		args = append(args, in.dense)
	}
	outs, err := n.predict.Exec(args...)
	if err != nil {
		return fmt.Errorf("%w: Predict: %w", ErrGraph, err)
	}
	defer finalizeAll(outs)
	if err := tensors.ConstFlatData(outs[0], func(f []float32) { copy(out[:batch], f) }); err != nil {
		return fmt.Errorf("%w: reading predictions: %w", ErrGraph, err)
	}
	return nil
}

func (n *GoMLXNet) checkBatch(dense, emb []float32, batch int) error {
	c := n.cfg
	if batch <= 0 {
		return fmt.Errorf("%w: batch size %d", densenet.ErrBatchShape, batch)
	}
	if len(dense) < batch*c.NumDense || len(emb) < batch*c.Fields*c.Dim {
		return fmt.Errorf("%w: batch %d needs %d dense and %d emb values (NumDense=%d, Fields=%d, Dim=%d), got %d and %d",
			densenet.ErrBatchShape, batch, batch*c.NumDense, batch*c.Fields*c.Dim, c.NumDense, c.Fields, c.Dim,
			len(dense), len(emb))
	}
	return nil
}

// batchInputs returns the reusable input tensors for a batch size.
func (n *GoMLXNet) batchInputs(batch int) (*batchInputs, error) {
	if in, ok := n.inputs[batch]; ok {
		return in, nil
	}
	if len(n.inputs) >= maxCachedBatchSizes {
		for b, in := range n.inputs {
			finalizeAll([]*tensors.Tensor{in.dense, in.emb, in.labels})
			delete(n.inputs, b)
		}
	}
	c := n.cfg
	in := &batchInputs{}
	var err error
	if in.emb, err = newSharedTensor(n.backend, batch, c.Fields*c.Dim); err != nil {
		return nil, err
	}
	if in.labels, err = newSharedTensor(n.backend, batch); err != nil {
		return nil, err
	}
	if c.NumDense > 0 {
		if in.dense, err = newSharedTensor(n.backend, batch, c.NumDense); err != nil {
			return nil, err
		}
	}
	n.inputs[batch] = in
	return in, nil
}

// paramNodes returns the graph nodes of the parameter variables.
func (n *GoMLXNet) paramNodes(g *graph.Graph) []*graph.Node {
	p := make([]*graph.Node, len(n.params))
	for i, v := range n.params {
		p[i] = v.ValueGraph(g)
	}
	return p
}

// trainGraph builds one training step. Inputs: emb [B, F*D], labels [B],
// hyper [2] and, when NumDense > 0, dense [B, NumDense]. Outputs: the mean
// loss and dL/d(emb) [B, F*D]; the parameters and Adam moments are updated
// as variables.
func (n *GoMLXNet) trainGraph(_ *context.Context, in []*graph.Node) []*graph.Node {
	n.graphsBuilt++
	emb, labels, hyper := in[0], in[1], in[2]
	var dense *graph.Node
	if len(in) > 3 {
		dense = in[3]
	}
	g := emb.Graph()
	p := n.paramNodes(g)
	logit, back := n.model.forward(p, dense, emb)
	loss, dLogit := bceWithLogits(logit, labels)
	dEmb, grads := back(dLogit)
	n.adamUpdate(g, p, grads, hyper)
	return []*graph.Node{loss, dEmb}
}

// predictGraph builds inference: inputs emb [B, F*D] and, when
// NumDense > 0, dense [B, NumDense]; output the probabilities [B].
func (n *GoMLXNet) predictGraph(_ *context.Context, in []*graph.Node) []*graph.Node {
	n.graphsBuilt++
	emb := in[0]
	var dense *graph.Node
	if len(in) > 1 {
		dense = in[1]
	}
	logit, _ := n.model.forward(n.paramNodes(emb.Graph()), dense, emb)
	return []*graph.Node{graph.Logistic(logit)}
}

// adamUpdate adds torch.optim.Adam's update (no weight decay, no amsgrad)
// to the graph:
//
//	m = β1·m + (1-β1)·g
//	v = β2·v + (1-β2)·g²
//	p = p - stepSize · m / (sqrt(v)/sqrt(1-β2^t) + eps),  stepSize = lr/(1-β1^t)
//
// with stepSize and sqrt(1-β2^t) read from hyper.
func (n *GoMLXNet) adamUpdate(g *graph.Graph, p, grads []*graph.Node, hyper *graph.Node) {
	c := n.cfg
	stepSize := graph.Reshape(graph.SliceAxis(hyper, 0, graph.AxisRange(0, 1)))
	bc2Sqrt := graph.Reshape(graph.SliceAxis(hyper, 0, graph.AxisRange(1, 2)))
	for i, grad := range grads {
		if grad == nil {
			panic(fmt.Sprintf("internal error: no gradient for dense parameter %q", n.specs[i].Name))
		}
		m := n.adamM[i].ValueGraph(g)
		v := n.adamV[i].ValueGraph(g)
		m = graph.Add(graph.MulScalar(m, c.Beta1), graph.MulScalar(grad, 1-c.Beta1))
		v = graph.Add(graph.MulScalar(v, c.Beta2), graph.MulScalar(graph.Mul(grad, grad), 1-c.Beta2))
		denom := graph.AddScalar(graph.Div(graph.Sqrt(v), bc2Sqrt), c.Eps)
		n.params[i].SetValueGraph(graph.Sub(p[i], graph.Mul(stepSize, graph.Div(m, denom))))
		n.adamM[i].SetValueGraph(m)
		n.adamV[i].SetValueGraph(v)
	}
}

// newSharedTensor returns a zero float32 tensor whose storage is shared with
// the backend, so it can be refilled in place and passed to every execution.
func newSharedTensor(backend backends.Backend, dims ...int) (*tensors.Tensor, error) {
	t := tensors.FromShape(shapes.Make(float32Dtype, dims...))
	if err := t.MaterializeOnDevice(backend, true, 0); err != nil {
		return nil, fmt.Errorf("%w: allocating an input buffer: %w", ErrGraph, err)
	}
	return t, nil
}

// fill copies src into the tensor t of the same size.
func fill(t *tensors.Tensor, src []float32) error {
	if err := tensors.MutableFlatData(t, func(dst []float32) { copy(dst, src) }); err != nil {
		return fmt.Errorf("%w: filling an input buffer: %w", ErrGraph, err)
	}
	return nil
}

// finalizeAll releases the buffers of tensors (nil entries are skipped).
func finalizeAll(ts []*tensors.Tensor) {
	for _, t := range ts {
		if t != nil {
			_ = t.FinalizeAll()
		}
	}
}

// recoverGraphPanic turns a panic (GoMLX reports graph-building and some
// execution errors by panicking) into an ErrGraph error in *err. Use it as
// `defer recoverGraphPanic("Op", &err)` in functions with a named error
// result.
func recoverGraphPanic(op string, err *error) {
	if r := recover(); r != nil {
		if e, ok := r.(error); ok {
			*err = fmt.Errorf("%w: %s: %w", ErrGraph, op, e)
			return
		}
		*err = fmt.Errorf("%w: %s: %v", ErrGraph, op, r)
	}
}
