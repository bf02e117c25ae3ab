package ann

import (
	"bytes"
	"testing"
)

// FuzzLoad checks that no file makes Load panic, and that a file Load
// accepts can be searched.
func FuzzLoad(f *testing.F) {
	for _, cfg := range []Config{
		{Dim: 4, M: 2, EfConstruction: 8, Seed: 1},
		{Dim: 3, M: 3, EfConstruction: 8, Metric: L2, Quantization: Int8, Rerank: true},
	} {
		ix, err := New(cfg)
		if err != nil {
			f.Fatal(err)
		}
		for i := 0; i < 20; i++ {
			v := make([]float32, cfg.Dim)
			for j := range v {
				v[j] = float32((i*7+j*3)%11) - 5
			}
			if err := ix.Add(uint64(i), v); err != nil {
				f.Fatal(err)
			}
		}
		_ = ix.Delete(3)
		var buf bytes.Buffer
		if err := ix.Save(&buf); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ix, err := Load(bytes.NewReader(b))
		if err != nil {
			return
		}
		q := make([]float32, ix.Config().Dim)
		if _, err := ix.Search(q, 5, 16); err != nil {
			t.Fatal(err)
		}
	})
}
