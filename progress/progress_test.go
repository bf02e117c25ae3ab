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

// TestDisabledDrawsNothing gives a disabled bar a writer and every reason
// to draw (a terminal, no redraw interval, a total reached): nothing is
// written.
func TestDisabledDrawsNothing(t *testing.T) {
	var buf bytes.Buffer
	b := Disabled()
	b.w, b.tty, b.total, b.label = &buf, true, 10, "x"
	b.Set(5)
	b.Detail("loss 0.5")
	b.Add(5)
	b.Done()
	if buf.Len() != 0 {
		t.Fatalf("a disabled bar wrote %q", buf.String())
	}
	// The same bar enabled draws: the test would see a draw.
	b = New(&buf, "x", 10, "rows")
	b.Set(10)
	b.Done()
	if buf.Len() == 0 {
		t.Fatal("an enabled bar wrote nothing")
	}
}
