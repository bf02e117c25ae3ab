package embedding

import (
	"fmt"
	"strconv"
)

// Key names one stored row: row Row of row set Set. A table's row sets are
// its [Rows] stores in training (RowSets) and its row files in an artifact,
// in the same order.
type Key struct {
	Set uint32
	Row uint32
}

// String returns "set/row".
func (k Key) String() string {
	return strconv.FormatUint(uint64(k.Set), 10) + "/" + strconv.FormatUint(uint64(k.Row), 10)
}

// Combine says how the rows of one id's keys make the field vector.
type Combine uint8

const (
	// CopyRow: one key; its row is the vector's leading Width floats.
	CopyRow Combine = iota
	// SumRows: the keys' rows, times their weights, summed in key
	// order (multi-probe hashing; the pooling of bags).
	SumRows
	// ConcatRows: key k's row is the vector's floats [k·Width,
	// (k+1)·Width) (feature multiplexing's and Unified Embedding's chunks).
	ConcatRows
	// ComputeVector: the field's [Computer] makes the vector from the id
	// and its keys' rows (a QR product, a tensor-train contraction, an MLP
	// over hash encodings with no rows at all).
	ComputeVector
	// SparseRow: one key, naming a row of a pruned table's sparse form
	// (package prune): the row's first MaskWords(Used) floats hold a bit
	// mask over the vector's Used floats, 24 bits a float as an exact
	// integer value (bit b of float w set: float 24w+b is stored), and
	// the floats after them hold the stored values in ascending order;
	// every other float is zero. A field's keys may name sets of
	// different widths (one per count of stored values), each at most
	// Width floats. The rows only mean this in fp32: serving only, never
	// trained.
	SparseRow
)

var combineNames = [...]string{CopyRow: "copy", SumRows: "sum", ConcatRows: "concat", ComputeVector: "computed", SparseRow: "sparse"}

// MaskWords returns the floats of a [SparseRow] row's mask over dim
// floats: one per [MaskBits].
func MaskWords(dim int) int { return (dim + MaskBits - 1) / MaskBits }

// MaskBits is the bits of a [SparseRow] mask a float holds: integers
// below 2^24 are exact in float32.
const MaskBits = 24

// String returns the combine's name.
func (c Combine) String() string {
	if int(c) < len(combineNames) {
		return combineNames[c]
	}
	return fmt.Sprintf("Combine(%d)", uint8(c))
}

// KeyFunc appends to dst the keys of the rows that id reads, in the order
// its field's combine takes them (exactly the field's NumKeys keys), and
// returns the extended slice. It must be a pure function of id and the
// plan's config and index: training and serving call the same one.
type KeyFunc func(dst []Key, id uint64) []Key

// Computer makes field vectors that are not a copy, sum or concatenation
// of rows: Compute writes the Used leading floats of the vector of id into
// out from rows, the field's NumKeys rows (Width floats each, in key
// order; empty when NumKeys is 0).
type Computer interface {
	Compute(id uint64, rows, out []float32)
}

// GradComputer is a Computer that trains: Backward writes into drows the
// gradient of the loss with respect to rows, given the rows of the
// forward pass and dout, the gradient with respect to the Used leading
// floats of the vector. A trainable table needs it for every computed
// field; a Computer with parameters of its own updates them here too.
type GradComputer interface {
	Computer
	Backward(id uint64, rows, dout, drows []float32)
}

// SharedComputer is a Computer that reads its field's shared rows in
// place: a [Gatherer] calls ComputeShared instead of Compute, with the
// id's own rows (its NumKeys rows, in slots of Width floats) and the
// field's shared rows apart, sparing a copy of the shared rows per id
// (a codebook of many rows). ComputeShared must write what Compute writes
// for rows = own followed by shared.
type SharedComputer interface {
	Computer
	ComputeShared(id uint64, own, shared, out []float32)
}

// FieldPlan is how one field's ids become vectors.
type FieldPlan struct {
	// Keys maps an id to its keys (nil when NumKeys is 0).
	Keys KeyFunc
	// NumKeys is the number of keys of every id (>= 1, or 0 for a
	// computed field that reads no rows).
	NumKeys int
	// Combine is how the keys' rows make the vector.
	Combine Combine
	// Width is the floats per row of every set the field's keys name.
	// A computed field's keys (own and shared) may also name narrower
	// sets: each row reaches its Computer in a slot of Width floats,
	// zero-padded (and its gradient is the slot's leading floats).
	Width int
	// Used is the number of leading floats of the Dim-float vector the
	// field fills; the rest are zero. Copy and Sum: Used == Width;
	// Concat: Used == NumKeys·Width; Computed: Used <= Dim.
	Used int
	// Weights are the Sum weights of the key positions (nil: all 1).
	Weights []float32
	// Computer makes the vector of a computed field.
	Computer Computer
	// Exact says the field's rows carry integers as float values (a
	// product quantizer's codes) that only an exact codec (fp32) keeps.
	Exact bool
	// Shared are keys every id of a computed field reads besides its own
	// NumKeys (the field's shared parameters: a projection, a codebook),
	// Width floats each. Their rows follow the id's own rows in what the
	// Computer gets (and in the gradient its Backward writes); a batch
	// gathers them once per field, and training sums their gradients over
	// the batch's ids (in id order) and updates each once.
	Shared []Key
}

// SetShape is the shape of one row set.
type SetShape struct {
	Rows  int // rows
	Width int // floats per row
}

// Plan is a table method's key plan: the pure function (field, id) ->
// keys + combine that turns ids into vectors, from the method's config and
// index (vocabularies), and the shape of the row sets the keys name. The
// training table and the serving path build the same plan through the
// method's code ([Method.Plan]) and resolve ids with it; a [Gatherer] then
// reads the rows through the fused kernels.
//
// A Plan is immutable once built and safe for concurrent use; it may read
// an index (an artifact's mapped vocabulary) that must outlive it.
type Plan struct {
	// Dim is the floats per field vector.
	Dim int
	// Sets are the row sets, in Key.Set order.
	Sets []SetShape
	// Fields are the fields' plans, in field order.
	Fields []FieldPlan
}

// Validate checks the plan's internal consistency (not its keys, which
// depend on ids: a [Gatherer] checks each key against the sets).
func (p *Plan) Validate() error {
	if p.Dim < 1 {
		return fmt.Errorf("plan: dim %d: %w", p.Dim, ErrConfig)
	}
	if len(p.Fields) == 0 {
		return fmt.Errorf("plan: no fields: %w", ErrConfig)
	}
	for s, sh := range p.Sets {
		if sh.Rows < 1 || sh.Width < 1 || sh.Rows > MaxRows {
			return fmt.Errorf("plan: row set %d: %d rows of %d floats: %w", s, sh.Rows, sh.Width, ErrConfig)
		}
	}
	for f := range p.Fields {
		if err := p.Fields[f].validate(p.Dim); err != nil {
			return fmt.Errorf("plan: field %d: %w", f, err)
		}
	}
	return nil
}

func (fp *FieldPlan) validate(dim int) error {
	if fp.NumKeys < 0 || (fp.NumKeys > 0 && fp.Keys == nil) || (fp.NumKeys > 0 && fp.Width < 1) {
		return fmt.Errorf("%d keys of width %d (key func set: %v): %w", fp.NumKeys, fp.Width, fp.Keys != nil, ErrConfig)
	}
	if len(fp.Shared) > 0 && (fp.Combine != ComputeVector || fp.Width < 1) {
		return fmt.Errorf("%d shared keys for a %s field of width %d: %w", len(fp.Shared), fp.Combine, fp.Width, ErrConfig)
	}
	if fp.Weights != nil && (fp.Combine != SumRows || len(fp.Weights) != fp.NumKeys) {
		return fmt.Errorf("%d weights for %d %s keys: %w", len(fp.Weights), fp.NumKeys, fp.Combine, ErrConfig)
	}
	want := -1
	switch fp.Combine {
	case CopyRow:
		if fp.NumKeys != 1 {
			return fmt.Errorf("copy of %d keys: %w", fp.NumKeys, ErrConfig)
		}
		want = fp.Width
	case SumRows:
		if fp.NumKeys < 1 {
			return fmt.Errorf("sum of no keys: %w", ErrConfig)
		}
		want = fp.Width
	case ConcatRows:
		if fp.NumKeys < 1 {
			return fmt.Errorf("concat of no keys: %w", ErrConfig)
		}
		want = fp.NumKeys * fp.Width
	case SparseRow:
		if fp.NumKeys != 1 || fp.Width < MaskWords(fp.Used) {
			return fmt.Errorf("sparse rows: %d keys of width %d for %d floats: %w", fp.NumKeys, fp.Width, fp.Used, ErrConfig)
		}
	case ComputeVector:
		if fp.Computer == nil {
			return fmt.Errorf("computed field without a computer: %w", ErrConfig)
		}
	default:
		return fmt.Errorf("combine %v: %w", fp.Combine, ErrConfig)
	}
	if (want >= 0 && fp.Used != want) || fp.Used < 1 || fp.Used > dim {
		return fmt.Errorf("%s of %d keys of width %d fills %d of %d floats: %w", fp.Combine, fp.NumKeys, fp.Width, fp.Used, dim, ErrConfig)
	}
	return nil
}

// NumFields returns the number of fields.
func (p *Plan) NumFields() int { return len(p.Fields) }

// MaxKeys returns the most keys one id maps to.
func (p *Plan) MaxKeys() int {
	m := 0
	for f := range p.Fields {
		m = max(m, p.Fields[f].NumKeys)
	}
	return m
}

// AppendKeys appends the keys of id in field f to dst. It panics if f is
// out of range.
func (p *Plan) AppendKeys(dst []Key, f int, id uint64) []Key {
	fp := &p.Fields[f]
	if fp.NumKeys == 0 {
		return dst
	}
	return fp.Keys(dst, id)
}

// FieldDims returns the Used floats of each field.
func (p *Plan) FieldDims() []int {
	d := make([]int, len(p.Fields))
	for f := range p.Fields {
		d[f] = p.Fields[f].Used
	}
	return d
}

// fastKind reports whether every id's rows land in out directly: one row
// set as wide as the plan's layout needs, and every field a copy or
// concatenation filling Dim (kernel pooling None), or every field an
// unweighted sum of the same number of keys as wide as Dim (pooling Sum).
type fastKind uint8

const (
	fastNone fastKind = iota
	fastCopy          // pooling None straight into out
	fastSum           // pooling Sum, k keys per id, straight into out
)

func (p *Plan) fast() (fastKind, int) {
	if len(p.Sets) != 1 {
		return fastNone, 0
	}
	copyOK, sumOK := true, true
	k := p.Fields[0].NumKeys
	for f := range p.Fields {
		fp := &p.Fields[f]
		if !((fp.Combine == CopyRow || fp.Combine == ConcatRows) && fp.Used == p.Dim && fp.Width == p.Sets[0].Width) {
			copyOK = false
		}
		if !(fp.Combine == SumRows && fp.Weights == nil && fp.NumKeys == k && fp.Width == p.Dim && fp.Width == p.Sets[0].Width) {
			sumOK = false
		}
	}
	switch {
	case copyOK:
		return fastCopy, 0
	case sumOK:
		return fastSum, k
	}
	return fastNone, 0
}

// Exact reports whether the plan's rows must be stored exactly (fp32):
// it has [SparseRow] fields, whose rows carry masks as integers, or
// fields marked Exact.
func (p *Plan) Exact() bool {
	for f := range p.Fields {
		if p.Fields[f].Combine == SparseRow || p.Fields[f].Exact {
			return true
		}
	}
	return false
}
