package datasets

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// This file derives bag fields (Schema.Bags) from the one-hot columns of a
// source: a multi-value column split into a multi-hot bag, a user's history
// of earlier positive items, a movie's tags applied before a rating. Each is
// a RecordReader over another, so every source, and Parquet conversion of
// it, gets them the same way.

// DefaultHistory is the length of a history bag when none is given.
const DefaultHistory = 20

// SplitBag returns a reader whose column col (a categorical column of r's
// schema, values separated by sep) is a bag of the same name instead: its
// values split, empty parts dropped ("Action|Comedy" -> [Action, Comedy];
// "" -> the empty bag). The bag is a field of its own.
func SplitBag(r RecordReader, col, sep string) (RecordReader, error) {
	s := r.Schema()
	at := slices.Index(s.Categorical, col)
	if at < 0 {
		return nil, fmt.Errorf("bag %q: %s has no categorical column %q", col, s.Dataset, col)
	}
	for _, b := range s.Bags {
		if b.Of == col {
			return nil, fmt.Errorf("bag %q: bag %q shares that field", col, b.Name)
		}
	}
	out := cloneSchema(s)
	out.Categorical = slices.Delete(out.Categorical, at, at+1)
	out.Bags = append(out.Bags, Bag{Name: col})
	if err := out.Validate(); err != nil {
		return nil, err
	}
	var buf []string
	return &bagReader{r: r, schema: out, in: NewRecord(s), fill: func(in, rec *Record) {
		rec.Cat = append(append(rec.Cat[:0], in.Cat[:at]...), in.Cat[at+1:]...)
		copyBags(rec, in)
		buf = buf[:0]
		for v := range strings.SplitSeq(in.Cat[at], sep) {
			if v != "" {
				buf = append(buf, v)
			}
		}
		rec.Bags[len(rec.Bags)-1] = buf
	}}, nil
}

// HistoryOptions configure History.
type HistoryOptions struct {
	// Name is the bag's name (default "history").
	Name string
	// User and Item name the categorical columns (default user_id,
	// movie_id).
	User, Item string
	// Len is the most values a history holds (default DefaultHistory).
	Len int
	// Pass, when set, opens the source of the pre-pass instead of open:
	// any reader of the same ratings with the user and item columns (a
	// cheaper one, without the other derived bags).
	Pass func() (RecordReader, error)
}

// History returns a reader that adds to each record of open() a sequence
// bag of its user's last opt.Len positively labelled items strictly before
// the record's timestamp, oldest first: the behaviour sequence of DIN and
// of YouTube's candidate model, without leakage (a rating never sees
// itself, nor another of the same second). The bag shares the item
// column's field (Bag.Of). open is called twice: once for a pass that
// collects every user's positives (malformed rows are skipped there; the
// second pass reports them as the source does), then for the records.
func History(open func() (RecordReader, error), opt HistoryOptions) (RecordReader, error) {
	if opt.Name == "" {
		opt.Name = "history"
	}
	if opt.User == "" {
		opt.User = "user_id"
	}
	if opt.Item == "" {
		opt.Item = "movie_id"
	}
	if opt.Len == 0 {
		opt.Len = DefaultHistory
	}
	if opt.Len < 0 {
		return nil, fmt.Errorf("history bag: length %d, want >= 1", opt.Len)
	}
	openPass := open
	if opt.Pass != nil {
		openPass = opt.Pass
	}
	pass, err := openPass()
	if err != nil {
		return nil, err
	}
	s := pass.Schema()
	ui, ii := slices.Index(s.Categorical, opt.User), slices.Index(s.Categorical, opt.Item)
	if ui < 0 || ii < 0 || s.Timestamp == "" {
		pass.Close()
		return nil, fmt.Errorf("history bag: %s needs categorical columns %q and %q and a timestamp", s.Dataset, opt.User, opt.Item)
	}
	hist, err := collectPositives(pass, ui, ii)
	if cerr := pass.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("history bag: %w", err)
	}
	r, err := open()
	if err != nil {
		return nil, err
	}
	ui, ii = slices.Index(r.Schema().Categorical, opt.User), slices.Index(r.Schema().Categorical, opt.Item)
	if ui < 0 || ii < 0 {
		r.Close()
		return nil, fmt.Errorf("history bag: %s has no categorical columns %q and %q", r.Schema().Dataset, opt.User, opt.Item)
	}
	out := cloneSchema(r.Schema())
	out.Bags = append(out.Bags, Bag{Name: opt.Name, Of: opt.Item})
	if err := out.Validate(); err != nil {
		r.Close()
		return nil, err
	}
	n := opt.Len
	var buf []string // the record's own copy: the lists stay the reader's
	return &bagReader{r: r, schema: out, in: NewRecord(r.Schema()), fill: func(in, rec *Record) {
		rec.Cat = append(rec.Cat[:0], in.Cat...)
		copyBags(rec, in)
		buf = append(buf[:0], hist.before(in.Cat[ui], in.Timestamp, n)...)
		rec.Bags[len(rec.Bags)-1] = buf
	}}, nil
}

// positives are every user's positive items, sorted by time.
type positives map[string]*userEvents

type userEvents struct {
	ts    []int64
	items []string
}

func collectPositives(r RecordReader, ui, ii int) (positives, error) {
	p := positives{}
	rec := NewRecord(r.Schema())
	for {
		err := r.Read(rec)
		if errors.Is(err, io.EOF) {
			break
		}
		var re *RowError
		if errors.As(err, &re) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if rec.Label != 1 {
			continue
		}
		u := p[rec.Cat[ui]]
		if u == nil {
			u = &userEvents{}
			p[strings.Clone(rec.Cat[ui])] = u
		}
		u.ts = append(u.ts, rec.Timestamp)
		u.items = append(u.items, strings.Clone(rec.Cat[ii]))
	}
	for _, u := range p {
		if !sort.SliceIsSorted(u.ts, func(i, j int) bool { return u.ts[i] < u.ts[j] }) {
			sort.Stable(u)
		}
	}
	return p, nil
}

func (u *userEvents) Len() int           { return len(u.ts) }
func (u *userEvents) Less(i, j int) bool { return u.ts[i] < u.ts[j] }
func (u *userEvents) Swap(i, j int) {
	u.ts[i], u.ts[j] = u.ts[j], u.ts[i]
	u.items[i], u.items[j] = u.items[j], u.items[i]
}

// before returns user's last n positives strictly before ts (a slice of
// the user's own list: the caller must not modify it).
func (p positives) before(user string, ts int64, n int) []string {
	u := p[user]
	if u == nil {
		return nil
	}
	j := sort.Search(len(u.ts), func(i int) bool { return u.ts[i] >= ts })
	return u.items[max(0, j-n):j:j]
}

// MovieTags returns a reader that adds to each record of r (MovieLens
// latest) a bag "tags" of the last n distinct tags (lower-cased, trimmed)
// any user applied to its movie strictly before the record's timestamp,
// most recent last, read from tagsPath (userId,movieId,tag,timestamp; a
// header line is skipped). A malformed tags line fails with its line.
func MovieTags(r RecordReader, tagsPath string, n int) (RecordReader, error) {
	s := r.Schema()
	mi := slices.Index(s.Categorical, "movie_id")
	if mi < 0 || s.Timestamp == "" {
		return nil, fmt.Errorf("tags bag: %s needs a movie_id column and a timestamp", s.Dataset)
	}
	if n <= 0 {
		n = DefaultHistory
	}
	tags, err := loadTags(tagsPath)
	if err != nil {
		return nil, err
	}
	out := cloneSchema(s)
	out.Bags = append(out.Bags, Bag{Name: "tags"})
	if err := out.Validate(); err != nil {
		return nil, err
	}
	var scratch []string
	return &bagReader{r: r, schema: out, in: NewRecord(s), fill: func(in, rec *Record) {
		rec.Cat = append(rec.Cat[:0], in.Cat...)
		copyBags(rec, in)
		scratch = scratch[:0]
		if u := tags[in.Cat[mi]]; u != nil {
			j := sort.Search(len(u.ts), func(i int) bool { return u.ts[i] >= in.Timestamp })
			for i := j - 1; i >= 0 && len(scratch) < n; i-- {
				if !slices.Contains(scratch, u.items[i]) {
					scratch = append(scratch, u.items[i])
				}
			}
			slices.Reverse(scratch)
		}
		rec.Bags[len(rec.Bags)-1] = scratch
	}}, nil
}

func loadTags(path string) (positives, error) {
	src, err := openLineSource(path)
	if err != nil {
		return nil, fmt.Errorf("tags: %w", err)
	}
	defer src.Close()
	cr := csv.NewReader(lineReader{src})
	cr.FieldsPerRecord = 4
	p := positives{}
	for first := true; ; first = false {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("tags: %s: %w", path, err)
		}
		if first && rec[0] == "userId" {
			continue
		}
		line, _ := cr.FieldPos(0)
		ts, err := strconv.ParseInt(rec[3], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("tags: %s:%d: timestamp %q: want an integer", path, line, rec[3])
		}
		tag := strings.ToLower(strings.TrimSpace(rec[2]))
		if tag == "" {
			continue
		}
		u := p[rec[1]]
		if u == nil {
			u = &userEvents{}
			p[rec[1]] = u
		}
		u.ts = append(u.ts, ts)
		u.items = append(u.items, tag)
	}
	for _, u := range p {
		sort.Stable(u)
	}
	return p, nil
}

// bagReader reads records of r and fills each of its own schema with fill.
type bagReader struct {
	r      RecordReader
	schema *Schema
	in     *Record
	fill   func(in, rec *Record)
}

func (b *bagReader) Schema() *Schema { return b.schema }

func (b *bagReader) Read(rec *Record) error {
	if err := b.r.Read(b.in); err != nil {
		return err
	}
	rec.Label = b.in.Label
	rec.Dense = append(rec.Dense[:0], b.in.Dense...)
	rec.DenseValid = append(rec.DenseValid[:0], b.in.DenseValid...)
	rec.Timestamp = b.in.Timestamp
	rec.Extra = append(rec.Extra[:0], b.in.Extra...)
	if len(rec.Bags) != len(b.schema.Bags) {
		rec.Bags = make([][]string, len(b.schema.Bags))
	}
	b.fill(b.in, rec)
	return nil
}

func (b *bagReader) Close() error { return b.r.Close() }

// copyBags copies in's bags into rec's leading bags (the values alias in's).
func copyBags(rec, in *Record) { copy(rec.Bags, in.Bags) }

func cloneSchema(s *Schema) *Schema {
	c := *s
	c.Dense = slices.Clone(s.Dense)
	c.Categorical = slices.Clone(s.Categorical)
	c.Bags = slices.Clone(s.Bags)
	c.Extra = slices.Clone(s.Extra)
	return &c
}

// FuncReader returns a RecordReader of n records of schema s, record i made
// by fill(i, rec) (rec's slices are sized for s and reused from one record
// to the next; fill sets every field): a data set written from code, to
// Convert to Parquet.
func FuncReader(s *Schema, n int64, fill func(i int64, rec *Record)) RecordReader {
	return &funcReader{s: s, n: n, fill: fill}
}

type funcReader struct {
	s    *Schema
	n, i int64
	fill func(int64, *Record)
}

func (f *funcReader) Schema() *Schema { return f.s }

func (f *funcReader) Read(rec *Record) error {
	if f.i >= f.n {
		return io.EOF
	}
	f.fill(f.i, rec)
	f.i++
	return nil
}

func (f *funcReader) Close() error { return nil }
