package streamsize

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

var errCorrupt = errors.New("corrupt")

// onlyReader hides Len and Seek.
type onlyReader struct{ io.Reader }

func TestAtLeast(t *testing.T) {
	data := []byte("0123456789")
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	f.Write(data)
	f.Seek(3, io.SeekStart)
	defer f.Close()
	cases := []struct {
		name string
		r    func() io.Reader
		left int64
	}{
		{"bytes.Reader", func() io.Reader { return bytes.NewReader(data) }, 10},
		{"file at 3", func() io.Reader { f.Seek(3, io.SeekStart); return f }, 7},
		{"plain reader", func() io.Reader { return onlyReader{bytes.NewReader(data)} }, 10},
	}
	for _, c := range cases {
		if n, ok := Remaining(c.r()); ok != (c.name != "plain reader") || ok && n != c.left {
			t.Errorf("%s: Remaining %d %v", c.name, n, ok)
		}
		r, err := AtLeast(c.r(), c.left, errCorrupt)
		if err != nil {
			t.Fatalf("%s: exact need: %v", c.name, err)
		}
		if got, _ := io.ReadAll(r); int64(len(got)) != c.left {
			t.Errorf("%s: read %d bytes after the check, want %d", c.name, len(got), c.left)
		}
		_, err = AtLeast(c.r(), c.left+1, errCorrupt)
		if !errors.Is(err, errCorrupt) || !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%s: one byte short: %v", c.name, err)
		}
	}
	if pos, _ := f.Seek(0, io.SeekCurrent); pos != 3 {
		t.Errorf("Remaining moved the file to %d", pos)
	}
}
