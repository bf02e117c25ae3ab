// Package bytesize parses and formats byte counts such as "4MiB" or
// "1.5GB", the unit in which embtab's memory budgets are given.
//
// Binary suffixes (KiB, MiB, GiB, TiB) are powers of 1024; decimal ones
// (kB/KB, MB, GB, TB) powers of 1000; a bare number or "B" is bytes.
// Suffixes are case-insensitive.
package bytesize

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

var units = []struct {
	suffix string
	mult   float64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"b", 1},
}

// Parse parses a byte count. "" and "0" give 0.
func Parse(s string) (int64, error) {
	t := strings.TrimSpace(strings.ToLower(s))
	if t == "" {
		return 0, nil
	}
	mult := 1.0
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			mult = u.mult
			t = strings.TrimSpace(strings.TrimSuffix(t, u.suffix))
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, fmt.Errorf("byte size %q: want a non-negative number with an optional unit such as KiB, MiB, GB", s)
	}
	b := v * mult
	if b > math.MaxInt64/2 {
		return 0, fmt.Errorf("byte size %q is too large", s)
	}
	return int64(math.Round(b)), nil
}

// Format renders n with a binary unit, e.g. "4.00MiB".
func Format(n int64) string {
	f := float64(n)
	switch {
	case f >= 1<<40:
		return fmt.Sprintf("%.2fTiB", f/(1<<40))
	case f >= 1<<30:
		return fmt.Sprintf("%.2fGiB", f/(1<<30))
	case f >= 1<<20:
		return fmt.Sprintf("%.2fMiB", f/(1<<20))
	case f >= 1<<10:
		return fmt.Sprintf("%.2fKiB", f/(1<<10))
	}
	return fmt.Sprintf("%dB", n)
}
