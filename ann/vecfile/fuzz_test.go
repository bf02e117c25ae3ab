package vecfile

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzReadFvecs feeds corrupt .fvecs streams to ReadFvecs: each must read
// or fail with ErrFormat, and a stream that reads must be exactly what
// WriteFvecs writes for the vectors read.
func FuzzReadFvecs(f *testing.F) {
	var buf bytes.Buffer
	if err := WriteFvecs(&buf, []float32{1, -2, 3.5, 0, 4, 5, 6, 7, -8}, 3); err != nil {
		f.Fatal(err)
	}
	s := buf.Bytes()
	f.Add(s)
	f.Add(s[:len(s)-1])
	f.Add(s[:2])
	for _, at := range []int{0, 3, 16, 17} {
		b := bytes.Clone(s)
		b[at] ^= 0x80
		f.Add(b)
	}
	f.Add([]byte{0, 0, 16, 0}) // a dim of 1M floats and no values
	f.Fuzz(func(t *testing.T, data []byte) {
		vals, dim, err := ReadFvecs(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error does not wrap ErrFormat: %v", err)
			}
			return
		}
		if len(data) == 0 {
			if vals != nil || dim != 0 {
				t.Fatalf("empty stream: %d values, dim %d", len(vals), dim)
			}
			return
		}
		var out bytes.Buffer
		if err := WriteFvecs(&out, vals, dim); err != nil {
			t.Fatalf("write back %d values of dim %d: %v", len(vals), dim, err)
		}
		if !bytes.Equal(out.Bytes(), data) {
			t.Fatal("the vectors read write back to other bytes")
		}
	})
}
