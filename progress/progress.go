// Package progress draws a one-line progress bar on a terminal for long
// work: count, rate, ETA and caller-supplied details (a loss, say).
//
// A Bar redraws at most every 200 ms; when the output is not a terminal it
// prints a plain line every few seconds instead, so logs stay readable.
// Methods are safe for concurrent use.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// Bar is a progress bar. The zero value is not usable; use New.
type Bar struct {
	mu       sync.Mutex
	w        io.Writer
	label    string
	unit     string
	total    int64
	n        int64
	base     int64 // count done before start (SetDone), not in the rate
	detail   string
	start    time.Time
	last     time.Time
	tty      bool
	interval time.Duration
	done     bool
	disabled bool
}

// New starts a bar writing to w (usually os.Stderr). total <= 0 means
// unknown. unit names what is counted ("rows", "samples").
func New(w io.Writer, label string, total int64, unit string) *Bar {
	b := &Bar{w: w, label: label, total: total, unit: unit, start: time.Now(), interval: 200 * time.Millisecond}
	if f, ok := w.(*os.File); ok && isTerminal(f) {
		b.tty = true
	} else {
		b.interval = 5 * time.Second
	}
	return b
}

// Disabled returns a bar that draws nothing (for --quiet or --json runs).
func Disabled() *Bar { return &Bar{disabled: true, start: time.Now()} }

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Set sets the count and redraws if due.
func (b *Bar) Set(n int64) {
	b.mu.Lock()
	b.n = n
	b.maybeDraw()
	b.mu.Unlock()
}

// SetDone sets the count to n, done before now (by an earlier, resumed
// run, say): it shows in the count but not in the rate or the ETA.
func (b *Bar) SetDone(n int64) {
	b.mu.Lock()
	b.n, b.base = n, n
	b.start = time.Now()
	b.mu.Unlock()
}

// Add adds d to the count.
func (b *Bar) Add(d int64) {
	b.mu.Lock()
	b.n += d
	b.maybeDraw()
	b.mu.Unlock()
}

// Detail sets free text shown after the rate (e.g. "loss 0.4512").
func (b *Bar) Detail(s string) {
	b.mu.Lock()
	b.detail = s
	b.mu.Unlock()
}

// SetTotal changes the expected total.
func (b *Bar) SetTotal(total int64) {
	b.mu.Lock()
	b.total = total
	b.mu.Unlock()
}

// Phase ends the current phase and starts the next one under label, with
// the count back at 0, the given total (<= 0: unknown) and unit ("" keeps
// the current one), no detail and a fresh clock for the rate and ETA. The
// phase that ends draws its final state on a line of its own (when it
// counted anything), so that its count and details stay visible instead of
// being shown under the next phase's label.
func (b *Bar) Phase(label string, total int64, unit string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.disabled && !b.done && b.n > 0 {
		b.draw(time.Now(), true)
	}
	b.label, b.total, b.n, b.base, b.detail = label, total, 0, 0, ""
	if unit != "" {
		b.unit = unit
	}
	b.start, b.last = time.Now(), time.Time{}
}

// Label changes the label (e.g. the phase of a job).
func (b *Bar) Label(s string) {
	b.mu.Lock()
	b.label = s
	b.mu.Unlock()
}

func (b *Bar) maybeDraw() {
	if b.disabled || b.done {
		return
	}
	now := time.Now()
	if now.Sub(b.last) < b.interval {
		return
	}
	b.last = now
	b.draw(now, false)
}

// Rate returns the count per second so far.
func (b *Bar) Rate() float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.rate(time.Now())
}

func (b *Bar) rate(now time.Time) float64 {
	el := now.Sub(b.start).Seconds()
	if el <= 0 {
		return 0
	}
	return float64(b.n-b.base) / el
}

func (b *Bar) draw(now time.Time, final bool) {
	var sb strings.Builder
	rate := b.rate(now)
	if b.tty {
		sb.WriteString("\r\033[K")
	}
	sb.WriteString(b.label)
	if b.total > 0 {
		frac := float64(b.n) / float64(b.total)
		frac = min(max(frac, 0), 1)
		const width = 24
		fill := int(frac * width)
		fmt.Fprintf(&sb, " [%s%s] %5.1f%% %s/%s %s", strings.Repeat("=", fill), strings.Repeat(" ", width-fill),
			100*frac, human(b.n), human(b.total), b.unit)
	} else {
		fmt.Fprintf(&sb, " %s %s", human(b.n), b.unit)
	}
	fmt.Fprintf(&sb, " %s/s", human(int64(rate)))
	if b.total > 0 && rate > 0 && !final {
		eta := time.Duration(float64(b.total-b.n) / rate * float64(time.Second))
		fmt.Fprintf(&sb, " ETA %s", eta.Round(time.Second))
	}
	if final {
		fmt.Fprintf(&sb, " in %s", now.Sub(b.start).Round(10*time.Millisecond))
	}
	if b.detail != "" {
		sb.WriteString(" ")
		sb.WriteString(b.detail)
	}
	if !b.tty || final {
		sb.WriteString("\n")
	}
	io.WriteString(b.w, sb.String())
}

// Done draws the final state and ends the line.
func (b *Bar) Done() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.disabled || b.done {
		return
	}
	b.done = true
	b.draw(time.Now(), true)
}

// human formats n with a k/M/G suffix.
func human(n int64) string {
	f := float64(n)
	switch {
	case f >= 1e9:
		return fmt.Sprintf("%.2fG", f/1e9)
	case f >= 1e6:
		return fmt.Sprintf("%.2fM", f/1e6)
	case f >= 1e4:
		return fmt.Sprintf("%.1fk", f/1e3)
	}
	return fmt.Sprintf("%d", n)
}
