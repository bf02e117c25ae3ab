package trainer

import (
	"bytes"
	"errors"
	"github.com/embtab/embtab/densenet"
	"math/rand/v2"
	"slices"
	"testing"
)

type testBatch struct {
	dense, emb, labels []float32
	size               int
}

func testBatches(cfg ModelConfig, sizes ...int) []testBatch {
	rng := rand.New(rand.NewPCG(21, 22))
	var bs []testBatch
	for _, size := range sizes {
		d, e, l := randomBatch(rng, cfg, size)
		bs = append(bs, testBatch{d, e, l, size})
	}
	return bs
}

// trainRecord runs the batches and returns every loss and dEmb, then the
// predictions on the first batch.
func trainRecord(t *testing.T, n *GoMLXNet, bs []testBatch) (losses []float32, grads [][]float32, pred []float32) {
	t.Helper()
	for _, b := range bs {
		dEmb := make([]float32, len(b.emb))
		loss, err := n.ForwardBackward(b.dense, b.emb, b.labels, b.size, dEmb)
		if err != nil {
			t.Fatal(err)
		}
		losses = append(losses, loss)
		grads = append(grads, dEmb)
	}
	pred = make([]float32, bs[0].size)
	if err := n.Predict(bs[0].dense, bs[0].emb, bs[0].size, pred); err != nil {
		t.Fatal(err)
	}
	return losses, grads, pred
}

// TestResumeIsBitIdentical trains N steps, saves, trains M more; a net loaded
// from the save (fresh, or one built with another seed) must reproduce the
// M steps bit for bit.
func TestResumeIsBitIdentical(t *testing.T) {
	for _, name := range allModels {
		t.Run(name, func(t *testing.T) {
			cfg := smallConfig(name, 3)
			bs := testBatches(cfg, 8, 8, 8, 8, 5, 8, 8, 8, 3)
			a := mustNet(t, cfg)
			trainRecord(t, a, bs[:4])
			var saved bytes.Buffer
			if err := a.Save(&saved); err != nil {
				t.Fatal(err)
			}
			wantLoss, wantGrad, wantPred := trainRecord(t, a, bs[4:])

			b, err := LoadDenseNet(bytes.NewReader(saved.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			if b.Step() != 4 {
				t.Errorf("loaded step %d, want 4", b.Step())
			}
			other := cfg
			other.Seed = 99
			c := mustNet(t, other)
			if err := c.Load(bytes.NewReader(saved.Bytes())); err != nil {
				t.Fatal(err)
			}
			for label, n := range map[string]*GoMLXNet{"LoadDenseNet": b, "Load into another net": c} {
				gotLoss, gotGrad, gotPred := trainRecord(t, n, bs[4:])
				if !slices.Equal(gotLoss, wantLoss) {
					t.Errorf("%s: losses %v, want %v", label, gotLoss, wantLoss)
				}
				for i := range wantGrad {
					if !slices.Equal(gotGrad[i], wantGrad[i]) {
						t.Errorf("%s: dEmb of step %d differs", label, i)
					}
				}
				if !slices.Equal(gotPred, wantPred) {
					t.Errorf("%s: predictions differ", label)
				}
			}
			sa, err := a.State()
			if err != nil {
				t.Fatal(err)
			}
			sc, err := c.State()
			if err != nil {
				t.Fatal(err)
			}
			for i := range sa.Tensors {
				if !slices.Equal(sa.Tensors[i].Data, sc.Tensors[i].Data) {
					t.Errorf("tensor %s differs after resumed training", sa.Tensors[i].Name)
				}
			}
		})
	}
}

// TestLoadDenseNetKeepsConfig checks that the config stored by Save
// rebuilds the same architecture, including an explicitly empty layer list.
func TestLoadDenseNetKeepsConfig(t *testing.T) {
	cfg := smallConfig(densenet.ModelDCNv2, 3)
	cfg.DeepMLP = []int{} // cross layers only
	cfg.LR = 0.02
	n := mustNet(t, cfg)
	m, err := LoadDenseNet(bytes.NewReader(saveOf(t, n)))
	if err != nil {
		t.Fatal(err)
	}
	got, want := m.Config(), n.Config()
	if got.DeepMLP == nil || len(got.DeepMLP) != 0 || got.LR != 0.02 || got.CrossLayers != 2 || len(m.specs) != len(n.specs) {
		t.Errorf("loaded config %+v, want %+v", got, want)
	}
}

func TestStateLayout(t *testing.T) {
	n := mustNet(t, smallConfig(densenet.ModelDLRM, 3))
	s, err := n.State()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tn := range s.Tensors {
		names = append(names, tn.Name)
	}
	params := []string{
		"bottom/0/w", "bottom/0/b", "bottom/1/w", "bottom/1/b",
		"top/0/w", "top/0/b", "top/1/w", "top/1/b", "top/2/w", "top/2/b",
	}
	var want []string
	for _, prefix := range []string{"", "adam_m/", "adam_v/"} {
		for _, p := range params {
			want = append(want, prefix+p)
		}
	}
	if !slices.Equal(names, want) {
		t.Errorf("state tensors %v, want %v", names, want)
	}
	if !slices.Equal(s.Tensors[4].Dims, []int{3 + 10, 7}) { // top/0/w: [Dim + 5·4/2 pairs, 7]
		t.Errorf("top/0/w dims %v", s.Tensors[4].Dims)
	}
	// The bounds of PyTorch's nn.Linear init: |w| <= 1/sqrt(fan_in).
	for _, v := range s.Tensors[0].Data {
		if v < -1/1.7320508 || v > 1/1.7320508 {
			t.Fatalf("bottom/0/w value %v outside U(-1/sqrt(3), 1/sqrt(3))", v)
		}
	}
}

func TestStateErrors(t *testing.T) {
	cfg := smallConfig(densenet.ModelDCNv2, 3)
	n := mustNet(t, cfg)
	var saved bytes.Buffer
	if err := n.Save(&saved); err != nil {
		t.Fatal(err)
	}
	data := saved.Bytes()

	flipped := slices.Clone(data)
	flipped[len(flipped)/2] ^= 1
	for name, b := range map[string][]byte{
		"empty":     nil,
		"bad magic": append([]byte("NOTMAGIC"), data[8:]...),
		"truncated": data[:len(data)-7],
		"bit flip":  flipped,
	} {
		if err := n.Load(bytes.NewReader(b)); !errors.Is(err, densenet.ErrCorruptState) {
			t.Errorf("%s: got %v, want densenet.ErrCorruptState", name, err)
		}
		if _, err := LoadDenseNet(bytes.NewReader(b)); !errors.Is(err, densenet.ErrCorruptState) {
			t.Errorf("LoadDenseNet %s: got %v, want densenet.ErrCorruptState", name, err)
		}
	}

	// A state of another architecture is refused and leaves the net as it was.
	before, err := n.State()
	if err != nil {
		t.Fatal(err)
	}
	other := cfg
	other.CrossLayers = 1
	if err := n.Load(bytes.NewReader(saveOf(t, mustNet(t, other)))); !errors.Is(err, densenet.ErrStateMismatch) {
		t.Errorf("other architecture: got %v, want densenet.ErrStateMismatch", err)
	}
	s := before
	s.Tensors = slices.Clone(s.Tensors)
	s.Tensors[1].Dims = []int{1, s.Tensors[1].Dims[0]}
	if err := n.SetState(s); !errors.Is(err, densenet.ErrStateMismatch) {
		t.Errorf("wrong dims: got %v, want densenet.ErrStateMismatch", err)
	}
	after, err := n.State()
	if err != nil {
		t.Fatal(err)
	}
	for i := range before.Tensors {
		if !slices.Equal(before.Tensors[i].Data, after.Tensors[i].Data) {
			t.Fatalf("a refused state changed %s", before.Tensors[i].Name)
		}
	}
}

func saveOf(t *testing.T, n *GoMLXNet) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := n.Save(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
