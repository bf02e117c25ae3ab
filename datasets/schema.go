package datasets

import (
	"encoding/json"
	"errors"
	"fmt"
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
	// Timestamp names the Unix-seconds timestamp column, or "" if none.
	Timestamp string `json:"timestamp,omitempty"`
	// Extra lists string columns kept for reference, not model inputs.
	Extra []string `json:"extra,omitempty"`
	// LabelRule documents how the label was derived when it is not in the
	// raw data (MovieLens: "rating >= 4").
	LabelRule string `json:"label_rule,omitempty"`
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
	Cat       []string
	Timestamp int64
	Extra     []string
}

// NewRecord returns a Record sized for s.
func NewRecord(s *Schema) *Record {
	return &Record{
		Dense:      make([]int64, len(s.Dense)),
		DenseValid: make([]bool, len(s.Dense)),
		Cat:        make([]string, len(s.Categorical)),
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
