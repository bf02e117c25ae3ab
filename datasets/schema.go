package datasets

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// SchemaMetadataKey is the Parquet key-value metadata key holding the JSON
// encoding of the file's [Schema].
const SchemaMetadataKey = "embtab.schema"

// Schema describes the columns of one dataset.
type Schema struct {
	// Dataset names the source format: "criteo", "avazu", "movielens1m",
	// "movielens100k" (generated Criteo-like data uses "criteo").
	Dataset string `json:"dataset"`
	// Label is the name of the 0/1 label column.
	Label string `json:"label"`
	// Dense lists the integer-valued dense feature columns (may be missing).
	Dense []string `json:"dense,omitempty"`
	// Categorical lists the categorical feature columns, in field order:
	// field i of a batch's ids is Categorical[i]. A missing value is "".
	Categorical []string `json:"categorical"`
	// Bags lists the bag (multi-hot or sequence) feature columns, each
	// value a list of categorical values: a movie's genres, a user's
	// recent items. They are model inputs after Categorical (package
	// slots lays them out: pooled, or a sequence of slots). A bag with Of
	// set holds values of that categorical field and shares its rows (a
	// user's history of movie ids shares the movie_id field's rows);
	// otherwise it is a table field of its own, after the categorical
	// fields (see [Schema.BagField]).
	Bags []Bag `json:"bags,omitempty"`
	// Timestamp names the Unix-seconds timestamp column, or "" if none.
	Timestamp string `json:"timestamp,omitempty"`
	// Extra lists string columns kept for reference, not model inputs.
	Extra []string `json:"extra,omitempty"`
	// LabelRule documents how the label was derived when it is not in the
	// raw data (MovieLens: "rating >= 4").
	LabelRule string `json:"label_rule,omitempty"`
}

// Bag is one bag column of a [Schema].
type Bag struct {
	// Name is the column's name.
	Name string `json:"name"`
	// Of names the categorical field whose value space the bag shares
	// ("" = a field of its own).
	Of string `json:"of,omitempty"`
}

// NumBags returns len(s.Bags).
func (s *Schema) NumBags() int { return len(s.Bags) }

// NumSlots returns the model's embedding inputs per example when every
// bag pools into one (a sequence bag takes more: slots.Layout).
func (s *Schema) NumSlots() int { return len(s.Categorical) + len(s.Bags) }

// BagFields returns BagField of every bag.
func (s *Schema) BagFields() []int {
	f := make([]int, len(s.Bags))
	for k := range f {
		f[k] = s.BagField(k)
	}
	return f
}

// NumFields returns the table fields: the categorical fields, then one per
// bag that has no Of field.
func (s *Schema) NumFields() int {
	n := len(s.Categorical)
	for _, b := range s.Bags {
		if b.Of == "" {
			n++
		}
	}
	return n
}

// BagField returns the table field of bag k: the index of its Of field in
// Categorical, or its own field after the categorical ones. The schema
// must be valid.
func (s *Schema) BagField(k int) int {
	if of := s.Bags[k].Of; of != "" {
		for f, n := range s.Categorical {
			if n == of {
				return f
			}
		}
		panic("datasets: bag " + s.Bags[k].Name + ": no categorical field " + of)
	}
	f := len(s.Categorical)
	for _, b := range s.Bags[:k] {
		if b.Of == "" {
			f++
		}
	}
	return f
}

// FieldName names table field f (see [Schema.NumFields]).
func (s *Schema) FieldName(f int) string {
	if f < len(s.Categorical) {
		return s.Categorical[f]
	}
	own := len(s.Categorical)
	for _, b := range s.Bags {
		if b.Of == "" {
			if own == f {
				return b.Name
			}
			own++
		}
	}
	return ""
}

// NumDense returns len(s.Dense).
func (s *Schema) NumDense() int { return len(s.Dense) }

// NumCat returns len(s.Categorical).
func (s *Schema) NumCat() int { return len(s.Categorical) }

// Validate checks that column names are present and unique.
func (s *Schema) Validate() error {
	if s.Label == "" {
		return errors.New("schema: no label column")
	}
	seen := map[string]bool{s.Label: true}
	check := func(kind string, names []string) error {
		for _, n := range names {
			if n == "" {
				return fmt.Errorf("schema: empty %s column name", kind)
			}
			if seen[n] {
				return fmt.Errorf("schema: duplicate column %q", n)
			}
			seen[n] = true
		}
		return nil
	}
	if err := check("dense", s.Dense); err != nil {
		return err
	}
	if err := check("categorical", s.Categorical); err != nil {
		return err
	}
	if err := check("extra", s.Extra); err != nil {
		return err
	}
	for _, b := range s.Bags {
		if err := check("bag", []string{b.Name}); err != nil {
			return err
		}
		if b.Of != "" && !slices.Contains(s.Categorical, b.Of) {
			return fmt.Errorf("schema: bag %q shares field %q, which is not a categorical column", b.Name, b.Of)
		}
	}
	if s.Timestamp != "" {
		if err := check("timestamp", []string{s.Timestamp}); err != nil {
			return err
		}
	}
	return nil
}

// MarshalSchema returns the JSON stored under SchemaMetadataKey.
func MarshalSchema(s *Schema) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// UnmarshalSchema parses a schema stored under SchemaMetadataKey.
func UnmarshalSchema(text string) (*Schema, error) {
	var s Schema
	if err := json.Unmarshal([]byte(text), &s); err != nil {
		return nil, fmt.Errorf("schema metadata: %w", err)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// Record is one example. Slices are sized by the schema and reused between
// calls to RecordReader.Read, and the strings in Cat and Extra may alias the
// reader's line buffer: they are valid only until the next Read. Use CopyFrom
// to keep a record.
type Record struct {
	Label int8
	// Dense holds the dense values; DenseValid[i] is false where the raw
	// value was missing (Dense[i] is then 0).
	Dense      []int64
	DenseValid []bool
	// Cat holds the categorical values in schema order; "" is missing.
	Cat []string
	// Bags holds each bag's values in schema order (an empty bag: none).
	Bags      [][]string
	Timestamp int64
	Extra     []string
}

// NewRecord returns a Record sized for s.
func NewRecord(s *Schema) *Record {
	return &Record{
		Dense:      make([]int64, len(s.Dense)),
		DenseValid: make([]bool, len(s.Dense)),
		Cat:        make([]string, len(s.Categorical)),
		Bags:       make([][]string, len(s.Bags)),
		Extra:      make([]string, len(s.Extra)),
	}
}

// CopyFrom makes r a deep copy of o, cloning strings that may alias a buffer.
func (r *Record) CopyFrom(o *Record) {
	r.Label = o.Label
	r.Dense = append(r.Dense[:0], o.Dense...)
	r.DenseValid = append(r.DenseValid[:0], o.DenseValid...)
	r.Cat = r.Cat[:0]
	for _, v := range o.Cat {
		r.Cat = append(r.Cat, strings.Clone(v))
	}
	if len(r.Bags) != len(o.Bags) {
		r.Bags = make([][]string, len(o.Bags))
	}
	for k, vs := range o.Bags {
		// A fresh slice: r's may alias a reader's scratch.
		r.Bags[k] = make([]string, len(vs))
		for j, v := range vs {
			r.Bags[k][j] = strings.Clone(v)
		}
	}
	r.Timestamp = o.Timestamp
	r.Extra = r.Extra[:0]
	for _, v := range o.Extra {
		r.Extra = append(r.Extra, strings.Clone(v))
	}
}

// RecordReader streams records from a source.
type RecordReader interface {
	// Schema describes the records.
	Schema() *Schema
	// Read fills rec with the next record. It returns io.EOF at the end, a
	// *RowError for a malformed row (the reader stays usable: the next call
	// reads the next row), or another error after which the reader is dead.
	Read(rec *Record) error
	// Close releases the source.
	Close() error
}
