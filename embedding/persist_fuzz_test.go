package embedding_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/embtab/embtab/embedding"
)

// fuzzStreams returns saved streams of small tables of every kind: hashed,
// full, hybrid and QR, fp32 and int8, with and without per-field dims, and
// with optimizers with and without state and step counts.
func fuzzStreams(tb testing.TB) [][]byte {
	tb.Helper()
	sgd := embedding.Optimizer{Name: embedding.SGD, LR: 0.1}
	adam := embedding.Optimizer{Name: embedding.LazyAdam, LR: 0.01}
	rowwise := embedding.Optimizer{Name: embedding.RowwiseAdagrad, LR: 0.1}
	vocab := [][]uint64{{3, 5, 9}, {7}, {1, 2}}
	var tables []embedding.Persister
	add := func(t embedding.Persister, err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
		tables = append(tables, t)
	}
	add(embedding.NewHashed(embedding.Config{Dim: 4, Rows: []int{5, 3}, Optimizer: rowwise, Seed: 1}))
	add(embedding.NewHashed(embedding.Config{Dim: 4, Rows: []int{5, 3}, Optimizer: adam, Seed: 2, Storage: embedding.StorageInt8}))
	add(embedding.NewHashed(embedding.Config{Dim: 4, Rows: []int{5, 3, 2}, Optimizer: sgd, FieldDims: []int{1, 4, 3}}))
	add(embedding.NewHashed(embedding.Config{Dim: 4, Rows: []int{5, 3}, Optimizer: rowwise, Seed: 6, Storage: embedding.StorageALPT}))
	add(embedding.NewFull(vocab, embedding.Config{Dim: 4, Optimizer: sgd, FieldDims: []int{2, 4, 1}, Storage: embedding.StorageALPT}))
	add(embedding.NewFull(vocab, embedding.Config{Dim: 3, Optimizer: adam, Seed: 3}))
	add(embedding.NewFull(vocab, embedding.Config{Dim: 4, Optimizer: rowwise, FieldDims: []int{2, 4, 1}, Storage: embedding.StorageInt8}))
	add(embedding.NewQR(embedding.Config{Dim: 3, Rows: []int{3, 2}, RemRows: []int{2, 4}, Optimizer: rowwise, Seed: 4}))
	add(embedding.NewQR(embedding.Config{Dim: 2, Rows: []int{2}, RemRows: []int{3}, Combine: embedding.CombineSum, Optimizer: sgd, Storage: embedding.StorageInt8}))
	add(embedding.NewHybrid([][]uint64{{4, 8}, nil}, embedding.HybridConfig{Dim: 3, TailRows: []int{3, 2}, Optimizer: adam, Seed: 5}))
	add(embedding.NewHybrid([][]uint64{{4}, {6, 1}}, embedding.HybridConfig{Dim: 4, TailRows: []int{2, 2}, Optimizer: rowwise, FieldDims: []int{4, 2}, Storage: embedding.StorageInt8}))
	var out [][]byte
	for _, t := range tables {
		var b bytes.Buffer
		if err := t.Save(&b); err != nil {
			tb.Fatal(err)
		}
		out = append(out, b.Bytes())
	}
	return out
}

// plainReader hides the Len method of a bytes.Reader, so that the
// loaders cannot tell how many bytes are left.
type plainReader struct{ r io.Reader }

func (p plainReader) Read(b []byte) (int, error) { return p.r.Read(b) }

// loadAny loads a table or hybrid table from r, by the stream's magic.
func loadAny(data []byte, r io.Reader) (embedding.Persister, error) {
	if bytes.HasPrefix(data, []byte("EMBHYBRD")) {
		return embedding.LoadHybrid(r)
	}
	t, err := embedding.Load(r)
	if err != nil {
		return nil, err
	}
	return t.(embedding.Persister), nil
}

// TestLoadLeavesTrailingBytes checks that the loaders read exactly their
// stream, from a reader that tells its length and from one that does not
// (which the loaders stage in memory), so that streams can follow each
// other.
func TestLoadLeavesTrailingBytes(t *testing.T) {
	trailer := []byte("trailing bytes")
	for i, s := range fuzzStreams(t) {
		for _, plain := range []bool{false, true} {
			br := bytes.NewReader(append(append([]byte(nil), s...), trailer...))
			var r io.Reader = br
			if plain {
				r = plainReader{br}
			}
			if _, err := loadAny(s, r); err != nil {
				t.Fatalf("stream %d (plain reader %t): %v", i, plain, err)
			}
			if rest, _ := io.ReadAll(br); !bytes.Equal(rest, trailer) {
				t.Fatalf("stream %d (plain reader %t): %q left after the table, want %q", i, plain, rest, trailer)
			}
		}
		for _, cut := range []int{10, 16, len(s) / 2, len(s) - 8, len(s) - 1} {
			for _, plain := range []bool{false, true} {
				var r io.Reader = bytes.NewReader(s[:cut])
				if plain {
					r = plainReader{r}
				}
				_, err := loadAny(s, r)
				if !errors.Is(err, embedding.ErrCorrupt) || !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("stream %d cut at %d of %d (plain reader %t): %v, want ErrCorrupt and io.ErrUnexpectedEOF", i, cut, len(s), plain, err)
				}
			}
		}
	}
}

// FuzzLoad feeds corrupt table streams to Load and LoadHybrid. Every
// stream must load or fail with an error of the package's persistence
// errors, the same from a reader that tells its length and from one that
// does not, without panicking or allocating for sizes the stream does not
// hold; a stream that loads must save and load back to the same stream.
func FuzzLoad(f *testing.F) {
	for _, s := range fuzzStreams(f) {
		f.Add(s)
		f.Add(s[:len(s)/2])
		f.Add(s[:len(s)-1])
		for _, at := range []int{9, 13, len(s) / 3, len(s) - 3} {
			b := bytes.Clone(s)
			b[at] ^= 0x10
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tbl, err := loadAny(data, bytes.NewReader(data))
		_, perr := loadAny(data, plainReader{bytes.NewReader(data)})
		if (err == nil) != (perr == nil) {
			t.Fatalf("sized reader: %v; plain reader: %v", err, perr)
		}
		if err != nil {
			if len(data) == 0 && errors.Is(err, io.EOF) && errors.Is(perr, io.EOF) {
				return // an empty stream is io.EOF
			}
			for _, e := range []error{err, perr} {
				if !errors.Is(e, embedding.ErrCorrupt) && !errors.Is(e, embedding.ErrBadMagic) && !errors.Is(e, embedding.ErrVersion) {
					t.Fatalf("error wraps none of ErrCorrupt, ErrBadMagic, ErrVersion: %v", e)
				}
			}
			return
		}
		var saved bytes.Buffer
		if err := tbl.Save(&saved); err != nil {
			t.Fatalf("Save of a loaded table: %v", err)
		}
		again, err := loadAny(saved.Bytes(), bytes.NewReader(saved.Bytes()))
		if err != nil {
			t.Fatalf("Load of a saved loaded table: %v", err)
		}
		var resaved bytes.Buffer
		if err := again.Save(&resaved); err != nil {
			t.Fatalf("second Save: %v", err)
		}
		if !bytes.Equal(saved.Bytes(), resaved.Bytes()) {
			t.Fatal("Save, Load, Save changed the stream")
		}
	})
}

// TestLoadHugeHeaders checks that streams whose configs promise far more
// rows than they hold fail with ErrCorrupt before the table is allocated
// (each would take terabytes), from both kinds of reader.
func TestLoadHugeHeaders(t *testing.T) {
	header := func(magic, version, js string) []byte {
		b := []byte(magic)
		b = binary.LittleEndian.AppendUint32(b, map[string]uint32{"1": 1, "2": 2, "3": 3}[version])
		b = binary.LittleEndian.AppendUint32(b, uint32(len(js)))
		return append(b, js...)
	}
	opt := `"optimizer":{"name":"lazy_adam","lr":0.1}`
	for name, s := range map[string][]byte{
		"hashed":        header("EMBTABLE", "1", `{"method":"hashed","dim":4096,"rows":[2147483647],`+opt+`}`),
		"hashed wide":   header("EMBTABLE", "1", `{"method":"hashed","dim":9223372036854775807,"rows":[2],`+opt+`}`),
		"hashed int8":   header("EMBTABLE", "2", `{"method":"hashed","dim":64,"rows":[1000000000,1000000000],"storage":"int8",`+opt+`}`),
		"hashed fields": header("EMBTABLE", "3", `{"method":"hashed","dim":64,"rows":[1000000000,1000],"field_dims":[64,1],`+opt+`}`),
		"hashed wrap":   header("EMBTABLE", "1", `{"method":"hashed","dim":4,"rows":[5,9223372036854775807],`+opt+`}`),
		"qr":            header("EMBTABLE", "1", `{"method":"qr","dim":4096,"rows":[1000000000],"rem_rows":[1000000000],`+opt+`}`),
		"full":          header("EMBTABLE", "1", `{"method":"full","dim":4096,"rows":[2147483647],`+opt+`}`),
		"full wrap":     header("EMBTABLE", "1", `{"method":"full","dim":4,"rows":[5,9223372036854775807],`+opt+`}`),
		"hybrid":        header("EMBHYBRD", "1", `{"method":"hybrid","dim":4096,"head_rows":[2000000000],"tail_rows":[1000],`+opt+`}`),
		"hybrid wrap":   header("EMBHYBRD", "1", `{"method":"hybrid","dim":4,"head_rows":[9223372036854775807],"tail_rows":[1],`+opt+`}`),
	} {
		for _, plain := range []bool{false, true} {
			var r io.Reader = bytes.NewReader(s)
			if plain {
				r = plainReader{r}
			}
			if _, err := loadAny(s, r); !errors.Is(err, embedding.ErrCorrupt) {
				t.Errorf("%s (plain reader %t): %v, want ErrCorrupt", name, plain, err)
			}
		}
	}
}
