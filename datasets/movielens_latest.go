package datasets

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// FormatMovieLensLatest names the MovieLens "latest" CSV layout
// (ml-latest-small, ml-latest, ml-25m, ml-32m: ratings.csv and movies.csv).
const FormatMovieLensLatest = "movielens-latest"

// movieLensLatestCat are the categorical columns of a MovieLens latest
// record: the CSV releases carry no user demographics.
var movieLensLatestCat = []string{"user_id", "movie_id", "genres", "first_genre", "year"}

// movieLensLatestReader streams ratings.csv joined with movies.csv.
type movieLensLatestReader struct {
	src       *lineSource
	schema    *Schema
	threshold float64
	movies    map[int64]*mlMovie
	movieFile string
	fields    [][]byte
	ratings   map[string]string // rating text -> its canonical form, for Extra
}

// openMovieLensLatest opens a MovieLens latest directory: movies.csv
// (movieId,title,genres; quoted CSV, UTF-8) is loaded first, then
// ratings.csv (userId,movieId,rating,timestamp; ratings 0.5..5 in half
// stars) is streamed. The label is rating >= threshold (checked by
// OpenMovieLens). Either file may be gzip-compressed, under its name or with
// ".gz" added.
func openMovieLensLatest(dir string, threshold int) (RecordReader, error) {
	moviesPath, err := findMovieLensFile(dir, "movies.csv")
	if err != nil {
		return nil, fmt.Errorf("open %s %s: %w", FormatMovieLensLatest, dir, err)
	}
	ratingsPath, err := findMovieLensFile(dir, "ratings.csv")
	if err != nil {
		return nil, fmt.Errorf("open %s %s: %w", FormatMovieLensLatest, dir, err)
	}
	movies, err := loadMovieLensLatestMovies(moviesPath)
	if err != nil {
		return nil, fmt.Errorf("open %s %s: %w", FormatMovieLensLatest, dir, err)
	}
	src, err := openLineSource(ratingsPath)
	if err != nil {
		return nil, fmt.Errorf("open %s %s: %w", FormatMovieLensLatest, dir, err)
	}
	return &movieLensLatestReader{
		src: src, threshold: float64(threshold), movies: movies, movieFile: moviesPath,
		ratings: map[string]string{},
		schema: &Schema{
			Dataset:     FormatMovieLensLatest,
			Label:       "label",
			Categorical: append([]string(nil), movieLensLatestCat...),
			Timestamp:   "timestamp",
			Extra:       []string{"rating", "title"},
			LabelRule:   fmt.Sprintf("rating >= %d", threshold),
		},
	}, nil
}

// loadMovieLensLatestMovies reads movies.csv.
func loadMovieLensLatestMovies(path string) (map[int64]*mlMovie, error) {
	src, err := openLineSource(path)
	if err != nil {
		return nil, fmt.Errorf("movies: %w", err)
	}
	defer src.Close()
	cr := csv.NewReader(lineReader{src})
	cr.FieldsPerRecord = 3
	movies := make(map[int64]*mlMovie)
	for first := true; ; first = false {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("movies: %s: %w", path, err)
		}
		if first && rec[0] == "movieId" {
			continue
		}
		line, _ := cr.FieldPos(0)
		id, err := strconv.ParseInt(rec[0], 10, 64)
		if err != nil || id < 0 {
			return nil, fmt.Errorf("movies: %s:%d: movieId %q: want a non-negative integer", path, line, rec[0])
		}
		if movies[id] != nil {
			return nil, fmt.Errorf("movies: %s:%d: movie %d appears twice", path, line, id)
		}
		genres := rec[2]
		if genres == "(no genres listed)" {
			genres = ""
		}
		first, _, _ := strings.Cut(genres, "|")
		title := strings.TrimSpace(rec[1])
		movies[id] = &mlMovie{id: rec[0], title: title, genres: genres, firstGenre: first, year: titleYear(title)}
	}
	if len(movies) == 0 {
		return nil, fmt.Errorf("movies: %s has no movies", path)
	}
	return movies, nil
}

// lineReader turns a lineSource back into a byte stream for encoding/csv
// (which then sees gzip-decompressed text).
type lineReader struct{ src *lineSource }

func (l lineReader) Read(p []byte) (int, error) {
	return l.src.br.Read(p)
}

// Schema returns the schema.
func (r *movieLensLatestReader) Schema() *Schema { return r.schema }

// Read reads the next rating into rec, skipping the header line.
func (r *movieLensLatestReader) Read(rec *Record) error {
	line, err := r.src.next()
	if err != nil {
		return err
	}
	if r.src.line == 1 && strings.HasPrefix(string(line), "userId,") {
		if line, err = r.src.next(); err != nil {
			return err
		}
	}
	fitRecord(rec, 0, len(movieLensLatestCat), 2)
	if field, err := r.parse(line, rec); err != nil {
		return &RowError{File: r.src.name, Line: r.src.line, Field: field, Err: err}
	}
	return nil
}

func (r *movieLensLatestReader) parse(line []byte, rec *Record) (field string, err error) {
	r.fields = splitFieldsInto(r.fields, line, []byte{','})
	f := r.fields
	if len(f) != 4 {
		return "", errFieldCount(4, len(f), []byte{','})
	}
	if _, err := parseMovieLensID(f[0]); err != nil {
		return "user_id", err
	}
	mid, err := parseMovieLensID(f[1])
	if err != nil {
		return "movie_id", err
	}
	m := r.movies[mid]
	if m == nil {
		return "movie_id", fmt.Errorf("unknown movie %d (not in %s)", mid, r.movieFile)
	}
	rating, err := strconv.ParseFloat(string(f[2]), 64)
	if err != nil || rating < 0.5 || rating > 5 || rating*2 != float64(int(rating*2)) {
		return "rating", fmt.Errorf("want a rating in 0.5..5 in half stars, got %q", f[2])
	}
	ts, ok := parseDecimal(f[3])
	if !ok {
		return "timestamp", errNotInteger(f[3])
	}
	if rating >= r.threshold {
		rec.Label = 1
	} else {
		rec.Label = 0
	}
	rec.Timestamp = ts
	c := rec.Cat
	c[0], c[1], c[2], c[3], c[4] = bytesString(f[0]), m.id, m.genres, m.firstGenre, m.year
	rt, ok := r.ratings[string(f[2])]
	if !ok {
		rt = strconv.FormatFloat(rating, 'f', 1, 64)
		if len(r.ratings) < 64 { // bounded: odd spellings are formatted each time
			r.ratings[string(f[2])] = rt
		}
	}
	rec.Extra[0], rec.Extra[1] = rt, m.title
	return "", nil
}

// Close closes the ratings file.
func (r *movieLensLatestReader) Close() error { return r.src.Close() }
