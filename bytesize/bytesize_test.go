package bytesize

import "testing"

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"", 0, true}, {"0", 0, true}, {"123", 123, true}, {"4MiB", 4 << 20, true}, {"4mib", 4 << 20, true},
		{"1.5GiB", 3 << 29, true}, {"2MB", 2000000, true}, {"10k", 10240, true}, {"7 B", 7, true},
		{"-1", 0, false}, {"abc", 0, false}, {"1XB", 0, false}, {"NaN", 0, false},
	}
	for _, tc := range tests {
		got, err := Parse(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("Parse(%q) = %d, %v; want %d ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestFormat(t *testing.T) {
	if got := Format(4 << 20); got != "4.00MiB" {
		t.Errorf("Format = %q", got)
	}
	if got := Format(12); got != "12B" {
		t.Errorf("Format = %q", got)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"4MiB", "1.5GB", "12", "", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Parse(s)
		if err == nil && n < 0 {
			t.Fatalf("Parse(%q) = %d < 0", s, n)
		}
	})
}
