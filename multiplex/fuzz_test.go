package multiplex_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/multiplex"
)

// fuzzConfigs are valid configs of each method.
func fuzzConfigs() []multiplex.Config {
	opt := embedding.Optimizer{Name: embedding.RowwiseAdagrad, LR: 0.1}
	adam := embedding.Optimizer{Name: embedding.LazyAdam, LR: 0.01}
	return []multiplex.Config{
		{Method: multiplex.MethodMultiplex, Fields: 2, Dim: 4, Rows: []int{9}, Optimizer: opt, Seed: 1},
		{Method: multiplex.MethodUnified, Fields: 3, Dim: 6, ChunkDim: 2, Chunks: []int{3, 1, 2}, Tables: 2, Rows: []int{5, 4}, Optimizer: adam},
		{Method: multiplex.MethodMultiProbe, Fields: 2, Dim: 3, Probes: 3, Rows: []int{11}, Optimizer: opt, Storage: embedding.StorageInt8},
	}
}

// FuzzLoadConfig feeds corrupt JSON configs to LoadConfig: each must load
// or fail with ErrConfig or ErrUnknownMethod, and a config that loads
// must load again after a JSON round trip.
func FuzzLoadConfig(f *testing.F) {
	for _, c := range fuzzConfigs() {
		js, err := json.Marshal(c)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(js)
		f.Add(js[:len(js)/2])
		f.Add(append(bytes.Clone(js), " {}"...))
	}
	f.Add([]byte(`{"method":"unified","chunks":[2,2],"chunk_dim":4}`))
	f.Add([]byte(`{"method":"multiprobe","fields":-1}`))
	path := filepath.Join(f.TempDir(), "config.json")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := multiplex.LoadConfig(path)
		if err != nil {
			if !errors.Is(err, multiplex.ErrConfig) && !errors.Is(err, multiplex.ErrUnknownMethod) {
				t.Fatalf("error wraps neither ErrConfig nor ErrUnknownMethod: %v", err)
			}
			return
		}
		js, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("marshal a loaded config: %v", err)
		}
		if err := os.WriteFile(path, js, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := multiplex.LoadConfig(path); err != nil {
			t.Fatalf("reload of %s: %v", js, err)
		}
	})
}

// plainReader hides the Len method of a bytes.Reader.
type plainReader struct{ r io.Reader }

func (p plainReader) Read(b []byte) (int, error) { return p.r.Read(b) }

// FuzzLoad feeds corrupt table streams to Load, from a reader that tells
// its length and from one that does not: each must load or fail with one
// of embedding's persistence errors, without panicking or allocating for
// rows the stream does not hold.
func FuzzLoad(f *testing.F) {
	for _, c := range fuzzConfigs() {
		tbl, err := multiplex.New(c)
		if err != nil {
			f.Fatal(err)
		}
		var b bytes.Buffer
		if err := tbl.Save(&b); err != nil {
			f.Fatal(err)
		}
		s := b.Bytes()
		f.Add(s)
		f.Add(s[:len(s)/2])
		f.Add(s[:len(s)-1])
		for _, at := range []int{9, 13, 20, len(s) / 3, len(s) - 3} {
			m := bytes.Clone(s)
			m[at] ^= 0x08
			f.Add(m)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, r := range []io.Reader{bytes.NewReader(data), plainReader{bytes.NewReader(data)}} {
			_, err := multiplex.Load(r)
			if err == nil || len(data) == 0 && errors.Is(err, io.EOF) {
				continue
			}
			if !errors.Is(err, embedding.ErrCorrupt) && !errors.Is(err, embedding.ErrBadMagic) &&
				!errors.Is(err, embedding.ErrVersion) {
				t.Fatalf("error wraps no persistence error: %v", err)
			}
		}
	})
}

// TestLoadHugeHeaders checks that streams whose configs promise more
// lookups or rows than they hold fail with embedding.ErrCorrupt before
// the table is built.
func TestLoadHugeHeaders(t *testing.T) {
	opt := `"optimizer":{"name":"sgd","lr":0.1}`
	for name, js := range map[string]string{
		"fields": `{"method":"multiplex","fields":1000000000000,"dim":4,"rows":[5],` + opt + `}`,
		"probes": `{"method":"multiprobe","fields":1000,"probes":1000000,"dim":4,"rows":[5],` + opt + `}`,
		"chunks": `{"method":"unified","chunks":[1000000000000],"chunk_dim":1,"dim":1000000000000,"rows":[5],` + opt + `}`,
		"rows":   `{"method":"multiplex","fields":2,"dim":4096,"rows":[2000000000],` + opt + `}`,
		"wrap":   `{"method":"unified","fields":1,"dim":2,"tables":2,"rows":[5,9223372036854775807],` + opt + `}`,
	} {
		b := []byte("EMBTMPLX\x01\x00\x00\x00")
		b = append(b, byte(len(js)), byte(len(js)>>8), 0, 0)
		b = append(b, js...)
		for _, r := range []io.Reader{bytes.NewReader(b), plainReader{bytes.NewReader(b)}} {
			if _, err := multiplex.Load(r); !errors.Is(err, embedding.ErrCorrupt) {
				t.Errorf("%s: %v, want ErrCorrupt", name, err)
			}
		}
	}
}
