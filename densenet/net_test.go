package densenet

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

// testConfigs are small shapes of every model.
func testConfigs() map[string]Config {
	return map[string]Config{
		"lr":         {Name: ModelLR, NumDense: 3, Fields: 4, Dim: 5},
		"fm":         {Name: ModelFM, NumDense: 3, Fields: 4, Dim: 5},
		"fm-nodense": {Name: ModelFM, Fields: 4, Dim: 5},
		"fm-scaled":  {Name: ModelFM, NumDense: 3, Fields: 4, Dim: 5, FMScale: 0.25},
		"deepfm":     {Name: ModelDeepFM, NumDense: 3, Fields: 4, Dim: 5, DeepMLP: []int{8, 6}},
		"dlrm":       {Name: ModelDLRM, NumDense: 3, Fields: 4, Dim: 5, BottomMLP: []int{7, 5}, TopMLP: []int{8}},
		"dcnv2":      {Name: ModelDCNv2, NumDense: 3, Fields: 4, Dim: 5, DeepMLP: []int{6}, CrossLayers: 2},
		"autoint":    {Name: ModelAutoInt, NumDense: 3, Fields: 4, Dim: 5, AttentionLayers: 2, Heads: 2, HeadDim: 3},
		"din":        {Name: ModelDIN, NumDense: 3, Fields: 6, Dim: 5, SeqStart: 2, SeqLen: 3, Target: 1, AttentionUnits: 4, DeepMLP: []int{6}},
		"autoint+":   {Name: ModelAutoIntPlus, Fields: 4, Dim: 5, AttentionLayers: 1, Heads: 1, HeadDim: 4, DeepMLP: []int{6}},
	}
}

func randBatch(c Config, batch int, seed uint64) (dense, emb, labels []float32) {
	rng := rand.New(rand.NewPCG(seed, 1))
	f := func(n int) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = rng.Float32()*2 - 1
		}
		return s
	}
	dense, emb = f(batch*c.NumDense), f(batch*c.Fields*c.Dim)
	labels = make([]float32, batch)
	for i := range labels {
		labels[i] = float32(rng.IntN(2))
	}
	return dense, emb, labels
}

// TestConcurrentPredict runs Predict from many goroutines on one net
// (run it with -race) and checks every result against a sequential one.
func TestConcurrentPredict(t *testing.T) {
	for name, cfg := range testConfigs() {
		t.Run(name, func(t *testing.T) {
			n, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer n.Close()
			n.SetThreads(2)
			// Train a few steps so the parameters are not the initial ones.
			for s := range 3 {
				d, e, l := randBatch(cfg, 16, uint64(s))
				if _, err := n.ForwardBackward(d, e, l, 16, make([]float32, len(e))); err != nil {
					t.Fatal(err)
				}
			}
			const calls = 16
			want := make([][]float32, calls)
			for i := range calls {
				b := 1 + i
				d, e, _ := randBatch(cfg, b, uint64(100+i))
				want[i] = make([]float32, b)
				if err := n.Predict(d, e, b, want[i]); err != nil {
					t.Fatal(err)
				}
			}
			var wg sync.WaitGroup
			got := make([][]float32, calls)
			errs := make([]error, calls)
			for i := range calls {
				wg.Go(func() {
					b := 1 + i
					d, e, _ := randBatch(cfg, b, uint64(100+i))
					got[i] = make([]float32, b)
					errs[i] = n.Predict(d, e, b, got[i])
				})
			}
			wg.Wait()
			for i := range calls {
				if errs[i] != nil {
					t.Fatalf("call %d: %v", i, errs[i])
				}
				if !slices.Equal(got[i], want[i]) {
					t.Errorf("call %d: concurrent %v, sequential %v", i, got[i], want[i])
				}
			}
		})
	}
}

// TestSaveLoad checks that Load restores a saved net exactly.
func TestSaveLoad(t *testing.T) {
	for name, cfg := range testConfigs() {
		t.Run(name, func(t *testing.T) {
			n, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			d, e, l := randBatch(cfg, 8, 7)
			if _, err := n.ForwardBackward(d, e, l, 8, make([]float32, len(e))); err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := n.Save(&buf); err != nil {
				t.Fatal(err)
			}
			m, err := Load(bytes.NewReader(buf.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			if m.Step() != 1 {
				t.Errorf("step %d after Load, want 1", m.Step())
			}
			p1, p2 := make([]float32, 8), make([]float32, 8)
			if err := n.Predict(d, e, 8, p1); err != nil {
				t.Fatal(err)
			}
			if err := m.Predict(d, e, 8, p2); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(p1, p2) {
				t.Errorf("loaded net predicts %v, saved %v", p2, p1)
			}
		})
	}
}

// TestFMScaleDefault: a config without fm_scale (an artifact written before
// the field existed) is the plain FM, weight 1; other models drop it.
func TestFMScaleDefault(t *testing.T) {
	for _, tc := range []struct {
		json string
		want float64
	}{
		{`{"name":"fm","fields":4,"dim":5}`, 1},
		{`{"name":"deepfm","fields":4,"dim":5,"fm_scale":0.25}`, 0.25},
		{`{"name":"dlrm","num_dense":3,"fields":4,"dim":5,"fm_scale":0.25}`, 0},
	} {
		var c Config
		if err := json.Unmarshal([]byte(tc.json), &c); err != nil {
			t.Fatal(err)
		}
		if got := c.WithDefaults().FMScale; got != tc.want {
			t.Errorf("%s: FMScale %v, want %v", tc.json, got, tc.want)
		}
	}
	bad := Config{Name: ModelFM, Fields: 4, Dim: 5, FMScale: -1}.WithDefaults()
	if err := bad.Validate(); err == nil {
		t.Error("FMScale -1 validated")
	}
}
