package densenet

import (
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"sync"

	"github.com/embtab/embtab/densenet/optim"
	"github.com/embtab/embtab/kernels/gemm"
)

// Net is a dense net: the model of a Config on float32 slices. The fully
// connected layers are GEMMs of package kernels/gemm with the bias, the
// ReLU, the ReLU gradient and the bias gradient fused into their
// epilogues, the DLRM interaction is one kernel forward and one backward,
// and the parameters train with optim.Adam. The initialisation
// (InitParams), the math and the State format are those of the GoMLX
// reference graph in package trainer, so both train alike up to float32
// rounding and checkpoints move between them.
//
// Training (ForwardBackward, Gradient) runs on one worker whose buffers
// are sized for the largest batch seen and reused, so steady-state steps
// do not allocate. Each Predict takes a worker of its own from a pool, so
// concurrent Predict calls run in parallel and do not block each other;
// calls that change the net (training, SetState, Load, SetThreads) wait
// for them and exclude each other.
type Net struct {
	// mu is held for writing by the calls that change the parameters or
	// the threads, and for reading by Predict.
	mu sync.RWMutex

	cfg    Config
	layout Layout
	model  model
	// params and grads hold one tensor per Layout parameter; opt holds
	// the Adam moments and step.
	params, grads [][]float32
	opt           *optim.Adam

	threads int
	// train is the training worker; pool runs the Adam update over the
	// cores. Both are recreated by SetThreads.
	train *worker
	pool  *pool
	// goroutines holds pool for the cleanup that stops it once the net
	// is unreachable (the pool's goroutines do not reference the net).
	goroutines *goroutines
	// workers are idle Predict workers; one whose thread count is not
	// threads is dropped.
	workers sync.Pool
}

// model is one model's forward and backward pass.
type model interface {
	// newScratch returns empty buffers for one worker.
	newScratch() scratch
	// forward writes the logits of the batch into w.logit.
	forward(w *worker, dense, emb []float32, batch int)
	// backward back-propagates w.dLogit: it writes every parameter's
	// gradient into w.grads and dL/d(emb) into dEmb.
	backward(w *worker, dense, emb []float32, batch int, dEmb []float32)
}

// scratch is a model's buffers for one worker.
type scratch interface {
	// reserve sizes the buffers for batch rows.
	reserve(batch int)
}

// worker is what one pass needs besides the parameters: a gemm context
// (not safe for concurrent use), the model's buffers and the logits.
type worker struct {
	exec
	threads       int
	s             scratch
	capBatch      int       // rows the buffers hold
	logit, dLogit []float32 // [capBatch]
}

func (n *Net) newWorker(threads int, grads [][]float32) *worker {
	w := &worker{threads: threads, s: n.model.newScratch()}
	w.ctx, w.params, w.grads = gemm.NewContext(threads), n.params, grads
	// The context's goroutines do not reference w: stop them when w is
	// unreachable (a pooled worker may be dropped at any GC).
	runtime.AddCleanup(w, (*gemm.Context).Close, w.ctx)
	return w
}

// reserve sizes the buffers for batch rows and clears the error.
func (w *worker) reserve(batch int) {
	w.err = nil
	if batch <= w.capBatch {
		return
	}
	w.capBatch = batch
	w.logit = make([]float32, batch)
	w.dLogit = make([]float32, batch)
	w.s.reserve(batch)
}

// New builds the dense model described by cfg (defaults filled in by
// Config.WithDefaults) with its initial parameters (InitParams with
// cfg.Seed) and zero Adam moments. Errors wrap ErrUnknownModel or
// ErrInvalidConfig.
func New(cfg Config) (*Net, error) {
	cfg = cfg.WithDefaults()
	l, err := NewLayout(cfg)
	if err != nil {
		return nil, err
	}
	n := &Net{cfg: cfg, layout: l, params: InitParams(l.Params, cfg.Seed)}
	switch cfg.Name {
	case ModelDLRM:
		n.model = newDLRM(cfg, l)
	case ModelLR:
		n.model = &lr{cfg: cfg, lin: l.Linear}
	case ModelFM, ModelDeepFM:
		n.model = &fm{cfg: cfg, lin: l.Linear, proj: l.Proj, deep: l.Deep}
	case ModelDCNv2:
		n.model = &dcn{cfg: cfg, cross: l.Cross, deep: l.Deep, out: l.Out}
	case ModelAutoInt, ModelAutoIntPlus:
		n.model = newAutoInt(cfg, l)
	case ModelDIN:
		n.model = newDIN(cfg, l)
	}
	for _, s := range l.Params {
		n.grads = append(n.grads, make([]float32, s.Size()))
	}
	n.opt, err = optim.NewAdam(cfg.adam(), n.params, n.grads)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	n.goroutines = &goroutines{}
	n.setThreads(runtime.GOMAXPROCS(0))
	runtime.AddCleanup(n, (*goroutines).close, n.goroutines)
	return n, nil
}

// Config returns the resolved configuration of the net.
func (n *Net) Config() Config {
	c := n.cfg
	// slices.Clone keeps nil (default) and empty (no layers) apart.
	c.BottomMLP, c.TopMLP, c.DeepMLP = slices.Clone(c.BottomMLP), slices.Clone(c.TopMLP), slices.Clone(c.DeepMLP)
	return c
}

// Layout returns the net's parameter layout.
func (n *Net) Layout() Layout { return n.layout }

// Step returns the number of training steps (Adam updates) taken.
func (n *Net) Step() int64 {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.opt.Steps()
}

// ForwardBackward runs one training step on a batch: it computes the mean
// binary cross-entropy loss, updates the parameters with Adam, and writes
// dL/d(emb) into dEmb[:batch*Fields*Dim]. dense, emb and labels must hold
// at least batch*NumDense, batch*Fields*Dim and batch values (only that
// prefix is read). On error the parameters are unchanged.
func (n *Net) ForwardBackward(dense, emb, labels []float32, batch int, dEmb []float32) (float32, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	loss, err := n.gradient(dense, emb, labels, batch, dEmb)
	if err != nil {
		return 0, err
	}
	n.opt.Step(n.pool)
	return loss, nil
}

// Gradient is ForwardBackward without the parameter update: it returns
// the batch's mean loss and writes dL/d(emb) into dEmb, leaving the net
// as it was (DNIS's validation steps train other weights on it).
func (n *Net) Gradient(dense, emb, labels []float32, batch int, dEmb []float32) (float32, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.gradient(dense, emb, labels, batch, dEmb)
}

// gradient runs the forward and backward passes on the training worker:
// the loss, every parameter's gradient in n.grads and dL/d(emb) in dEmb.
// Callers hold mu for writing.
func (n *Net) gradient(dense, emb, labels []float32, batch int, dEmb []float32) (float32, error) {
	if err := n.checkBatch(dense, emb, batch); err != nil {
		return 0, err
	}
	embLen := batch * n.cfg.Fields * n.cfg.Dim
	if len(labels) < batch || len(dEmb) < embLen {
		return 0, fmt.Errorf("%w: batch %d needs %d labels and room for %d gradients, got %d and %d",
			ErrBatchShape, batch, batch, embLen, len(labels), len(dEmb))
	}
	w := n.train
	w.reserve(batch)
	n.model.forward(w, dense, emb, batch)
	loss := bceLoss(w.logit[:batch], labels[:batch], w.dLogit[:batch])
	n.model.backward(w, dense, emb, batch, dEmb[:embLen])
	if w.err != nil {
		return 0, fmt.Errorf("%s: %w", n.cfg.Name, w.err)
	}
	return loss, nil
}

// Predict writes batch click probabilities into out[:batch]; input
// lengths follow ForwardBackward. It is safe to call concurrently.
func (n *Net) Predict(dense, emb []float32, batch int, out []float32) error {
	if err := n.checkBatch(dense, emb, batch); err != nil {
		return err
	}
	if len(out) < batch {
		return fmt.Errorf("%w: out has room for %d probabilities, batch is %d", ErrBatchShape, len(out), batch)
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	w, _ := n.workers.Get().(*worker)
	if w == nil || w.threads != n.threads {
		w = n.newWorker(n.threads, nil)
	}
	defer n.workers.Put(w)
	w.reserve(batch)
	n.model.forward(w, dense, emb, batch)
	if w.err != nil {
		return fmt.Errorf("%s: %w", n.cfg.Name, w.err)
	}
	for i, z := range w.logit[:batch] {
		out[i] = float32(1 / (1 + math.Exp(-float64(z))))
	}
	return nil
}

// SetThreads sets the number of goroutines the kernels of one call use
// (at least 1; the default is runtime.GOMAXPROCS(0) at New). Results
// depend on it only through the order of the bias gradients' sums.
func (n *Net) SetThreads(threads int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.closeThreads()
	n.setThreads(threads)
}

func (n *Net) setThreads(threads int) {
	n.threads = max(threads, 1)
	n.train = n.newWorker(n.threads, n.grads)
	n.pool = newPool(n.threads)
	n.goroutines.pool = n.pool
}

// goroutines are the pool of a Net, for its cleanup.
type goroutines struct{ pool *pool }

func (g *goroutines) close() { g.pool.close() }

func (n *Net) closeThreads() {
	n.train.ctx.Close()
	n.pool.close()
}

// Close stops the worker goroutines of the net's training kernels. The
// net must not be trained afterwards. Calling it is optional: an
// unreachable net's workers stop on their own.
func (n *Net) Close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.closeThreads()
}

func (n *Net) checkBatch(dense, emb []float32, batch int) error {
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

// stateGroups lists the tensors in State order (StatePrefixes).
func (n *Net) stateGroups() [3][][]float32 {
	m, v := n.opt.Moments()
	return [3][][]float32{n.params, m, v}
}

// State returns a deep copy of the net's training state.
func (n *Net) State() (State, error) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	s := State{Config: n.Config(), Step: n.opt.Steps()}
	for g, tensors := range n.stateGroups() {
		for i, t := range tensors {
			spec := n.layout.Params[i]
			s.Tensors = append(s.Tensors, NamedTensor{
				Name: StatePrefixes[g] + spec.Name, Dims: slices.Clone(spec.Dims), Data: slices.Clone(t),
			})
		}
	}
	return s, nil
}

// SetState replaces the net's parameters, Adam moments and step with
// those of s (copied). The tensors must match the net's by name, order
// and shape (errors wrap ErrStateMismatch); s.Config is not consulted, so
// the receiver's hyperparameters stay in force. Nothing changes on error.
func (n *Net) SetState(s State) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := CheckState(s, n.layout.Params); err != nil {
		return err
	}
	k := 0
	for _, tensors := range n.stateGroups() {
		for _, t := range tensors {
			copy(t, s.Tensors[k].Data)
			k++
		}
	}
	n.opt.SetSteps(s.Step)
	return nil
}

// Save writes the net's state to w (WriteState).
func (n *Net) Save(w io.Writer) error {
	s, err := n.State()
	if err != nil {
		return err
	}
	return WriteState(w, s)
}

// Load reads a state written by Save (of a Net or any implementation of
// the same format) and restores it with SetState.
func (n *Net) Load(r io.Reader) error {
	s, err := ReadState(r)
	if err != nil {
		return err
	}
	return n.SetState(s)
}

// Load builds a Net from the config stored in a state written by Save
// (ReadState) and restores that state into it: how a service opens an
// artifact's dense.bin.
func Load(r io.Reader) (*Net, error) {
	s, err := ReadState(r)
	if err != nil {
		return nil, err
	}
	n, err := New(s.Config)
	if err != nil {
		return nil, err
	}
	if err := n.SetState(s); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}
