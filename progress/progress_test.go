package progress

import (
	"bytes"
	"strings"
	"testing"
)

func TestBarNonTTY(t *testing.T) {
	var buf bytes.Buffer
	b := New(&buf, "convert", 100, "rows")
	b.Set(50)
	b.Detail("loss 0.5")
	b.Set(100)
	b.Done()
	out := buf.String()
	if !strings.Contains(out, "convert") || !strings.Contains(out, "100.0%") || !strings.Contains(out, "loss 0.5") {
		t.Fatalf("final line missing parts: %q", out)
	}
	if strings.Contains(out, "\r") {
		t.Fatalf("non-terminal output must not use carriage returns: %q", out)
	}
	b.Done() // idempotent
	if buf.String() != out {
		t.Fatal("second Done drew again")
	}
}

func TestHuman(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{{5, "5"}, {9999, "9999"}, {12345, "12.3k"}, {2500000, "2.50M"}, {3e9, "3.00G"}}
	for _, tc := range tests {
		if got := human(tc.n); got != tc.want {
			t.Errorf("human(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

func TestDisabledDrawsNothing(t *testing.T) {
	b := Disabled()
	b.Set(10)
	b.Done()
}
