package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
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

// TestPhase: a new phase shows its own count, total and unit from zero,
// and the phase that ended keeps its final line (its count and detail),
// instead of the next label over the old counts.
func TestPhase(t *testing.T) {
	var buf bytes.Buffer
	b := New(&buf, "epoch 1/1", 1000, "samples")
	b.Set(1000)
	b.Detail("loss 0.4512")
	b.Phase("eval 1/1", 200, "rows")
	b.Set(200)
	b.Detail("test AUC 0.7000")
	b.Done()
	var lines []string // the final lines (" in <duration>")
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if strings.Contains(l, " in ") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 2 {
		t.Fatalf("want one final line per phase, got %q", buf.String())
	}
	for i, want := range [][]string{
		{"epoch 1/1", "1000/1000 samples", "loss 0.4512"},
		{"eval 1/1", "200/200 rows", "test AUC 0.7000"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i], w) {
				t.Errorf("line %d %q lacks %q", i, lines[i], w)
			}
		}
	}
	if strings.Contains(lines[1], "loss") || strings.Contains(lines[1], "samples") {
		t.Errorf("the eval phase shows the training phase's state: %q", lines[1])
	}
	// A phase that counted nothing draws nothing when it ends.
	buf.Reset()
	b = New(&buf, "scan", 0, "rows")
	b.Phase("train", 10, "")
	if buf.Len() != 0 {
		t.Errorf("an empty phase drew %q", buf.String())
	}
	// Disabled bars stay silent.
	d := Disabled()
	d.w = &buf
	d.Set(3)
	d.Phase("x", 1, "rows")
	if buf.Len() != 0 {
		t.Errorf("a disabled bar drew %q", buf.String())
	}
}

// TestSetDone: a count done before (a resumed run's) is shown but not in
// the rate.
func TestSetDone(t *testing.T) {
	b := New(&bytes.Buffer{}, "epoch", 1000, "samples")
	b.SetDone(900)
	b.Add(10)
	if b.n != 910 {
		t.Fatalf("count %d, want 910", b.n)
	}
	if r := b.rate(b.start.Add(time.Second)); r != 10 {
		t.Fatalf("rate %v a second after SetDone(900) and Add(10), want 10", r)
	}
}
