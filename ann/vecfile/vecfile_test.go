package vecfile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"testing"
)

func TestFvecsRoundTrip(t *testing.T) {
	data := []float32{1, 2, 3, -4, 5.5, 6}
	var buf bytes.Buffer
	if err := WriteFvecs(&buf, data, 3); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != 2*(4+12) {
		t.Fatalf("size %d", buf.Len())
	}
	got, dim, err := ReadFvecs(&buf)
	if err != nil || dim != 3 || !slices.Equal(got, data) {
		t.Fatalf("got %v %d %v", got, dim, err)
	}
}

func TestFvecsMalformed(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteFvecs(&buf, []float32{1, 2, 3, 4}, 2); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	for name, in := range map[string][]byte{
		"truncated": b[:len(b)-1],
		"dim":       append(slices.Clone(b[:12]), binary.LittleEndian.AppendUint32(nil, 3)...),
		"zero":      make([]byte, 4),
	} {
		if _, _, err := ReadFvecs(bytes.NewReader(in)); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: err %v", name, err)
		}
	}
	if err := WriteFvecs(&buf, []float32{1, 2, 3}, 2); !errors.Is(err, ErrShape) {
		t.Errorf("shape: %v", err)
	}
}

func TestNpyHeader(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteNpy(&buf, []float32{1, 2, 3, 4, 5, 6}, 3); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	hl := int(binary.LittleEndian.Uint16(b[8:]))
	if string(b[:6]) != "\x93NUMPY" || (10+hl)%64 != 0 || b[10+hl-1] != '\n' || len(b) != 10+hl+24 {
		t.Fatalf("bad header %q", b[:10+hl])
	}
	if !bytes.Contains(b[:10+hl], []byte("'shape': (2, 3)")) {
		t.Fatalf("shape missing: %q", b[:10+hl])
	}
}
