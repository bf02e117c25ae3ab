package embedding

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"sync"
)

// Method is a table method registered by name, in the way database/sql
// drivers, quant codecs and lookup stores are: the one place that knows
// how a table of the method sizes itself to a byte budget for a field
// schema ([Method.New]) and how its ids become keys ([Method.Plan]). The
// trainer builds tables through it, the artifact records a table's
// [Description], and serving rebuilds the same plan from the manifest, so
// nothing outside the method's own files switches over method names or
// table types.
//
// The tables New returns are [Trainable] and [Describer]; they normally
// also implement [Persister] (checkpoints) and SetThreads(int).
type Method interface {
	// New builds a freshly initialised table for spec.
	New(spec Spec) (Trainable, error)
	// Plan returns the key plan of a table of this method from the config
	// its Description recorded (JSON; unknown keys are errors) and its
	// index (the Description's Index as an artifact serves it; nil for
	// methods without one). It checks the config and the index's sizes:
	// the errors wrap [ErrCorrupt].
	Plan(config json.RawMessage, index Index) (*Plan, error)
	// Load restores a table of the method from what its Save wrote (a
	// checkpoint's table section), config and index included.
	Load(r io.Reader) (Trainable, error)
}

// Index is a method's id index as serving holds it: for each field, the
// ids that own rows (a full table's vocabulary, a hybrid table's head),
// row k being the k-th id of the Description's Index. artifact.Vocab
// implements it over a mapped file.
type Index interface {
	Fields() int
	Len(f int) int
	Find(f int, id uint64) (row uint32, ok bool)
}

// Spec is what a method sizes a new table for.
type Spec struct {
	// Dim is the floats per field vector.
	Dim int
	// Budget is the table's byte budget in serving bytes: its fp32
	// parameters plus its index ([IndexBytesPerID] an indexed id). 0 means
	// no budget: a full table is built at its size, and a compressed
	// method sizes itself to PlanBytes when set, else to the full table's
	// serving bytes ([FullServingBytes]), so it keeps only its collisions.
	Budget int64
	// PlanBytes are the bytes of the dimension plan that set FieldDims
	// (0: none), the budget of compressed methods when Budget is 0.
	PlanBytes int64
	// Fields are the fields' distinct training ids (sorted ascending)
	// with their counts, from the vocabulary pre-pass.
	Fields []Frequencies
	// FieldDims are per-field dimensions from a dimension plan (nil: Dim
	// for every field). Methods that cannot honour them return an error.
	FieldDims []int
	// KeptIDs, when set with FieldDims, lists per field the ids a
	// dimension search kept (nil entry: all of Fields[f].IDs); methods
	// that give ids their own rows keep only these.
	KeptIDs [][]uint64
	// Optimizer is the sparse row optimizer.
	Optimizer Optimizer
	// Seed seeds the init (and int8 rounding).
	Seed uint64
	// InitScale is the half-width of the rows' uniform init for the
	// methods of this package that take it (full, hashed, qr); 0 means
	// DefaultInitScale.
	InitScale float32
	// Storage is the training precision of the rows ("" or StorageFP32,
	// StorageInt8).
	Storage string
	// Params are method-specific settings by name (say "rows_per_field",
	// "chunks", "probes", "head_fraction", "config"); a method rejects the
	// names it does not know ([Spec.Param] helpers parse them).
	Params map[string]string
}

// Cardinalities returns the number of distinct training ids of each field.
func (s *Spec) Cardinalities() []int64 {
	c := make([]int64, len(s.Fields))
	for f, fr := range s.Fields {
		c[f] = int64(len(fr.IDs))
		if fr.Distinct > c[f] {
			c[f] = fr.Distinct
		}
	}
	return c
}

// BudgetOrFull returns Budget, or the full table's serving bytes when it
// is 0.
func (s *Spec) BudgetOrFull() int64 {
	if s.Budget > 0 {
		return s.Budget
	}
	return FullServingBytes(s.Cardinalities(), s.Dim)
}

// FullServingBytes returns the serving bytes of a full table over fields
// of the given cardinalities at dim: its fp32 parameters
// ([FullTableBytes]) and its vocabulary ([IndexBytesPerID] an id).
func FullServingBytes(cardinalities []int64, dim int) int64 {
	b := FullTableBytes(cardinalities, dim)
	for _, n := range cardinalities {
		b += n * IndexBytesPerID
	}
	return b
}

// CheckParams returns an error naming the first of s.Params not in known.
func (s *Spec) CheckParams(method string, known ...string) error {
	names := make([]string, 0, len(s.Params))
	for k := range s.Params {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		if !slices.Contains(known, k) {
			return fmt.Errorf("%s table: unknown setting %q (it takes %v): %w", method, k, known, ErrConfig)
		}
	}
	return nil
}

// SettingsFile decodes into v the JSON file the "config" setting names
// (--table-config), strictly: unknown keys and trailing data are errors.
// Without the setting v is left as it is. The errors name the method and
// the file and wrap [ErrConfig].
func (s *Spec) SettingsFile(method string, v any) error {
	path := s.Params["config"]
	if path == "" {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%s table: settings file: %w: %w", method, ErrConfig, err)
	}
	if err := DecodeConfig(b, v); err != nil {
		return fmt.Errorf("%s table: settings file %s: %w: %w", method, path, ErrConfig, err)
	}
	return nil
}

// IntParam returns the integer setting name (def when absent).
func (s *Spec) IntParam(name string, def int) (int, error) {
	v, ok := s.Params[name]
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("setting %s=%q: not an integer: %w", name, v, ErrConfig)
	}
	return n, nil
}

// FloatParam returns the float setting name (def when absent).
func (s *Spec) FloatParam(name string, def float64) (float64, error) {
	v, ok := s.Params[name]
	if !ok {
		return def, nil
	}
	x, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, fmt.Errorf("setting %s=%q: not a number: %w", name, v, ErrConfig)
	}
	return x, nil
}

// Description is what an artifact records of a table: the method and its
// config (what [Method.Plan] reads back), the shape, the row sets and the
// index.
type Description struct {
	Method string
	// Config is the method's config as JSON.
	Config json.RawMessage
	// Plan is the table's key plan (Dim, the row sets' shapes, each
	// field's Used floats).
	Plan *Plan
	// Width is the floats per row the manifest records for the table (the
	// widest row set); SetWidths, when not nil, gives each set's own.
	Width     int
	SetWidths []int
	// Sets are the row stores, in row-set order.
	Sets []*Rows
	// Index lists per field the ids that own rows, in row order (nil for
	// methods without one).
	Index [][]uint64
}

// Describer is implemented by tables that an artifact can record.
type Describer interface {
	Describe() (Description, error)
}

var (
	methodsMu sync.RWMutex
	methods   = map[string]Method{}
)

// RegisterMethod makes a table method available by name. It panics if m
// is nil or the name is taken, as database/sql.Register does; call it from
// an init function (or a test).
func RegisterMethod(name string, m Method) {
	if m == nil {
		panic("embedding: RegisterMethod of a nil method for " + name)
	}
	methodsMu.Lock()
	defer methodsMu.Unlock()
	if _, dup := methods[name]; dup {
		panic(fmt.Sprintf("embedding: RegisterMethod called twice for %q: %v", name, ErrDuplicateMethod))
	}
	methods[name] = m
}

// MethodByName returns the method registered under name; the error wraps
// [ErrUnknownMethod] and lists the registered names.
func MethodByName(name string) (Method, error) {
	methodsMu.RLock()
	m, ok := methods[name]
	methodsMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("table method %q (have %v): %w", name, Methods(), ErrUnknownMethod)
	}
	return m, nil
}

// Methods returns the registered method names, sorted.
func Methods() []string {
	methodsMu.RLock()
	defer methodsMu.RUnlock()
	names := make([]string, 0, len(methods))
	for n := range methods {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// DecodeConfig unmarshals a method config strictly (unknown keys and
// trailing data are errors wrapping [ErrCorrupt]).
func DecodeConfig(raw json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decode table config: %w: %w", ErrCorrupt, err)
	}
	if dec.More() {
		return fmt.Errorf("decode table config: trailing data: %w", ErrCorrupt)
	}
	return nil
}

// TrainTable is a table as a training loop uses it: it learns, saves and
// restores itself (checkpoints) and updates with several goroutines.
type TrainTable interface {
	Trainable
	Persister
	SetThreads(n int)
}

// NewTable builds a fresh table of the method registered as name for
// spec; the table must be a [TrainTable]. The errors name the method.
func NewTable(name string, spec Spec) (TrainTable, error) {
	m, err := MethodByName(name)
	if err != nil {
		return nil, err
	}
	t, err := m.New(spec)
	if err != nil {
		return nil, err
	}
	tt, ok := t.(TrainTable)
	if !ok {
		return nil, fmt.Errorf("%s table: %T cannot be checkpointed or threaded (Persister, SetThreads): %w", name, t, ErrConfig)
	}
	return tt, nil
}
