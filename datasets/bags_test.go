package datasets

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"slices"
	"testing"

	"github.com/embtab/embtab/hashing"
)

// Ratings of user 1 at t=10 (pos), 20 (pos), 20 (pos, same second), 30
// (neg), 40 (pos); user 2 at 5 (pos), 15 (neg), in an order that is not by
// time.
const bagRatings = "1::73::5::20\n1::1::4::10\n2::1::5::5\n1::99::4::20\n1::100::2::30\n2::73::1::15\n1::73::4::40\n"

func openBagFixture(t *testing.T, opt MovieLensOptions) RecordReader {
	t.Helper()
	dir := writeMovieLensDir(t, map[string]string{
		"users.dat": ml1MUsers, "movies.dat": ml1MMovies, "ratings.dat": bagRatings,
	})
	r, err := OpenMovieLens(dir, FormatMovieLens1M, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestMovieLensBags(t *testing.T) {
	r := openBagFixture(t, MovieLensOptions{GenresBag: true, History: 2})
	s := r.Schema()
	if slices.Contains(s.Categorical, "genres") || !slices.Equal(s.Bags, []Bag{{Name: "genres"}, {Name: "history", Of: "movie_id"}}) {
		t.Fatalf("schema categorical %v bags %v", s.Categorical, s.Bags)
	}
	if s.NumFields() != len(s.Categorical)+1 || s.NumSlots() != len(s.Categorical)+2 ||
		s.BagField(0) != len(s.Categorical) || s.BagField(1) != slices.Index(s.Categorical, "movie_id") {
		t.Fatalf("fields %d slots %d bag fields %d %d", s.NumFields(), s.NumSlots(), s.BagField(0), s.BagField(1))
	}
	want := []struct {
		genres, history []string
	}{
		{[]string{"Drama", "Musical"}, []string{"1"}},        // user 1 at 20: only t=10 is before
		{[]string{"Animation", "Children's", "Comedy"}, nil}, // user 1 at 10
		{[]string{"Animation", "Children's", "Comedy"}, nil}, // user 2 at 5
		{[]string{"Drama"}, []string{"1"}},                   // user 1 at 20 (same second as 73)
		{[]string{"Comedy", "Drama"}, []string{"73", "99"}},  // user 1 at 30: last 2 of 1, 73, 99
		{[]string{"Drama", "Musical"}, []string{"1"}},        // user 2 at 15
		{[]string{"Drama", "Musical"}, []string{"73", "99"}}, // user 1 at 40: 30 was negative
	}
	rec := NewRecord(s)
	for i, w := range want {
		if err := r.Read(rec); err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
		if !slices.Equal(rec.Bags[0], w.genres) || !slices.Equal(rec.Bags[1], w.history) {
			t.Errorf("row %d: genres %q history %q, want %q %q", i, rec.Bags[0], rec.Bags[1], w.genres, w.history)
		}
	}
	if err := r.Read(rec); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last row: %v", err)
	}
}

func TestBagsParquetRoundTrip(t *testing.T) {
	src := openBagFixture(t, MovieLensOptions{GenresBag: true, History: 3})
	var want []*Record
	for {
		rec := NewRecord(src.Schema())
		err := src.Read(rec)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		c := NewRecord(src.Schema())
		c.CopyFrom(rec)
		want = append(want, c)
	}
	out := filepath.Join(t.TempDir(), "bags.parquet")
	if _, err := Convert(context.Background(), openBagFixture(t, MovieLensOptions{GenresBag: true, History: 3}), out,
		ConvertOptions{RowGroupRows: 3}); err != nil {
		t.Fatal(err)
	}
	rr, err := OpenParquetRecords(out)
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Close()
	if !slices.Equal(rr.Schema().Bags, src.Schema().Bags) {
		t.Fatalf("bags %v, want %v", rr.Schema().Bags, src.Schema().Bags)
	}
	got := readAllRecords(t, rr)
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d", len(got), len(want))
	}
	for i := range want {
		for k := range want[i].Bags {
			if !slices.Equal(got[i].Bags[k], want[i].Bags[k]) && (len(got[i].Bags[k]) > 0 || len(want[i].Bags[k]) > 0) {
				t.Errorf("record %d bag %d: %q, want %q", i, k, got[i].Bags[k], want[i].Bags[k])
			}
		}
		if !slices.Equal(got[i].Cat, want[i].Cat) {
			t.Errorf("record %d: cat %q, want %q", i, got[i].Cat, want[i].Cat)
		}
	}

	// Batches from Parquet and from the raw reader agree, ids hashed with
	// the bag's field (the history shares movie_id's salt).
	for _, pq := range []bool{true, false} {
		var br BatchReader
		if pq {
			br, err = OpenParquetBatches(out, BatchOptions{BatchSize: 4})
		} else {
			br = NewRecordBatcher(openBagFixture(t, MovieLensOptions{GenresBag: true, History: 3}), BatchOptions{BatchSize: 4})
		}
		if err != nil {
			t.Fatal(err)
		}
		s := br.Schema()
		h := hashing.New(hashing.DefaultSeed, s.NumFields())
		row := 0
		for {
			b, err := br.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < b.Rows; i++ {
				for k := range s.Bags {
					var ids []uint64
					for _, v := range want[row+i].Bags[k] {
						ids = append(ids, h.HashString(s.BagField(k), v))
					}
					if got := b.Bags[k].Values(i); !slices.Equal(got, ids) && len(got)+len(ids) > 0 {
						t.Errorf("parquet %v row %d bag %d: ids %v, want %v", pq, row+i, k, got, ids)
					}
				}
			}
			row += b.Rows
			br.Release(b)
		}
		br.Close()
		if row != len(want) {
			t.Errorf("parquet %v: %d rows, want %d", pq, row, len(want))
		}
	}
}

func TestBagErrors(t *testing.T) {
	dir := writeMovieLensDir(t, map[string]string{
		"users.dat": ml1MUsers, "movies.dat": ml1MMovies, "ratings.dat": bagRatings,
	})
	for name, opt := range map[string]MovieLensOptions{
		"negative history": {History: -1},
		"tags on 1M":       {Tags: 5},
	} {
		if _, err := OpenMovieLens(dir, FormatMovieLens1M, opt); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	r, err := OpenMovieLens(dir, FormatMovieLens1M, MovieLensOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := SplitBag(r, "no_such", "|"); err == nil {
		t.Error("split of a missing column: no error")
	}
	s := &Schema{Label: "l", Categorical: []string{"a"}, Bags: []Bag{{Name: "b", Of: "zz"}}}
	if err := s.Validate(); err == nil {
		t.Error("a bag sharing a missing field validates")
	}
	s.Bags = []Bag{{Name: "a"}}
	if err := s.Validate(); err == nil {
		t.Error("a bag named as a categorical column validates")
	}
}

func TestMovieLensLatestTags(t *testing.T) {
	dir := writeMovieLensDir(t, map[string]string{
		"movies.csv":  "movieId,title,genres\n1,Toy Story (1995),Animation|Comedy\n2,Heat (1995),Action\n",
		"ratings.csv": "userId,movieId,rating,timestamp\n1,1,4.0,100\n1,2,3.5,200\n2,1,5.0,300\n",
		"tags.csv":    "userId,movieId,tag,timestamp\n5,1,Pixar,50\n6,1,pixar ,150\n6,1,fun,160\n7,2,Pacino,250\n",
	})
	r, err := OpenMovieLens(dir, FormatMovieLensLatest, MovieLensOptions{Tags: 5, GenresBag: true, History: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s := r.Schema()
	ti := slices.IndexFunc(s.Bags, func(b Bag) bool { return b.Name == "tags" })
	hi := slices.IndexFunc(s.Bags, func(b Bag) bool { return b.Name == "history" })
	if ti < 0 || hi < 0 {
		t.Fatalf("bags %v", s.Bags)
	}
	want := [][]string{{"pixar"}, nil, {"pixar", "fun"}}
	hist := [][]string{nil, {"1"}, nil}
	rec := NewRecord(s)
	for i := range want {
		if err := r.Read(rec); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(rec.Bags[ti], want[i]) || !slices.Equal(rec.Bags[hi], hist[i]) {
			t.Errorf("row %d: tags %q history %q, want %q %q", i, rec.Bags[ti], rec.Bags[hi], want[i], hist[i])
		}
	}
}
