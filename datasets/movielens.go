package datasets

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"
)

// defaultLabelThreshold is the rating from which a MovieLens rating is a
// positive example.
const defaultLabelThreshold = 4

// movieLensCatNames are the categorical columns of the MovieLens schema.
var movieLensCatNames = []string{
	"user_id", "movie_id", "gender", "age", "occupation", "zip",
	"genres", "first_genre", "year",
}

// Indexes into the Cat and Extra slices of a MovieLens record.
const (
	mlCatUser = iota
	mlCatMovie
	mlCatGender
	mlCatAge
	mlCatOccupation
	mlCatZip
	mlCatGenres
	mlCatFirstGenre
	mlCatYear
	mlNumCat

	mlExtraRating = 0
	mlExtraTitle  = 1
	mlNumExtra    = 2
)

// movieLens100KGenres are the genres of MovieLens 100K u.item, in flag
// order, used when the directory has no u.genre.
var movieLens100KGenres = []string{
	"unknown", "Action", "Adventure", "Animation", "Children's", "Comedy",
	"Crime", "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror",
	"Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
}

// ratingText holds the Extra "rating" values, indexed by rating.
var ratingText = [...]string{"0", "1", "2", "3", "4", "5"}

const (
	minRating = 1
	maxRating = 5
)

// MovieLensOptions configure OpenMovieLens.
type MovieLensOptions struct {
	// LabelThreshold is the smallest rating labelled 1 (positive); 0 means
	// the default, 4. It must be in 1..5.
	LabelThreshold int
	// GenresBag makes "genres" a multi-hot bag of the movie's genres
	// instead of one categorical value per combination.
	GenresBag bool
	// History, when > 0, adds the sequence bag "history": the user's last
	// History positively rated movies strictly before the rating (sharing
	// movie_id's rows; see History).
	History int
	// Tags, when > 0 (movielens-latest only: tags.csv), adds the bag
	// "tags": the movie's last Tags distinct tags applied before the
	// rating (see MovieTags).
	Tags int
}

// movieLensSchema returns the schema of MovieLens records of the given
// variant ("movielens1m" or "movielens100k").
func movieLensSchema(variant string, threshold int) *Schema {
	return &Schema{
		Dataset:     variant,
		Label:       "label",
		Categorical: append([]string(nil), movieLensCatNames...),
		Timestamp:   "timestamp",
		Extra:       []string{"rating", "title"},
		LabelRule:   fmt.Sprintf("rating >= %d", threshold),
	}
}

// mlUser is one row of the users file.
type mlUser struct {
	id, gender, age, occupation, zip string
}

// mlMovie is one row of the movies file, with its derived columns.
type mlMovie struct {
	id, title, genres, firstGenre, year string
}

// movieLensReader streams ratings joined with their user and movie.
type movieLensReader struct {
	src       *lineSource
	schema    *Schema
	sep       []byte // ratings field separator
	threshold int
	users     map[int64]*mlUser
	movies    map[int64]*mlMovie
	usersFile string // for errors about unknown ids
	movieFile string
	fields    [][]byte // reused split buffer
}

// OpenMovieLens opens the MovieLens directory dir of the given variant,
// "movielens1m" or "movielens100k", and streams its ratings joined with the
// users and movies, which are loaded first.
//
// MovieLens 1M uses "::"-separated users.dat (UserID::Gender::Age::
// Occupation::Zip), movies.dat (MovieID::Title::Genres, Latin-1) and ratings
// (UserID::MovieID::Rating::Timestamp) from ratings.dat, ratings.dat.gz, or
// else the single file named ratings*.dat or ratings*.dat.gz. MovieLens 100K
// uses u.data (TAB-separated user, item, rating, timestamp), u.user
// (user|age|gender|occupation|zip), u.item (movie id|title|release date|video
// release date|IMDb URL|genre flags, Latin-1) and the genre names of u.genre,
// or the standard 19 when it is absent. Any of these files may be gzip
// compressed, also under its plain name or with a ".gz" suffix added.
//
// Titles are decoded from Latin-1 to UTF-8 (a title that is already valid
// UTF-8 is kept as is, so converted copies of the data read the same). The
// label is rating >= opt.LabelThreshold. A malformed line in the users or
// movies file fails the open with an error naming the file and line; a
// rating of an unknown user or movie is a *RowError on field user_id or
// movie_id.
//
// Variant "movielens-latest" reads the CSV releases instead (see
// FormatMovieLensLatest): ratings.csv and movies.csv, half-star ratings,
// no user demographics.
func OpenMovieLens(dir, variant string, opt MovieLensOptions) (RecordReader, error) {
	if opt.History < 0 || opt.Tags < 0 {
		return nil, fmt.Errorf("open %s: history %d, tags %d: want >= 0", variant, opt.History, opt.Tags)
	}
	if opt.Tags > 0 && variant != FormatMovieLensLatest {
		return nil, fmt.Errorf("open %s: a tags bag needs movielens-latest (tags.csv)", variant)
	}
	base := opt
	base.GenresBag, base.History, base.Tags = false, 0, 0
	open := func() (RecordReader, error) {
		r, err := openMovieLensBase(dir, variant, base)
		if err != nil {
			return nil, err
		}
		if opt.Tags > 0 {
			tagsPath, err := findMovieLensFile(dir, "tags.csv")
			if err == nil {
				r, err = MovieTags(r, tagsPath, opt.Tags)
			}
			if err != nil {
				return nil, fmt.Errorf("open %s %s: %w", variant, dir, err)
			}
		}
		if opt.GenresBag {
			if r, err = SplitBag(r, "genres", "|"); err != nil {
				return nil, fmt.Errorf("open %s %s: %w", variant, dir, err)
			}
		}
		return r, nil
	}
	if opt.History > 0 {
		pass := func() (RecordReader, error) { return openMovieLensBase(dir, variant, base) }
		r, err := History(open, HistoryOptions{Len: opt.History, Pass: pass})
		if err != nil {
			return nil, fmt.Errorf("open %s %s: %w", variant, dir, err)
		}
		return r, nil
	}
	return open()
}

// openMovieLensBase opens the one-hot MovieLens reader of OpenMovieLens.
func openMovieLensBase(dir, variant string, opt MovieLensOptions) (RecordReader, error) {
	threshold := opt.LabelThreshold
	if threshold == 0 {
		threshold = defaultLabelThreshold
	}
	if threshold < minRating || threshold > maxRating {
		return nil, fmt.Errorf("open %s: label threshold %d not in %d..%d",
			variant, threshold, minRating, maxRating)
	}
	if variant == FormatMovieLensLatest {
		return openMovieLensLatest(dir, threshold)
	}
	r := &movieLensReader{schema: movieLensSchema(variant, threshold), threshold: threshold}
	var err error
	switch variant {
	case FormatMovieLens1M:
		err = r.open1M(dir)
	case FormatMovieLens100K:
		err = r.open100K(dir)
	default:
		return nil, fmt.Errorf("%w %q (want %s, %s or %s)", ErrUnknownFormat, variant,
			FormatMovieLens1M, FormatMovieLens100K, FormatMovieLensLatest)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s %s: %w", variant, dir, err)
	}
	return r, nil
}

// open1M loads a MovieLens 1M directory and opens its ratings.
func (r *movieLensReader) open1M(dir string) error {
	sep := []byte("::")
	usersPath, err := findMovieLensFile(dir, "users.dat")
	if err != nil {
		return err
	}
	moviesPath, err := findMovieLensFile(dir, "movies.dat")
	if err != nil {
		return err
	}
	ratingsPath, err := findRatings1M(dir)
	if err != nil {
		return err
	}
	if r.users, err = loadMovieLensUsers(usersPath, sep, true); err != nil {
		return err
	}
	if r.movies, err = loadMovieLens1MMovies(moviesPath); err != nil {
		return err
	}
	r.usersFile, r.movieFile = usersPath, moviesPath
	r.sep = sep
	r.src, err = openLineSource(ratingsPath)
	return err
}

// open100K loads a MovieLens 100K directory and opens its ratings.
func (r *movieLensReader) open100K(dir string) error {
	usersPath, err := findMovieLensFile(dir, "u.user")
	if err != nil {
		return err
	}
	itemsPath, err := findMovieLensFile(dir, "u.item")
	if err != nil {
		return err
	}
	ratingsPath, err := findMovieLensFile(dir, "u.data")
	if err != nil {
		return err
	}
	genres := movieLens100KGenres
	if genrePath, err := findMovieLensFile(dir, "u.genre"); err == nil {
		if genres, err = loadMovieLensGenres(genrePath); err != nil {
			return err
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if r.users, err = loadMovieLensUsers(usersPath, []byte("|"), false); err != nil {
		return err
	}
	if r.movies, err = loadMovieLens100KItems(itemsPath, genres); err != nil {
		return err
	}
	r.usersFile, r.movieFile = usersPath, itemsPath
	r.sep = tabSep
	r.src, err = openLineSource(ratingsPath)
	return err
}

// findMovieLensFile returns dir/name, or dir/name.gz if only that exists.
// Both existing is an error naming both: which one holds the data meant
// is not for the reader to guess.
func findMovieLensFile(dir, name string) (string, error) {
	p := filepath.Join(dir, name)
	_, err := os.Stat(p)
	_, gzErr := os.Stat(p + ".gz")
	switch {
	case err == nil && gzErr == nil:
		return "", fmt.Errorf("both %s and %s exist: remove one of them", p, p+".gz")
	case errors.Is(err, os.ErrNotExist) && gzErr == nil:
		return p + ".gz", nil
	case err != nil:
		return "", err
	}
	return p, nil
}

// findRatings1M returns the ratings file of a MovieLens 1M directory:
// ratings.dat, ratings.dat.gz, or else the only ratings*.dat[.gz].
func findRatings1M(dir string) (string, error) {
	if p, err := findMovieLensFile(dir, "ratings.dat"); err == nil || !errors.Is(err, os.ErrNotExist) {
		return p, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	var matches []string
	for _, e := range entries {
		n := e.Name()
		if e.Type().IsRegular() && strings.HasPrefix(n, "ratings") &&
			(strings.HasSuffix(n, ".dat") || strings.HasSuffix(n, ".dat.gz")) {
			matches = append(matches, n)
		}
	}
	switch len(matches) {
	case 0:
		return "", fmt.Errorf("no ratings.dat, ratings.dat.gz or ratings*.dat[.gz] in %s: %w", dir, os.ErrNotExist)
	case 1:
		return filepath.Join(dir, matches[0]), nil
	}
	return "", fmt.Errorf("several ratings files in %s (%s): want ratings.dat or a single ratings*.dat[.gz]",
		dir, strings.Join(matches, ", "))
}

// forEachLine calls fn with the fields of each non-blank line of path, split
// on sep. fn returns the offending column and cause of a malformed line,
// which ends the walk with a *RowError.
func forEachLine(path string, sep []byte, fn func(fields [][]byte) (field string, err error)) error {
	src, err := openLineSource(path)
	if err != nil {
		return err
	}
	defer src.Close()
	var fields [][]byte
	for {
		line, err := src.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		fields = splitFieldsInto(fields, line, sep)
		if field, err := fn(fields); err != nil {
			return &RowError{File: src.name, Line: src.line, Field: field, Err: err}
		}
	}
}

// errFieldCount describes a line with the wrong number of fields.
func errFieldCount(want, got int, sep []byte) error {
	return fmt.Errorf("want %d %q-separated fields, got %d", want, sep, got)
}

// parseMovieLensID parses a positive integer id.
func parseMovieLensID(b []byte) (int64, error) {
	id, ok := parseDecimal(b)
	if !ok || id <= 0 {
		return 0, fmt.Errorf("want a positive integer id, got %q", b)
	}
	return id, nil
}

// loadMovieLensUsers reads a users file: UserID::Gender::Age::Occupation::Zip
// (1M, occupation a code) or user|age|gender|occupation|zip (100K).
func loadMovieLensUsers(path string, sep []byte, is1M bool) (map[int64]*mlUser, error) {
	users := make(map[int64]*mlUser)
	genderCol, ageCol := 2, 1
	if is1M {
		genderCol, ageCol = 1, 2
	}
	err := forEachLine(path, sep, func(f [][]byte) (string, error) {
		if len(f) != 5 {
			return "", errFieldCount(5, len(f), sep)
		}
		id, err := parseMovieLensID(f[0])
		if err != nil {
			return "user_id", err
		}
		if users[id] != nil {
			return "user_id", fmt.Errorf("duplicate user id %d", id)
		}
		if g := string(f[genderCol]); g != "M" && g != "F" {
			return "gender", fmt.Errorf("want M or F, got %q", f[genderCol])
		}
		if _, ok := parseDecimal(f[ageCol]); !ok {
			return "age", errNotInteger(f[ageCol])
		}
		if is1M {
			if _, ok := parseDecimal(f[3]); !ok {
				return "occupation", errNotInteger(f[3])
			}
		}
		if !utf8.Valid(f[3]) {
			return "occupation", errInvalidUTF8
		}
		if !utf8.Valid(f[4]) {
			return "zip", errInvalidUTF8
		}
		users[id] = &mlUser{
			id:         strconv.FormatInt(id, 10),
			gender:     string(f[genderCol]),
			age:        string(f[ageCol]),
			occupation: string(f[3]),
			zip:        string(f[4]),
		}
		return "", nil
	})
	if err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	if len(users) == 0 {
		return nil, fmt.Errorf("users: %s has no users", path)
	}
	return users, nil
}

// loadMovieLens1MMovies reads movies.dat: MovieID::Title::Genres.
func loadMovieLens1MMovies(path string) (map[int64]*mlMovie, error) {
	movies := make(map[int64]*mlMovie)
	err := forEachLine(path, []byte("::"), func(f [][]byte) (string, error) {
		if len(f) != 3 {
			return "", errFieldCount(3, len(f), []byte("::"))
		}
		id, err := parseMovieLensID(f[0])
		if err != nil {
			return "movie_id", err
		}
		if movies[id] != nil {
			return "movie_id", fmt.Errorf("duplicate movie id %d", id)
		}
		genres := decodeLatin1(f[2])
		first, _, _ := strings.Cut(genres, "|")
		title := decodeLatin1(f[1])
		movies[id] = &mlMovie{
			id:         strconv.FormatInt(id, 10),
			title:      title,
			genres:     genres,
			firstGenre: first,
			year:       titleYear(title),
		}
		return "", nil
	})
	if err != nil {
		return nil, fmt.Errorf("movies: %w", err)
	}
	if len(movies) == 0 {
		return nil, fmt.Errorf("movies: %s has no movies", path)
	}
	return movies, nil
}

// loadMovieLensGenres reads u.genre: name|index lines, indexes 0..n-1.
func loadMovieLensGenres(path string) ([]string, error) {
	var genres []string
	err := forEachLine(path, []byte("|"), func(f [][]byte) (string, error) {
		if len(f) != 2 {
			return "", errFieldCount(2, len(f), []byte("|"))
		}
		idx, ok := parseDecimal(f[1])
		if !ok || idx != int64(len(genres)) {
			return "", fmt.Errorf("want genre index %d, got %q", len(genres), f[1])
		}
		if len(f[0]) == 0 || bytes.IndexByte(f[0], '|') >= 0 {
			return "", fmt.Errorf("bad genre name %q", f[0])
		}
		genres = append(genres, decodeLatin1(f[0]))
		return "", nil
	})
	if err != nil {
		return nil, fmt.Errorf("genres: %w", err)
	}
	if len(genres) == 0 {
		return nil, fmt.Errorf("genres: %s has no genres", path)
	}
	return genres, nil
}

// loadMovieLens100KItems reads u.item: movie id|title|release date|video
// release date|IMDb URL|one 0/1 flag per genre.
func loadMovieLens100KItems(path string, genres []string) (map[int64]*mlMovie, error) {
	movies := make(map[int64]*mlMovie)
	want := 5 + len(genres)
	var names []string
	err := forEachLine(path, []byte("|"), func(f [][]byte) (string, error) {
		if len(f) != want {
			return "", errFieldCount(want, len(f), []byte("|"))
		}
		id, err := parseMovieLensID(f[0])
		if err != nil {
			return "movie_id", err
		}
		if movies[id] != nil {
			return "movie_id", fmt.Errorf("duplicate movie id %d", id)
		}
		names = names[:0]
		for k, flag := range f[5:] {
			switch string(flag) {
			case "1":
				names = append(names, genres[k])
			case "0":
			default:
				return "genres", fmt.Errorf("genre flag %s: want 0 or 1, got %q", genres[k], flag)
			}
		}
		title := decodeLatin1(f[1])
		m := &mlMovie{
			id:     strconv.FormatInt(id, 10),
			title:  title,
			genres: strings.Join(names, "|"),
			year:   titleYear(title),
		}
		if len(names) > 0 {
			m.firstGenre = names[0]
		}
		movies[id] = m
		return "", nil
	})
	if err != nil {
		return nil, fmt.Errorf("movies: %w", err)
	}
	if len(movies) == 0 {
		return nil, fmt.Errorf("movies: %s has no movies", path)
	}
	return movies, nil
}

// decodeLatin1 returns b as UTF-8, decoding it from Latin-1 (ISO 8859-1)
// unless it already is valid UTF-8 (ASCII, or a converted copy of the data).
func decodeLatin1(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}

// titleYear returns the year of a title ending in "(YYYY)", or "".
func titleYear(title string) string {
	t := strings.TrimRight(title, " ")
	if len(t) < 6 || t[len(t)-1] != ')' || t[len(t)-6] != '(' {
		return ""
	}
	y := t[len(t)-5 : len(t)-1]
	for i := 0; i < len(y); i++ {
		if y[i] < '0' || y[i] > '9' {
			return ""
		}
	}
	return y
}

// Schema returns the MovieLens schema.
func (r *movieLensReader) Schema() *Schema { return r.schema }

// Read reads the next rating into rec. On a *RowError the contents of rec
// are unspecified.
func (r *movieLensReader) Read(rec *Record) error {
	line, err := r.src.next()
	if err != nil {
		return err
	}
	fitRecord(rec, 0, mlNumCat, mlNumExtra)
	if field, err := r.parse(line, rec); err != nil {
		return &RowError{File: r.src.name, Line: r.src.line, Field: field, Err: err}
	}
	return nil
}

// parse parses one ratings line and joins it with its user and movie.
func (r *movieLensReader) parse(line []byte, rec *Record) (field string, err error) {
	r.fields = splitFieldsInto(r.fields, line, r.sep)
	f := r.fields
	if len(f) != 4 {
		return "", errFieldCount(4, len(f), r.sep)
	}
	uid, err := parseMovieLensID(f[0])
	if err != nil {
		return "user_id", err
	}
	u := r.users[uid]
	if u == nil {
		return "user_id", fmt.Errorf("unknown user %d (not in %s)", uid, r.usersFile)
	}
	mid, err := parseMovieLensID(f[1])
	if err != nil {
		return "movie_id", err
	}
	m := r.movies[mid]
	if m == nil {
		return "movie_id", fmt.Errorf("unknown movie %d (not in %s)", mid, r.movieFile)
	}
	rating, ok := parseDecimal(f[2])
	if !ok || rating < minRating || rating > maxRating {
		return "rating", fmt.Errorf("want an integer rating in %d..%d, got %q", minRating, maxRating, f[2])
	}
	ts, ok := parseDecimal(f[3])
	if !ok {
		return "timestamp", errNotInteger(f[3])
	}

	if int(rating) >= r.threshold {
		rec.Label = 1
	} else {
		rec.Label = 0
	}
	rec.Timestamp = ts
	c := rec.Cat
	c[mlCatUser], c[mlCatMovie] = u.id, m.id
	c[mlCatGender], c[mlCatAge], c[mlCatOccupation], c[mlCatZip] = u.gender, u.age, u.occupation, u.zip
	c[mlCatGenres], c[mlCatFirstGenre], c[mlCatYear] = m.genres, m.firstGenre, m.year
	rec.Extra[mlExtraRating] = ratingText[rating]
	rec.Extra[mlExtraTitle] = m.title
	return "", nil
}

// Close closes the ratings file.
func (r *movieLensReader) Close() error { return r.src.Close() }
