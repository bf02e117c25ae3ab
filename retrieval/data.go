package retrieval

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/embtab/embtab/datasets"
)

// The fields of the two towers in a MovieLens schema; the first of each
// is the entity's key.
var (
	DefaultUserFields = []string{"user_id", "gender", "age", "occupation", "zip"}
	DefaultItemFields = []string{"movie_id", "genres", "first_genre", "year"}
)

// Entity is a user or an item: its key (the raw id) and the raw values of
// its tower's fields, in tower order (Values[0] is Key).
type Entity struct {
	Key    string   `json:"key"`
	Values []string `json:"values"`
}

// Event is one positive interaction: indexes into Interactions.Users and
// Items, and its Unix timestamp.
type Event struct {
	User, Item int32
	Time       int64
}

// Interactions are the positive interactions of a source with its users
// and items.
type Interactions struct {
	// Schema is the source's schema; the model's table has one field per
	// categorical column, in schema order.
	Schema *datasets.Schema
	// UserFields and ItemFields are the towers' fields as positions in
	// Schema.Categorical, the key field first.
	UserFields, ItemFields []int
	// Users and Items are sorted by key; Items holds every movie of any
	// rating, Users every user with a rating.
	Users, Items []Entity
	// Events are the positives, sorted by user, time, then item; one per
	// user and item (the earliest).
	Events []Event
	// Ratings counts the rows read (positive or not).
	Ratings int64
}

// OpenSource opens a MovieLens-format source: format "parquet" (a file
// written by datasets.Convert from MovieLens), else a raw format of
// datasets.OpenRaw ("movielens1m", "movielens100k") at path.
func OpenSource(format, path string) (datasets.RecordReader, error) {
	if format == "parquet" {
		return datasets.OpenParquetRecords(path)
	}
	return datasets.OpenRaw(format, path)
}

// TowerFields returns the towers' default fields for schema s: those of
// DefaultUserFields and DefaultItemFields that s has, the key fields
// (user_id, movie_id) required. (MovieLens latest has no demographics:
// its user tower reads user_id alone.)
func TowerFields(s *datasets.Schema) (user, item []string, err error) {
	pick := func(names []string) ([]string, error) {
		if !slices.Contains(s.Categorical, names[0]) {
			return nil, fmt.Errorf("the %s schema has no key field %q (want a MovieLens source, or name the tower fields)", s.Dataset, names[0])
		}
		var out []string
		for _, n := range names {
			if slices.Contains(s.Categorical, n) {
				out = append(out, n)
			}
		}
		return out, nil
	}
	if user, err = pick(DefaultUserFields); err != nil {
		return nil, nil, err
	}
	item, err = pick(DefaultItemFields)
	return user, item, err
}

// LoadInteractions is LoadInteractionsOf with the schema's TowerFields.
func LoadInteractions(ctx context.Context, r datasets.RecordReader, progress func(rows int64)) (*Interactions, error) {
	user, item, err := TowerFields(r.Schema())
	if err != nil {
		return nil, fmt.Errorf("load interactions: %w", err)
	}
	return LoadInteractionsOf(ctx, r, progress, user, item)
}

// LoadInteractionsOf reads r to the end and returns its positive ratings
// (Label 1) with the users and items of all ratings. A user's repeated
// positives of one item count once, at the earliest (ties: the first in
// the sorted order), so a split never holds an item both in a user's
// training and held-out items. The schema must have
// the categorical fields user and item name (each tower's key first) and
// a timestamp. progress, if not nil, is called with the rows read so far
// every 64k rows.
func LoadInteractionsOf(ctx context.Context, r datasets.RecordReader, progress func(rows int64), user, item []string) (*Interactions, error) {
	s := r.Schema()
	if s.Timestamp == "" {
		return nil, fmt.Errorf("load interactions: the %s schema has no timestamp column: want a MovieLens source", s.Dataset)
	}
	uf, err := fieldPositions(s, user)
	if err != nil {
		return nil, fmt.Errorf("load interactions: user tower: %w", err)
	}
	itf, err := fieldPositions(s, item)
	if err != nil {
		return nil, fmt.Errorf("load interactions: item tower: %w", err)
	}
	in := &Interactions{Schema: s, UserFields: uf, ItemFields: itf}
	users := map[string]int32{}
	items := map[string]int32{}
	type rawEvent struct {
		user, item int32
		time       int64
	}
	var raw []rawEvent
	rec := datasets.NewRecord(s)
	entity := func(m map[string]int32, list *[]Entity, fields []int) int32 {
		key := rec.Cat[fields[0]]
		if i, ok := m[key]; ok {
			return i
		}
		e := Entity{Values: make([]string, len(fields))}
		for k, f := range fields {
			e.Values[k] = string([]byte(rec.Cat[f])) // the record's strings alias its buffer
		}
		e.Key = e.Values[0]
		i := int32(len(*list))
		*list = append(*list, e)
		m[e.Key] = i
		return i
	}
	for {
		err := r.Read(rec)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("load interactions: row %d: %w", in.Ratings+1, err)
		}
		in.Ratings++
		if in.Ratings%65536 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if progress != nil {
				progress(in.Ratings)
			}
		}
		u := entity(users, &in.Users, uf)
		it := entity(items, &in.Items, itf)
		if rec.Label == 1 {
			raw = append(raw, rawEvent{u, it, rec.Timestamp})
		}
	}
	if progress != nil {
		progress(in.Ratings)
	}
	if len(raw) == 0 {
		return nil, fmt.Errorf("load interactions: %d ratings, none positive", in.Ratings)
	}
	// Renumber users and items in key order, so that indexes do not depend
	// on the order of the rows.
	uperm := sortEntities(in.Users)
	iperm := sortEntities(in.Items)
	in.Events = make([]Event, len(raw))
	for i, e := range raw {
		in.Events[i] = Event{User: uperm[e.user], Item: iperm[e.item], Time: e.time}
	}
	slices.SortFunc(in.Events, func(a, b Event) int {
		return cmp.Or(cmp.Compare(a.User, b.User), cmp.Compare(a.Time, b.Time), cmp.Compare(a.Item, b.Item))
	})
	in.Events = firstPositives(in.Events)
	return in, nil
}

// firstPositives keeps the first of the events with the same user and
// item (events sorted by user, time, item), so that a repeated positive
// cannot put a held-out item in the user's training items.
func firstPositives(ev []Event) []Event {
	out := ev[:0]
	seen := map[int32]bool{}
	for i, e := range ev {
		if i == 0 || e.User != out[len(out)-1].User {
			clear(seen)
		}
		if seen[e.Item] {
			continue
		}
		seen[e.Item] = true
		out = append(out, e)
	}
	return out
}

// keyCompare orders keys: decimal numbers without leading zeros
// (MovieLens ids) first, numerically, then all other keys as strings. It
// is a strict total order (0 only for equal keys).
func keyCompare(a, b string) int {
	da, db := isDigits(a), isDigits(b)
	switch {
	case da && db:
		return cmp.Or(cmp.Compare(len(a), len(b)), cmp.Compare(a, b))
	case da:
		return -1
	case db:
		return 1
	}
	return cmp.Compare(a, b)
}

func isDigits(s string) bool {
	if s == "" || len(s) > 1 && s[0] == '0' {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// sortEntities sorts list by key and returns old index -> new index.
func sortEntities(list []Entity) []int32 {
	order := make([]int32, len(list))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int { return keyCompare(list[a].Key, list[b].Key) })
	sorted := make([]Entity, len(list))
	perm := make([]int32, len(list))
	for newIdx, old := range order {
		sorted[newIdx] = list[old]
		perm[old] = int32(newIdx)
	}
	copy(list, sorted)
	return perm
}

// fieldPositions returns the positions of names in s.Categorical.
func fieldPositions(s *datasets.Schema, names []string) ([]int, error) {
	out := make([]int, len(names))
	for i, n := range names {
		j := slices.Index(s.Categorical, n)
		if j < 0 {
			return nil, fmt.Errorf("the %s schema has no categorical field %q (want a MovieLens source)", s.Dataset, n)
		}
		out[i] = j
	}
	return out, nil
}

// Split is a leave-last-out split of Interactions.
type Split struct {
	// Train are the training interactions (sorted by user, time).
	Train []Event
	// Valid and Test hold each evaluated user's second-to-last and last
	// positive, in user order (Valid[i].User == Test[i].User).
	Valid, Test []Event
	// Seen[u] lists the items user u interacted with in Train, sorted
	// (duplicates removed).
	Seen [][]int32
}

// LeaveLastOut splits in per user by timestamp (ties broken by item
// index): the last positive of each user with at least three is its test
// item, the one before its validation item, the rest are training; users
// with fewer only train.
func (in *Interactions) LeaveLastOut() *Split {
	sp := &Split{Seen: make([][]int32, len(in.Users))}
	ev := in.Events
	for lo := 0; lo < len(ev); {
		hi := lo
		for hi < len(ev) && ev[hi].User == ev[lo].User {
			hi++
		}
		user := ev[lo:hi]
		if len(user) >= 3 {
			sp.Train = append(sp.Train, user[:len(user)-2]...)
			sp.Valid = append(sp.Valid, user[len(user)-2])
			sp.Test = append(sp.Test, user[len(user)-1])
			user = user[:len(user)-2]
		} else {
			sp.Train = append(sp.Train, user...)
		}
		seen := make([]int32, len(user))
		for i, e := range user {
			seen[i] = e.Item
		}
		slices.Sort(seen)
		sp.Seen[ev[lo].User] = slices.Compact(seen)
		lo = hi
	}
	return sp
}
