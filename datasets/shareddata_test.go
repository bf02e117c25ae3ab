package datasets

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/embtab/embtab/internal/shareddata"
)

// sharedCounts reads a raw source to the end and returns its good rows,
// positives and row errors; any other error fails the test.
func sharedCounts(t *testing.T, format, path string, each func(*Record)) (rows, positives int64, bad []*RowError) {
	t.Helper()
	r, err := OpenRaw(format, path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s := NewSkipping(r, Skip, 5)
	rec := NewRecord(r.Schema())
	for {
		err := s.Read(rec)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if each != nil {
			each(rec)
		}
		positives += int64(rec.Label)
	}
	return s.Rows(), positives, s.FirstErrors()
}

// isHashedID reports whether s is 8 lowercase hex digits, the form of the
// Criteo categorical values.
func isHashedID(s string) bool {
	if len(s) != 8 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func TestSharedCriteo(t *testing.T) {
	dir := filepath.Join(shareddata.Dir(t), "criteo")
	want := map[string][2]int64{
		"criteo_wideresdnn_train.tsv":      {7200, 1549},
		"criteo_wideresdnn_dev.tsv":        {409, 93},
		"criteo_paddlerec_100.tsv.gz":      {100, 29},
		"criteo_chenglongchen_4387.tsv.gz": {4387, 1083},
		"criteo_deepctr_182.tsv.gz":        {182, 44},
		"criteo1tb_hillview_1000.tsv.gz":   {1000, 21},
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".tsv") && !strings.HasSuffix(name, ".tsv.gz") {
			continue
		}
		seen++
		t.Run(name, func(t *testing.T) {
			var missingDense, missingCat, notHex int64
			rows, pos, bad := sharedCounts(t, "criteo", filepath.Join(dir, name), func(rec *Record) {
				for _, v := range rec.DenseValid {
					if !v {
						missingDense++
					}
				}
				for _, c := range rec.Cat {
					switch {
					case c == "":
						missingCat++
					case !isHashedID(c):
						notHex++
					}
				}
			})
			if len(bad) != 0 {
				t.Errorf("%d+ bad rows, first: %v", len(bad), bad[0])
			}
			w, ok := want[name]
			if !ok {
				t.Logf("%s: %d rows, %d positives (no expected counts)", name, rows, pos)
				return
			}
			if rows != w[0] || pos != w[1] {
				t.Errorf("%d rows, %d positives; want %d, %d", rows, pos, w[0], w[1])
			}
			if notHex != 0 {
				t.Errorf("%d categorical values are not 8-hex-digit ids", notHex)
			}
			if missingDense == 0 || missingCat == 0 {
				t.Errorf("no missing values seen (dense %d, categorical %d): empty fields misparsed?", missingDense, missingCat)
			}
		})
	}
	if seen < len(want) {
		t.Errorf("found %d Criteo files in %s, want at least %d", seen, dir, len(want))
	}
}

func TestSharedCriteoFirstRow(t *testing.T) {
	path := filepath.Join(shareddata.Dir(t), "criteo", "criteo_wideresdnn_train.tsv")
	r, err := OpenRaw("criteo", path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rec := NewRecord(r.Schema())
	if err := r.Read(rec); err != nil {
		t.Fatal(err)
	}
	// Line 1 of Kaggle train.txt.
	if rec.Label != 0 || rec.Dense[0] != 1 || rec.Dense[4] != 1382 || rec.DenseValid[11] ||
		rec.Cat[0] != "68fd1e64" || rec.Cat[21] != "" || rec.Cat[25] != "9727dd16" {
		t.Errorf("first row = %+v", rec)
	}
}

func TestSharedAvazu(t *testing.T) {
	dir := filepath.Join(shareddata.Dir(t), "avazu")
	for name, w := range map[string][2]int64{
		"avazu_wideresdnn_train.csv": {8087, 1397},
		"avazu_wideresdnn_dev.csv":   {480, 86},
		"avazu_wideresdnn_test.csv":  {432, 80},
		"avazu_deepctr_sample.csv":   {100, 20},
	} {
		t.Run(name, func(t *testing.T) {
			var otherHour int64
			rows, pos, bad := sharedCounts(t, "avazu", filepath.Join(dir, name), func(rec *Record) {
				// All rows are from 2014-10-21 00:00 UTC, a Tuesday.
				if rec.Cat[0] != "14102100" || rec.Timestamp != 1413849600 || rec.Cat[22] != "00" || rec.Cat[23] != "Tue" {
					otherHour++
				}
			})
			if len(bad) != 0 {
				t.Errorf("%d+ bad rows, first: %v", len(bad), bad[0])
			}
			if rows != w[0] || pos != w[1] {
				t.Errorf("%d rows, %d clicks; want %d, %d", rows, pos, w[0], w[1])
			}
			if otherHour != 0 {
				t.Errorf("%d rows not parsed as hour 14102100", otherHour)
			}
		})
	}
}

func TestSharedMovieLens1M(t *testing.T) {
	dir := filepath.Join(shareddata.Dir(t), "movielens", "ml-1m")
	users := map[string]bool{}
	titles := map[string]string{}
	var minTS, maxTS int64 = 1 << 62, 0
	rows, pos, bad := sharedCounts(t, "movielens1m", dir, func(rec *Record) {
		users[rec.Cat[mlCatUser]] = true
		titles[rec.Cat[mlCatMovie]] = rec.Extra[mlExtraTitle]
		minTS, maxTS = min(minTS, rec.Timestamp), max(maxTS, rec.Timestamp)
	})
	if len(bad) != 0 {
		t.Errorf("%d+ bad rows, first: %v", len(bad), bad[0])
	}
	if rows != 487650 {
		t.Errorf("%d rows, want 487650", rows)
	}
	if rate := float64(pos) / float64(rows); rate < 0.55 || rate > 0.60 {
		t.Errorf("label rate %.4f, want about 0.57", rate)
	}
	if pos != 279124 {
		t.Errorf("%d ratings >= 4, want 279124", pos)
	}
	if len(users) != 2999 {
		t.Errorf("%d distinct users, want 2999 (users 1..2999)", len(users))
	}
	// MovieLens 1M ratings were made in 2000-2003.
	if minTS < 956703932 || maxTS > 1046454590 {
		t.Errorf("timestamps %d..%d outside 2000-04-25..2003-02-28", minTS, maxTS)
	}
	for id, title := range titles {
		if !utf8.ValidString(title) {
			t.Errorf("movie %s: title %q is not UTF-8", id, title)
		}
	}
	for id, want := range map[string]string{
		"1":  "Toy Story (1995)",
		"73": "Misérables, Les (1995)",
	} {
		if got, ok := titles[id]; ok && got != want {
			t.Errorf("movie %s: title %q, want %q", id, got, want)
		} else if !ok {
			t.Errorf("movie %s not rated", id)
		}
	}
}

func TestSharedMovieLens1MFirstRow(t *testing.T) {
	r, err := OpenRaw("movielens1m", filepath.Join(shareddata.Dir(t), "movielens", "ml-1m"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rec := NewRecord(r.Schema())
	if err := r.Read(rec); err != nil {
		t.Fatal(err)
	}
	// 1::1193::5::978300760 joined with 1::F::1::10::48067 and
	// 1193::One Flew Over the Cuckoo's Nest (1975)::Drama.
	want := []string{"1", "1193", "F", "1", "10", "48067", "Drama", "Drama", "1975"}
	for i, w := range want {
		if rec.Cat[i] != w {
			t.Errorf("%s = %q, want %q", r.Schema().Categorical[i], rec.Cat[i], w)
		}
	}
	if rec.Label != 1 || rec.Timestamp != 978300760 || rec.Extra[0] != "5" ||
		rec.Extra[1] != "One Flew Over the Cuckoo's Nest (1975)" {
		t.Errorf("record = %+v", rec)
	}
}
