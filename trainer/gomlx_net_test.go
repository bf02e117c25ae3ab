package trainer

import (
	"errors"
	"github.com/embtab/embtab/densenet"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

var allModels = []string{densenet.ModelLR, densenet.ModelFM, densenet.ModelDeepFM, densenet.ModelDLRM, densenet.ModelDCNv2, densenet.ModelAutoInt, densenet.ModelAutoIntPlus}

// smallConfig is a tiny instance of a model for tests.
func smallConfig(name string, numDense int) ModelConfig {
	return ModelConfig{
		Name: name, NumDense: numDense, Fields: 4, Dim: 3,
		BottomMLP: []int{5, 3}, TopMLP: []int{7, 6}, DeepMLP: []int{7, 6}, CrossLayers: 2,
		AttentionLayers: 2, Heads: 2, HeadDim: 3,
		Seed: 7,
	}
}

// testConfigs covers every model, and every model that allows it without
// dense features.
func testConfigs() map[string]ModelConfig {
	cfgs := map[string]ModelConfig{}
	for _, name := range allModels {
		cfgs[name] = smallConfig(name, 3)
		if name != densenet.ModelDLRM {
			cfgs[name+"/no-dense"] = smallConfig(name, 0)
		}
	}
	// the trainer's default FM weight at these fields (1/fields), not 1
	for _, name := range []string{densenet.ModelFM, densenet.ModelDeepFM} {
		c := smallConfig(name, 3)
		c.FMScale = DefaultFMScale(c.Fields)
		cfgs[name+"/scaled"] = c
	}
	for _, nd := range []int{3, 0} {
		c := ModelConfig{Name: densenet.ModelDIN, NumDense: nd, Fields: 6, Dim: 3, SeqStart: 2, SeqLen: 3, Target: 1,
			AttentionUnits: 4, DeepMLP: []int{7, 6}, Seed: 7}
		cfgs["din/dense"+strconv.Itoa(nd)] = c
	}
	crossOnly := smallConfig(densenet.ModelDCNv2, 3)
	crossOnly.DeepMLP = []int{}
	cfgs["dcnv2/cross-only"] = crossOnly
	return cfgs
}

// randomBatch returns dense features in [0, 3) (like log1p of counts),
// embeddings in [-0.5, 0.5) and 0/1 labels.
func randomBatch(rng *rand.Rand, cfg ModelConfig, batch int) (dense, emb, labels []float32) {
	dense = make([]float32, batch*cfg.NumDense)
	for i := range dense {
		dense[i] = 3 * rng.Float32()
	}
	emb = make([]float32, batch*cfg.Fields*cfg.Dim)
	for i := range emb {
		emb[i] = rng.Float32() - 0.5
	}
	labels = make([]float32, batch)
	for i := range labels {
		labels[i] = float32(rng.IntN(2))
	}
	if cfg.Name == densenet.ModelDIN {
		// Pad the sequence's last slots (zero vectors) in some examples.
		for b := range batch {
			for j := rng.IntN(cfg.SeqLen + 1); j < cfg.SeqLen; j++ {
				clear(emb[(b*cfg.Fields+cfg.SeqStart+j)*cfg.Dim:][:cfg.Dim])
			}
		}
	}
	return dense, emb, labels
}

func mustNet(t testing.TB, cfg ModelConfig) *GoMLXNet {
	t.Helper()
	n, err := NewDenseNet(cfg)
	if err != nil {
		t.Fatalf("NewDenseNet(%+v): %v", cfg, err)
	}
	return n
}

func flat(t *testing.T, x *tensors.Tensor) []float32 {
	t.Helper()
	v, err := tensors.CopyFlatData[float32](x)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// relErr is max|got-want| / max|want|.
func relErr(got, want []float32) float64 {
	var diff, scale float64
	for i := range want {
		diff = max(diff, math.Abs(float64(got[i])-float64(want[i])))
		scale = max(scale, math.Abs(float64(want[i])))
	}
	if scale == 0 {
		return diff
	}
	return diff / scale
}

// TestBackwardMatchesAutodiff checks every hand-written backward pass
// against graph.Gradient of the same forward pass and loss.
func TestBackwardMatchesAutodiff(t *testing.T) {
	const batch, tol = 6, 1e-5
	for name, cfg := range testConfigs() {
		t.Run(name, func(t *testing.T) {
			n := mustNet(t, cfg)
			c := n.Config()
			model := n.model
			if d, ok := model.(*dlrmModel); ok {
				// Same forward math, but differentiable on simplego.
				gd := *d
				gd.inter.viaGather = true
				model = &gd
			}
			exec, err := context.NewExec(n.backend, n.train.Context(),
				func(_ *context.Context, in []*graph.Node) []*graph.Node {
					emb, labels := in[0], in[1]
					var dense *graph.Node
					if len(in) > 2 {
						dense = in[2]
					}
					p := n.paramNodes(emb.Graph())
					logit, back := model.forward(p, dense, emb)
					loss, dLogit := bceWithLogits(logit, labels)
					dEmb, grads := back(dLogit)
					auto := graph.Gradient(loss, append([]*graph.Node{emb}, p...)...)
					return slices.Concat([]*graph.Node{dEmb}, grads, auto)
				})
			if err != nil {
				t.Fatal(err)
			}
			dense, emb, labels := randomBatch(rand.New(rand.NewPCG(1, 2)), c, batch)
			args := []any{
				tensors.FromFlatDataAndDimensions(emb, batch, c.Fields*c.Dim),
				tensors.FromFlatDataAndDimensions(labels, batch),
			}
			if c.NumDense > 0 {
				args = append(args, tensors.FromFlatDataAndDimensions(dense, batch, c.NumDense))
			}
			outs, err := exec.Exec(args...)
			if err != nil {
				t.Fatal(err)
			}
			k := len(n.specs) + 1
			worst := 0.0
			if len(outs) != 2*k {
				t.Fatalf("got %d outputs, want %d", len(outs), 2*k)
			}
			for i := range k {
				what := "dEmb"
				if i > 0 {
					what = n.specs[i-1].Name
				}
				hand, auto := flat(t, outs[i]), flat(t, outs[k+i])
				if !outs[i].Shape().Equal(outs[k+i].Shape()) {
					t.Fatalf("%s: hand-written shape %s, autodiff %s", what, outs[i].Shape(), outs[k+i].Shape())
				}
				e := relErr(hand, auto)
				if e > tol || math.IsNaN(e) {
					t.Errorf("%s: relative error %.3g > %g", what, e, tol)
				}
				worst = max(worst, e)
			}
			t.Logf("worst relative error over dEmb and %d parameters: %.3g", len(n.specs), worst)
		})
	}
}

// TestDotInteractionExtractions checks that the slice-based extraction of
// the interaction terms (used for training) and the Gather-based one (used
// to check the backward pass against autodiff) select the same values.
func TestDotInteractionExtractions(t *testing.T) {
	const batch, n, dim = 5, 6, 3
	backend, err := simpleGoBackend()
	if err != nil {
		t.Fatal(err)
	}
	exec, err := graph.NewExec(backend, func(x *graph.Node) (*graph.Node, *graph.Node) {
		return dotInteraction{n: n}.forward(x), dotInteraction{n: n, viaGather: true}.forward(x)
	})
	if err != nil {
		t.Fatal(err)
	}
	_, emb, _ := randomBatch(rand.New(rand.NewPCG(1, 3)), ModelConfig{Fields: n, Dim: dim}, batch)
	outs, err := exec.Exec(tensors.FromFlatDataAndDimensions(emb, batch, n, dim))
	if err != nil {
		t.Fatal(err)
	}
	a, b := flat(t, outs[0]), flat(t, outs[1])
	if len(a) != batch*n*(n-1)/2 || !slices.Equal(a, b) {
		t.Errorf("slice extraction %v\ngather extraction %v", a, b)
	}
}

// TestForwardMatchesReference compares Predict against a plain-Go
// implementation of each model's math from the net's state.
func TestForwardMatchesReference(t *testing.T) {
	const batch = 9
	for name, cfg := range testConfigs() {
		t.Run(name, func(t *testing.T) {
			n := mustNet(t, cfg)
			rng := rand.New(rand.NewPCG(3, 4))
			// Take a few steps first so that the state is not just the init.
			for range 3 {
				dense, emb, labels := randomBatch(rng, n.cfg, batch)
				if _, err := n.ForwardBackward(dense, emb, labels, batch, make([]float32, len(emb))); err != nil {
					t.Fatal(err)
				}
			}
			s, err := n.State()
			if err != nil {
				t.Fatal(err)
			}
			dense, emb, _ := randomBatch(rng, n.cfg, batch)
			got := make([]float32, batch)
			if err := n.Predict(dense, emb, batch, got); err != nil {
				t.Fatal(err)
			}
			want := referenceProbs(s, dense, emb, batch)
			for i := range got {
				if d := math.Abs(float64(got[i]) - want[i]); d > 1e-5 {
					t.Errorf("example %d: Predict %.7f, reference %.7f", i, got[i], want[i])
				}
			}
		})
	}
}

// referenceProbs computes the click probabilities of the model in s with
// plain loops in float64, following the definitions in models.go.
func referenceProbs(s densenet.State, dense, emb []float32, batch int) []float64 {
	c := s.Config
	w := map[string]densenet.NamedTensor{}
	for _, t := range s.Tensors {
		w[t.Name] = t
	}
	linear := func(name string, x []float64, relu bool) []float64 {
		W, b := w[name+"/w"], w[name+"/b"]
		in, out := W.Dims[0], W.Dims[1]
		y := make([]float64, out)
		for o := range out {
			y[o] = float64(b.Data[o])
			for i := range in {
				y[o] += x[i] * float64(W.Data[i*out+o])
			}
			if relu {
				y[o] = max(y[o], 0)
			}
		}
		return y
	}
	// mlp applies layers prefix/0..; ReLU on all but (if logit) the last.
	mlp := func(prefix string, x []float64, layers int, logit bool) []float64 {
		for l := range layers {
			x = linear(prefix+"/"+strconv.Itoa(l), x, !logit || l < layers-1)
		}
		return x
	}
	probs := make([]float64, batch)
	F, D, N := c.Fields, c.Dim, c.NumDense
	for b := range batch {
		x0 := make([]float64, 0, N+F*D)
		for _, v := range dense[b*N : (b+1)*N] {
			x0 = append(x0, float64(v))
		}
		for _, v := range emb[b*F*D : (b+1)*F*D] {
			x0 = append(x0, float64(v))
		}
		fields := x0[N:]
		var logit float64
		switch c.Name {
		case densenet.ModelLR:
			logit = linear("lr/linear", x0, false)[0]
		case densenet.ModelFM, densenet.ModelDeepFM:
			logit = linear("fm/linear", x0, false)[0]
			var vecs [][]float64
			if N > 0 {
				vecs = append(vecs, linear("fm/dense_proj", x0[:N], false))
			}
			for f := range F {
				vecs = append(vecs, fields[f*D:(f+1)*D])
			}
			scale := c.FMScale
			if scale == 0 {
				scale = 1
			}
			for i := range vecs {
				for j := i + 1; j < len(vecs); j++ {
					for d := range D {
						logit += scale * vecs[i][d] * vecs[j][d] // = scale·0.5*((Σv)² - Σv²)
					}
				}
			}
			if c.Name == densenet.ModelDeepFM {
				logit += mlp("deep", x0, len(c.DeepMLP)+1, true)[0]
			}
		case densenet.ModelDLRM:
			d := mlp("bottom", x0[:N], len(c.BottomMLP), false)
			vecs := [][]float64{d}
			for f := range F {
				vecs = append(vecs, fields[f*D:(f+1)*D])
			}
			top := slices.Clone(d)
			for i := range vecs {
				for j := i + 1; j < len(vecs); j++ {
					var dot float64
					for k := range D {
						dot += vecs[i][k] * vecs[j][k]
					}
					top = append(top, dot)
				}
			}
			logit = mlp("top", top, len(c.TopMLP)+1, true)[0]
		case densenet.ModelDCNv2:
			x := slices.Clone(x0)
			for l := range c.CrossLayers {
				u := linear("cross/"+strconv.Itoa(l), x, false)
				for i := range x {
					x[i] += x0[i] * u[i]
				}
			}
			if len(c.DeepMLP) > 0 {
				x = append(x, mlp("deep", x0, len(c.DeepMLP), false)...)
			}
			logit = linear("dcn/logit", x, false)[0]
		case densenet.ModelDIN:
			slot := func(s int) []float64 { return fields[s*D : (s+1)*D] }
			x := slices.Clone(x0[:N])
			for s := range F {
				if s < c.SeqStart || s >= c.SeqStart+c.SeqLen {
					x = append(x, slot(s)...)
				}
			}
			ec := slot(c.Target)
			pooled := make([]float64, D)
			for j := range c.SeqLen {
				ej := slot(c.SeqStart + j)
				in := slices.Clone(ej)
				in = append(in, ec...)
				for d := range D {
					in = append(in, ej[d]-ec[d])
				}
				for d := range D {
					in = append(in, ej[d]*ec[d])
				}
				h := linear("din/att/0", in, false)
				for u, v := range h {
					if v <= 0 {
						h[u] = v * float64(w["din/att/prelu"].Data[u])
					}
				}
				wj := linear("din/att/1", h, false)[0]
				for d := range D {
					pooled[d] += wj * ej[d]
				}
			}
			logit = mlp("deep", append(x, pooled...), len(c.DeepMLP)+1, true)[0]
		case densenet.ModelAutoInt, densenet.ModelAutoIntPlus:
			var tokens [][]float64
			if N > 0 {
				tokens = append(tokens, linear("autoint/dense_proj", x0[:N], false))
			}
			for f := range F {
				tokens = append(tokens, fields[f*D:(f+1)*D])
			}
			H, hd := c.Heads, c.HeadDim
			A := H * hd
			matmul := func(x []float64, name string) []float64 { // x·W, no bias
				W := w[name]
				in := W.Dims[0]
				y := make([]float64, A)
				for o := range A {
					for i := range in {
						y[o] += x[i] * float64(W.Data[i*A+o])
					}
				}
				return y
			}
			for l := range c.AttentionLayers {
				name := "autoint/attn/" + strconv.Itoa(l)
				var q, k, v [][]float64
				for _, t := range tokens {
					q, k, v = append(q, matmul(t, name+"/q")), append(k, matmul(t, name+"/k")), append(v, matmul(t, name+"/v"))
				}
				next := make([][]float64, len(tokens))
				for i, t := range tokens {
					y := matmul(t, name+"/res")
					for h := range H {
						sc := make([]float64, len(tokens))
						var sum float64
						for j := range tokens {
							for x := range hd {
								sc[j] += q[i][h*hd+x] * k[j][h*hd+x]
							}
						}
						mx := slices.Max(sc)
						for j := range sc {
							sc[j] = math.Exp(sc[j] - mx)
							sum += sc[j]
						}
						for j := range tokens {
							for x := range hd {
								y[h*hd+x] += sc[j] / sum * v[j][h*hd+x]
							}
						}
					}
					for o := range y {
						y[o] = max(y[o], 0)
					}
					next[i] = y
				}
				tokens = next
			}
			logit = linear("autoint/logit", slices.Concat(tokens...), false)[0]
			if c.Name == densenet.ModelAutoIntPlus {
				logit += mlp("deep", x0, len(c.DeepMLP)+1, true)[0]
			}
		}
		probs[b] = 1 / (1 + math.Exp(-logit))
	}
	return probs
}

// TestPredictMatchesLoss checks that Predict and the training graph agree:
// the loss ForwardBackward reports (before its update) is the BCE of the
// probabilities Predict returns.
func TestPredictMatchesLoss(t *testing.T) {
	const batch = 16
	for _, name := range allModels {
		t.Run(name, func(t *testing.T) {
			n := mustNet(t, smallConfig(name, 3))
			dense, emb, labels := randomBatch(rand.New(rand.NewPCG(5, 6)), n.cfg, batch)
			p := make([]float32, batch)
			if err := n.Predict(dense, emb, batch, p); err != nil {
				t.Fatal(err)
			}
			var want float64
			for i, y := range labels {
				want -= float64(y)*math.Log(float64(p[i])) + float64(1-y)*math.Log(1-float64(p[i]))
			}
			want /= batch
			got, err := n.ForwardBackward(dense, emb, labels, batch, make([]float32, len(emb)))
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(float64(got)-want) > 1e-5 {
				t.Errorf("loss %.7f, BCE of Predict %.7f", got, want)
			}
		})
	}
}

// TestTrainingReducesLoss trains each model, with its embeddings in a small
// Go table updated by Adagrad from dEmb (as the trainer does), on a
// separable synthetic problem: the label is the sign of a hidden per-value
// score summed over fields plus a linear function of the dense features.
func TestTrainingReducesLoss(t *testing.T) {
	const (
		vocab, examples, batch, steps = 8, 512, 64, 300
		embLR                         = 0.1
	)
	for _, name := range allModels {
		t.Run(name, func(t *testing.T) {
			cfg := ModelConfig{
				Name: name, NumDense: 2, Fields: 3, Dim: 4,
				BottomMLP: []int{8, 4}, TopMLP: []int{16, 8}, DeepMLP: []int{16, 8}, CrossLayers: 1,
				LR: 0.01, Seed: 11,
			}
			n := mustNet(t, cfg)
			F, D := cfg.Fields, cfg.Dim
			rng := rand.New(rand.NewPCG(7, 8))
			score := make([]float64, F*vocab)
			for i := range score {
				score[i] = rng.NormFloat64()
			}
			ids := make([]int, examples*F)
			dense := make([]float32, examples*cfg.NumDense)
			labels := make([]float32, examples)
			for e := range examples {
				s := 0.0
				for f := range F {
					id := rng.IntN(vocab)
					ids[e*F+f] = f*vocab + id
					s += score[f*vocab+id]
				}
				for j := range cfg.NumDense {
					v := 2 * rng.Float64()
					dense[e*cfg.NumDense+j] = float32(v)
					s += (v - 1) * float64(j+1) * 0.5
				}
				if s > 0 {
					labels[e] = 1
				}
			}
			table := make([]float32, F*vocab*D)
			acc := make([]float32, F*vocab)
			for i := range table {
				table[i] = 0.1 * (2*rng.Float32() - 1)
			}
			gather := func(from, size int, emb []float32) {
				for e := range size {
					for f := range F {
						row := ids[(from+e)*F+f]
						copy(emb[(e*F+f)*D:], table[row*D:(row+1)*D])
					}
				}
			}
			emb := make([]float32, batch*F*D)
			dEmb := make([]float32, batch*F*D)
			var losses []float64
			for step := range steps {
				from := (step * batch) % examples
				gather(from, batch, emb)
				loss, err := n.ForwardBackward(dense[from*cfg.NumDense:], emb, labels[from:], batch, dEmb)
				if err != nil {
					t.Fatal(err)
				}
				losses = append(losses, float64(loss))
				// Row-wise Adagrad on the touched rows.
				for e := range batch {
					for f := range F {
						row := ids[(from+e)*F+f]
						g := dEmb[(e*F+f)*D : (e*F+f+1)*D]
						var g2 float32
						for _, v := range g {
							g2 += v * v
						}
						acc[row] += g2 / float32(D)
						scale := embLR / (float32(math.Sqrt(float64(acc[row]))) + 1e-10)
						for d, v := range g {
							table[row*D+d] -= scale * v
						}
					}
				}
			}
			mean := func(x []float64) float64 {
				var s float64
				for _, v := range x {
					s += v
				}
				return s / float64(len(x))
			}
			first, last := mean(losses[:8]), mean(losses[len(losses)-8:])
			// Accuracy of Predict on the whole set.
			allEmb := make([]float32, examples*F*D)
			gather(0, examples, allEmb)
			p := make([]float32, examples)
			if err := n.Predict(dense, allEmb, examples, p); err != nil {
				t.Fatal(err)
			}
			correct := 0
			for i := range p {
				if (p[i] > 0.5) == (labels[i] == 1) {
					correct++
				}
			}
			accuracy := float64(correct) / examples
			t.Logf("loss %.4f -> %.4f, accuracy %.3f", first, last, accuracy)
			if !(last < 0.5*first) || accuracy < 0.9 {
				t.Errorf("training did not converge: loss %.4f -> %.4f, accuracy %.3f", first, last, accuracy)
			}
		})
	}
}

// TestBatchSizeCache checks that each batch size is compiled once per graph
// (training, prediction) and reused.
func TestBatchSizeCache(t *testing.T) {
	n := mustNet(t, smallConfig(densenet.ModelDLRM, 3))
	rng := rand.New(rand.NewPCG(9, 10))
	for _, batch := range []int{8, 5, 8, 5, 8} {
		dense, emb, labels := randomBatch(rng, n.cfg, batch)
		if _, err := n.ForwardBackward(dense, emb, labels, batch, make([]float32, len(emb))); err != nil {
			t.Fatal(err)
		}
		if err := n.Predict(dense, emb, batch, make([]float32, batch)); err != nil {
			t.Fatal(err)
		}
	}
	if n.graphsBuilt != 4 {
		t.Errorf("built %d graphs for 2 batch sizes x (train, predict), want 4", n.graphsBuilt)
	}
	if n.Step() != 5 {
		t.Errorf("Step() = %d, want 5", n.Step())
	}
}

// TestConcurrentUse runs training and prediction from several goroutines
// (run with -race).
func TestConcurrentUse(t *testing.T) {
	n := mustNet(t, smallConfig(densenet.ModelDeepFM, 3))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for range 5 {
				dense, emb, labels := randomBatch(rng, n.cfg, 4+g)
				if _, err := n.ForwardBackward(dense, emb, labels, 4+g, make([]float32, len(emb))); err != nil {
					t.Error(err)
				}
				if err := n.Predict(dense, emb, 4+g, make([]float32, 4+g)); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if n.Step() != 20 {
		t.Errorf("Step() = %d, want 20", n.Step())
	}
}

// TestLongerBuffers checks that only the batch prefix of longer buffers is
// used.
func TestLongerBuffers(t *testing.T) {
	const batch = 4
	cfg := smallConfig(densenet.ModelDeepFM, 3)
	a, b := mustNet(t, cfg), mustNet(t, cfg)
	dense, emb, labels := randomBatch(rand.New(rand.NewPCG(1, 1)), a.cfg, 2*batch)
	nEmb := batch * a.cfg.Fields * a.cfg.Dim
	dA, dB := make([]float32, nEmb), make([]float32, 2*nEmb)
	la, err := a.ForwardBackward(dense[:batch*cfg.NumDense], emb[:nEmb], labels[:batch], batch, dA)
	if err != nil {
		t.Fatal(err)
	}
	lb, err := b.ForwardBackward(dense, emb, labels, batch, dB)
	if err != nil {
		t.Fatal(err)
	}
	if la != lb || !slices.Equal(dA, dB[:nEmb]) || slices.ContainsFunc(dB[nEmb:], func(v float32) bool { return v != 0 }) {
		t.Errorf("longer buffers changed the result (loss %v vs %v)", la, lb)
	}
}

func TestErrors(t *testing.T) {
	if _, err := NewDenseNet(ModelConfig{Name: "xgboost", Fields: 1, Dim: 1}); !errors.Is(err, densenet.ErrUnknownModel) {
		t.Errorf("unknown model: got %v, want densenet.ErrUnknownModel", err)
	}
	for _, cfg := range []ModelConfig{
		{Name: densenet.ModelLR, Fields: 0, Dim: 4},
		{Name: densenet.ModelLR, Fields: 2, Dim: 4, LR: -1},
		{Name: densenet.ModelDLRM, NumDense: 0, Fields: 2, Dim: 4},
		{Name: densenet.ModelDLRM, NumDense: 3, Fields: 2, Dim: 4, BottomMLP: []int{8, 5}},
		{Name: densenet.ModelDeepFM, NumDense: 3, Fields: 2, Dim: 4, DeepMLP: []int{8, 0}},
	} {
		if _, err := NewDenseNet(cfg); !errors.Is(err, densenet.ErrInvalidConfig) {
			t.Errorf("%+v: got %v, want densenet.ErrInvalidConfig", cfg, err)
		}
	}

	n := mustNet(t, smallConfig(densenet.ModelFM, 3))
	dense, emb, labels := randomBatch(rand.New(rand.NewPCG(1, 1)), n.cfg, 4)
	dEmb := make([]float32, len(emb))
	for _, tc := range []struct {
		name                     string
		dense, emb, labels, dEmb []float32
		batch                    int
	}{
		{"batch 0", dense, emb, labels, dEmb, 0},
		{"short dense", dense[1:], emb, labels, dEmb, 4},
		{"short emb", dense, emb[1:], labels, dEmb, 4},
		{"short labels", dense, emb, labels[1:], dEmb, 4},
		{"short dEmb", dense, emb, labels, dEmb[1:], 4},
	} {
		if _, err := n.ForwardBackward(tc.dense, tc.emb, tc.labels, tc.batch, tc.dEmb); !errors.Is(err, densenet.ErrBatchShape) {
			t.Errorf("ForwardBackward %s: got %v, want densenet.ErrBatchShape", tc.name, err)
		}
	}
	if err := n.Predict(dense, emb, 4, make([]float32, 3)); !errors.Is(err, densenet.ErrBatchShape) {
		t.Errorf("Predict short out: got %v, want densenet.ErrBatchShape", err)
	}
	if n.Step() != 0 {
		t.Errorf("failed calls advanced the step to %d", n.Step())
	}

	// GoMLX panics while building a graph become ErrGraph errors.
	n.model = panickingModel{}
	if _, err := n.ForwardBackward(dense, emb, labels, 4, dEmb); !errors.Is(err, ErrGraph) {
		t.Errorf("panicking graph: got %v, want ErrGraph", err)
	}
	if err := n.Predict(dense, emb, 3, make([]float32, 3)); !errors.Is(err, ErrGraph) {
		t.Errorf("panicking graph: got %v, want ErrGraph", err)
	}
	var err error
	func() {
		defer recoverGraphPanic("test", &err)
		panic("boom")
	}()
	if !errors.Is(err, ErrGraph) {
		t.Errorf("recoverGraphPanic: got %v", err)
	}
}

// panickingModel builds an invalid graph (a shape mismatch), which GoMLX
// reports by panicking.
type panickingModel struct{}

func (panickingModel) forward(p []*graph.Node, dense, emb *graph.Node) (*graph.Node, backwardFn) {
	return graph.Add(dense, emb), nil
}

func TestConfigDefaultsRoundTrip(t *testing.T) {
	c := ModelConfig{Name: densenet.ModelDLRM, NumDense: 13, Fields: 26, Dim: 16}.WithDefaults()
	if !slices.Equal(c.BottomMLP, []int{64, 16}) || !slices.Equal(c.TopMLP, []int{256, 128}) ||
		c.DeepMLP != nil || c.LR != 1e-3 || c.Beta2 != 0.999 || c.Eps != 1e-8 {
		t.Errorf("dlrm defaults: %+v", c)
	}
	d := ModelConfig{Name: densenet.ModelDCNv2, NumDense: 13, Fields: 26, Dim: 16, DeepMLP: []int{}}.WithDefaults()
	if d.CrossLayers != 3 || d.DeepMLP == nil || len(d.DeepMLP) != 0 {
		t.Errorf("dcnv2 defaults: %+v", d)
	}
	if again := d.WithDefaults(); !slices.Equal(again.DeepMLP, d.DeepMLP) || again.DeepMLP == nil {
		t.Errorf("WithDefaults is not idempotent: %+v", again)
	}
	n := mustNet(t, ModelConfig{Name: densenet.ModelDLRM, NumDense: 13, Fields: 26, Dim: 16})
	// 13·64+64 + 64·16+16 + 367·256+256 + 256·128+128 + 128+1 parameters.
	var total int
	for _, s := range n.specs {
		total += s.Size()
	}
	if want := 13*64 + 64 + 64*16 + 16 + 367*256 + 256 + 256*128 + 128 + 128 + 1; total != want {
		t.Errorf("dlrm-small has %d dense parameters, want %d", total, want)
	}
}
