package trainer

import (
	"bytes"
	"errors"
	"github.com/embtab/embtab/densenet"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/embtab/embtab/kernels/gemm"
)

func mustNative(t testing.TB, cfg ModelConfig) *densenet.Net {
	t.Helper()
	n, err := densenet.New(cfg)
	if err != nil {
		t.Fatalf("densenet.New(%+v): %v", cfg, err)
	}
	t.Cleanup(n.Close)
	return n
}

// nativeTestConfigs are the GoMLX test configs plus dlrm and dcnv2 shapes
// that take the assembly paths (Dim 16, 27 interaction vectors, widths
// beyond one register tile).
func nativeTestConfigs() map[string]ModelConfig {
	cfgs := testConfigs()
	cfgs["dlrm/criteo-like"] = ModelConfig{Name: densenet.ModelDLRM, NumDense: 13, Fields: 26, Dim: 16,
		TopMLP: []int{40, 17}, Seed: 3}
	cfgs["dcnv2/wide"] = ModelConfig{Name: densenet.ModelDCNv2, NumDense: 5, Fields: 6, Dim: 8,
		DeepMLP: []int{33}, CrossLayers: 2, Seed: 4}
	cfgs["autoint+/criteo-like"] = ModelConfig{Name: densenet.ModelAutoIntPlus, NumDense: 13, Fields: 26, Dim: 16,
		AttentionLayers: 2, Heads: 2, HeadDim: 16, DeepMLP: []int{40}, Seed: 6}
	cfgs["deepfm/wide"] = ModelConfig{Name: densenet.ModelDeepFM, NumDense: 13, Fields: 10, Dim: 16,
		DeepMLP: []int{45, 20}, Seed: 5}
	return cfgs
}

// TestNativeMatchesGoMLX trains a NativeNet and a GoMLXNet built from the
// same config side by side: they must start from identical states, and
// the losses, dEmb, predictions and the parameters and Adam moments after
// every step must agree within 1e-5 (relative to each tensor's largest
// value).
func TestNativeMatchesGoMLX(t *testing.T) {
	for name, cfg := range nativeTestConfigs() {
		t.Run(name, func(t *testing.T) { compareWithGoMLX(t, cfg) })
	}
	// The other kernel implementations, on the shapes that take the
	// assembly paths.
	for _, impl := range gemm.Impls()[1:] {
		for _, name := range []string{"dlrm/criteo-like", "deepfm/wide"} {
			t.Run(impl+"/"+name, func(t *testing.T) {
				switch impl {
				case "avx2":
					t.Cleanup(gemm.DisableAVX512())
				case "generic":
					t.Cleanup(gemm.DisableAVX512())
					t.Cleanup(gemm.DisableAVX2())
				}
				if gemm.Impl() != impl {
					t.Fatalf("gemm.Impl() = %q, want %q", gemm.Impl(), impl)
				}
				compareWithGoMLX(t, nativeTestConfigs()[name])
			})
		}
	}
}

func compareWithGoMLX(t *testing.T, cfg ModelConfig) {
	// tol allows float32 summation order: the wide configs' first deep layer
	// reduces over hundreds of inputs in a different order than GoMLX's
	// (measured up to 1.2e-5 relative on deepfm/wide).
	const batch, steps, tol = 37, 4, 2e-5
	ref := mustNet(t, cfg)
	nat := mustNative(t, cfg)
	s0, s1 := mustState(t, ref), mustState(t, nat)
	if !statesEqual(s0, s1) {
		t.Fatal("initial states differ")
	}
	rng := rand.New(rand.NewPCG(11, 12))
	c := nat.Config()
	for step := range steps {
		dense, emb, labels := randomBatch(rng, c, batch)
		// Predictions before the step.
		pRef, pNat := make([]float32, batch), make([]float32, batch)
		if err := ref.Predict(dense, emb, batch, pRef); err != nil {
			t.Fatal(err)
		}
		if err := nat.Predict(dense, emb, batch, pNat); err != nil {
			t.Fatal(err)
		}
		if e := relErr(pNat, pRef); !(e <= tol) {
			t.Errorf("step %d: predictions differ by %.3g", step, e)
		}
		dRef, dNat := make([]float32, len(emb)), make([]float32, len(emb))
		for i := range dNat {
			dNat[i] = float32(math.NaN()) // must be overwritten
		}
		lRef, err := ref.ForwardBackward(dense, emb, labels, batch, dRef)
		if err != nil {
			t.Fatal(err)
		}
		lNat, err := nat.ForwardBackward(dense, emb, labels, batch, dNat)
		if err != nil {
			t.Fatal(err)
		}
		if e := math.Abs(float64(lNat-lRef)) / math.Abs(float64(lRef)); !(e <= tol) {
			t.Errorf("step %d: loss %v, GoMLX %v", step, lNat, lRef)
		}
		if e := relErr(dNat, dRef); !(e <= tol) {
			t.Errorf("step %d: dEmb differs by %.3g", step, e)
		}
		sRef, sNat := mustState(t, ref), mustState(t, nat)
		if sRef.Step != sNat.Step {
			t.Fatalf("step %d: Step %d, GoMLX %d", step, sNat.Step, sRef.Step)
		}
		for i, tr := range sRef.Tensors {
			if e := relErr(sNat.Tensors[i].Data, tr.Data); !(e <= tol) {
				t.Errorf("step %d: %s differs by %.3g", step, tr.Name, e)
			}
		}
	}
}

func mustState(t testing.TB, n interface {
	State() (densenet.State, error)
}) densenet.State {
	t.Helper()
	s, err := n.State()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func statesEqual(a, b densenet.State) bool {
	if a.Step != b.Step || len(a.Tensors) != len(b.Tensors) {
		return false
	}
	for i, t := range a.Tensors {
		u := b.Tensors[i]
		if t.Name != u.Name || !slices.Equal(t.Dims, u.Dims) || !slices.Equal(t.Data, u.Data) {
			return false
		}
	}
	return true
}

// TestNativeCheckpoints moves a state from a NativeNet to a GoMLXNet and
// back through Save and Load: the nets must then continue alike, and
// SetState(State()) must round-trip exactly.
func TestNativeCheckpoints(t *testing.T) {
	const batch = 16
	cfg := smallConfig(densenet.ModelDLRM, 3)
	nat := mustNative(t, cfg)
	rng := rand.New(rand.NewPCG(13, 14))
	c := nat.Config()
	for range 2 {
		dense, emb, labels := randomBatch(rng, c, batch)
		if _, err := nat.ForwardBackward(dense, emb, labels, batch, make([]float32, len(emb))); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := nat.Save(&buf); err != nil {
		t.Fatal(err)
	}
	ref := mustNet(t, cfg)
	if err := ref.Load(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	if !statesEqual(mustState(t, ref), mustState(t, nat)) {
		t.Fatal("GoMLX state after Load differs from the saved native state")
	}
	buf.Reset()
	if err := ref.Save(&buf); err != nil {
		t.Fatal(err)
	}
	other := mustNative(t, cfg)
	if err := other.Load(&buf); err != nil {
		t.Fatal(err)
	}
	if !statesEqual(mustState(t, other), mustState(t, nat)) || other.Step() != 2 {
		t.Fatal("native state after a round trip through GoMLX differs")
	}
	dense, emb, labels := randomBatch(rng, c, batch)
	l1, err := nat.ForwardBackward(dense, emb, labels, batch, make([]float32, len(emb)))
	if err != nil {
		t.Fatal(err)
	}
	l2, err := other.ForwardBackward(dense, emb, labels, batch, make([]float32, len(emb)))
	if err != nil {
		t.Fatal(err)
	}
	if l1 != l2 || !statesEqual(mustState(t, nat), mustState(t, other)) {
		t.Errorf("restored native net diverged: loss %v vs %v", l2, l1)
	}

	s := mustState(t, nat)
	s.Tensors[0].Dims = []int{1}
	if err := other.SetState(s); !errors.Is(err, densenet.ErrStateMismatch) {
		t.Errorf("bad dims: got %v, want densenet.ErrStateMismatch", err)
	}
	s = mustState(t, nat)
	s.Tensors = s.Tensors[1:]
	if err := other.SetState(s); !errors.Is(err, densenet.ErrStateMismatch) {
		t.Errorf("missing tensor: got %v, want densenet.ErrStateMismatch", err)
	}
}

// TestNativeBatchSizes checks that buffers sized for a large batch serve
// smaller ones, with only the batch prefix of the inputs read.
func TestNativeBatchSizes(t *testing.T) {
	for _, name := range allModels {
		t.Run(name, func(t *testing.T) {
			cfg := smallConfig(name, 3)
			a, b := mustNative(t, cfg), mustNative(t, cfg)
			rng := rand.New(rand.NewPCG(15, 16))
			dense, emb, labels := randomBatch(rng, a.Config(), 40)
			if _, err := a.ForwardBackward(dense, emb, labels, 40, make([]float32, len(emb))); err != nil {
				t.Fatal(err)
			}
			if _, err := b.ForwardBackward(dense, emb, labels, 40, make([]float32, len(emb))); err != nil {
				t.Fatal(err)
			}
			// a has seen a larger batch than b's next one; both must agree.
			c := a.Config()
			n := 7 * c.Fields * c.Dim
			dA, dB := make([]float32, len(emb)), make([]float32, n)
			la, err := a.ForwardBackward(dense, emb, labels, 7, dA)
			if err != nil {
				t.Fatal(err)
			}
			fresh := mustNative(t, cfg)
			if err := fresh.SetState(mustState(t, b)); err != nil {
				t.Fatal(err)
			}
			lb, err := fresh.ForwardBackward(dense[:7*c.NumDense], emb[:n], labels[:7], 7, dB)
			if err != nil {
				t.Fatal(err)
			}
			if la != lb || !slices.Equal(dA[:n], dB) || slices.ContainsFunc(dA[n:], func(v float32) bool { return v != 0 }) {
				t.Errorf("batch 7 after batch 40: loss %v, fresh net %v", la, lb)
			}
		})
	}
}

// TestNativeConcurrentUse runs training and prediction from several
// goroutines (run with -race).
func TestNativeConcurrentUse(t *testing.T) {
	n := mustNative(t, smallConfig(densenet.ModelDLRM, 3))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for range 5 {
				dense, emb, labels := randomBatch(rng, n.Config(), 4+g)
				if _, err := n.ForwardBackward(dense, emb, labels, 4+g, make([]float32, len(emb))); err != nil {
					t.Error(err)
				}
				if err := n.Predict(dense, emb, 4+g, make([]float32, 4+g)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if n.Step() != 20 {
		t.Errorf("Step() = %d, want 20", n.Step())
	}
}

// TestNativeThreads checks that the thread count changes at most the
// rounding of the bias gradients, and that LoadNativeNet restores a net.
func TestNativeThreads(t *testing.T) {
	const batch = 300
	cfg := ModelConfig{Name: densenet.ModelDLRM, NumDense: 13, Fields: 26, Dim: 16, TopMLP: []int{64, 32}, Seed: 9}
	one, two := mustNative(t, cfg), mustNative(t, cfg)
	one.SetThreads(1)
	two.SetThreads(2)
	rng := rand.New(rand.NewPCG(17, 18))
	dense, emb, labels := randomBatch(rng, one.Config(), batch)
	d1, d2 := make([]float32, len(emb)), make([]float32, len(emb))
	l1, err := one.ForwardBackward(dense, emb, labels, batch, d1)
	if err != nil {
		t.Fatal(err)
	}
	l2, err := two.ForwardBackward(dense, emb, labels, batch, d2)
	if err != nil {
		t.Fatal(err)
	}
	if l1 != l2 || relErr(d2, d1) > 1e-6 {
		t.Errorf("1 and 2 threads: loss %v vs %v, dEmb differs by %.3g", l1, l2, relErr(d2, d1))
	}
	var buf bytes.Buffer
	if err := two.Save(&buf); err != nil {
		t.Fatal(err)
	}
	back, err := densenet.Load(&buf)
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	if !statesEqual(mustState(t, back), mustState(t, two)) {
		t.Error("LoadNativeNet did not restore the state")
	}
	two.Close()
	if _, err := two.ForwardBackward(dense, emb, labels, batch, d2); !errors.Is(err, gemm.ErrClosed) {
		t.Errorf("after Close: got %v, want gemm.ErrClosed", err)
	}
}

// TestNativeGoroutinesStop checks that the worker goroutines of nets that
// become unreachable without Close stop.
func TestNativeGoroutinesStop(t *testing.T) {
	before := runtime.NumGoroutine()
	for range 5 {
		n, err := densenet.New(smallConfig(densenet.ModelDLRM, 3))
		if err != nil {
			t.Fatal(err)
		}
		n.SetThreads(3)
		dense, emb, labels := randomBatch(rand.New(rand.NewPCG(1, 2)), n.Config(), 8)
		if _, err := n.ForwardBackward(dense, emb, labels, 8, make([]float32, len(emb))); err != nil {
			t.Fatal(err)
		}
	}
	for range 50 {
		runtime.GC()
		if runtime.NumGoroutine() <= before {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("%d goroutines before, %d after dropping 5 nets", before, runtime.NumGoroutine())
}

func TestNativeNoAllocs(t *testing.T) {
	for _, name := range allModels {
		t.Run(name, func(t *testing.T) {
			n := mustNative(t, smallConfig(name, 3))
			dense, emb, labels := randomBatch(rand.New(rand.NewPCG(1, 2)), n.Config(), 64)
			dEmb, out := make([]float32, len(emb)), make([]float32, 64)
			step := func() {
				if _, err := n.ForwardBackward(dense, emb, labels, 64, dEmb); err != nil {
					t.Fatal(err)
				}
				if err := n.Predict(dense, emb, 64, out); err != nil {
					t.Fatal(err)
				}
			}
			step()
			if a := testing.AllocsPerRun(10, step); a != 0 {
				t.Errorf("a training step and a prediction allocate %.1f times", a)
			}
		})
	}
}

func TestNativeErrors(t *testing.T) {
	if _, err := densenet.New(ModelConfig{Name: "xgboost", Fields: 1, Dim: 1}); !errors.Is(err, densenet.ErrUnknownModel) {
		t.Errorf("unknown model: got %v, want densenet.ErrUnknownModel", err)
	}
	if _, err := densenet.New(ModelConfig{Name: densenet.ModelDLRM, NumDense: 0, Fields: 2, Dim: 4}); !errors.Is(err, densenet.ErrInvalidConfig) {
		t.Errorf("dlrm without dense: got %v, want densenet.ErrInvalidConfig", err)
	}
	n := mustNative(t, smallConfig(densenet.ModelDLRM, 3))
	dense, emb, labels := randomBatch(rand.New(rand.NewPCG(1, 1)), n.Config(), 4)
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
}

// BenchmarkNativeDLRM times one training step of dlrm-small (NumDense 13,
// 26 fields, dim 16, bottom 64-16, top 256-128-1) at batch 2048, as
// BenchmarkForwardBackwardDLRM does for the GoMLX net. On the shared box:
//
//	go test ./trainer -run '^$' -bench NativeDLRM -benchtime=20x
func BenchmarkNativeDLRM(b *testing.B) {
	const batch = 2048
	n := mustNative(b, ModelConfig{Name: densenet.ModelDLRM, NumDense: 13, Fields: 26, Dim: 16, Seed: 1})
	dense, emb, labels := randomBatch(rand.New(rand.NewPCG(1, 2)), n.Config(), batch)
	dEmb := make([]float32, len(emb))
	if _, err := n.ForwardBackward(dense, emb, labels, batch, dEmb); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if _, err := n.ForwardBackward(dense, emb, labels, batch, dEmb); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(batch)*float64(b.N)/b.Elapsed().Seconds(), "samples/s")
}
