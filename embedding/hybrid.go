package embedding

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"slices"
)

// MethodHybrid names the frequency-aware hybrid table ([Hybrid]) in
// manifests and flags. It is not a [Config] method: a hybrid table is
// described by a [HybridConfig].
const MethodHybrid = "hybrid"

// DefaultHeadFraction is the share of the budget that [HybridForBudget]
// gives the head rows when none is set.
const DefaultHeadFraction = 0.5

// HybridConfig describes a [Hybrid] table completely enough to rebuild it
// together with its head vocabulary (which Save stores beside the rows).
type HybridConfig struct {
	// Method is MethodHybrid (or empty on input).
	Method string `json:"method"`
	// Dim is the number of floats per id.
	Dim int `json:"dim"`
	// HeadRows is the number of head ids (own rows) per field. It is
	// reported by the table and ignored by [NewHybrid], which takes the
	// head ids themselves.
	HeadRows []int `json:"head_rows"`
	// TailRows is the number of hashed rows per field, shared by every id
	// outside the field's head; len(TailRows) is the number of fields.
	TailRows []int `json:"tail_rows"`
	// HeadFraction is the share of the parameter budget given to the head
	// rows by [HybridForBudget] (0 means DefaultHeadFraction). It records
	// how the table was sized and does not change its behaviour.
	HeadFraction float64 `json:"head_fraction"`
	// Optimizer is the sparse row optimizer.
	Optimizer Optimizer `json:"optimizer"`
	// InitScale is the half-width of the uniform init; 0 means
	// DefaultInitScale.
	InitScale float32 `json:"init_scale,omitempty"`
	// Seed seeds the init: field f draws init stream f over its head rows
	// then its tail rows (see [Rows.InitUniform]); for int8 storage it
	// also seeds the stochastic rounding.
	Seed uint64 `json:"seed"`
	// Storage is the precision of the rows during training, as
	// [Config].Storage: StorageInt8, or "" (also for StorageFP32) for
	// float32.
	Storage string `json:"storage,omitempty"`
	// FieldDims, when set, gives field f vectors of FieldDims[f] learned
	// floats (1 <= FieldDims[f] <= Dim), zero-padded to Dim, as
	// [Config].FieldDims: field f's head and tail rows then live in a row
	// store of their own, FieldDims[f] floats wide. nil means every field
	// has Dim.
	FieldDims []int `json:"field_dims,omitempty"`
}

// WithDefaults validates c and returns a copy (sharing no slices with c)
// with its defaults filled in. HeadRows, when given, must have one entry
// per field.
func (c HybridConfig) WithDefaults() (HybridConfig, error) {
	c = c.clone()
	if c.Method == "" {
		c.Method = MethodHybrid
	}
	if c.Method != MethodHybrid {
		return c, fmt.Errorf("hybrid table: method %q: %w", c.Method, ErrConfig)
	}
	if c.Dim < 1 {
		return c, fmt.Errorf("hybrid table: dim %d: %w", c.Dim, ErrConfig)
	}
	if c.HeadFraction == 0 {
		c.HeadFraction = DefaultHeadFraction
	}
	if !(c.HeadFraction > 0 && c.HeadFraction <= 1) {
		return c, fmt.Errorf("hybrid table: head fraction %v not in (0, 1]: %w", c.HeadFraction, ErrConfig)
	}
	// Reuse Config's checks of the optimizer, init scale and row counts.
	base := Config{Method: MethodHashed, Dim: c.Dim, Rows: c.TailRows, Optimizer: c.Optimizer,
		InitScale: c.InitScale, Seed: c.Seed, Storage: c.Storage, FieldDims: c.FieldDims}
	base, err := base.WithDefaults()
	if err != nil {
		return c, fmt.Errorf("hybrid table: tail: %w", err)
	}
	c.Optimizer, c.InitScale, c.Storage, c.FieldDims = base.Optimizer, base.InitScale, base.Storage, base.FieldDims
	if c.HeadRows != nil && len(c.HeadRows) != len(c.TailRows) {
		return c, fmt.Errorf("hybrid table: %d head and %d tail fields: %w", len(c.HeadRows), len(c.TailRows), ErrConfig)
	}
	total := int64(0)
	for f, n := range c.TailRows {
		total += int64(n)
		if c.HeadRows != nil {
			if c.HeadRows[f] < 0 || c.HeadRows[f] > MaxRows {
				return c, fmt.Errorf("hybrid table: field %d has %d head rows: %w", f, c.HeadRows[f], ErrConfig)
			}
			total += int64(c.HeadRows[f])
		}
	}
	if total > MaxRows {
		return c, fmt.Errorf("hybrid table: %d rows (max %d): %w", total, MaxRows, ErrTooManyRows)
	}
	return c, nil
}

// Fields returns the number of fields, len(c.TailRows).
func (c HybridConfig) Fields() int { return len(c.TailRows) }

// ParamBytes returns the fp32 parameter bytes of the head and tail rows,
// whatever the Storage (as [Config.ParamBytes]); with FieldDims, field f's
// rows count FieldDims[f] floats each.
func (c HybridConfig) ParamBytes() int64 {
	var floats int64
	for f, n := range c.HeadRows {
		floats += int64(n) * int64(c.FieldDim(f))
	}
	for f, n := range c.TailRows {
		floats += int64(n) * int64(c.FieldDim(f))
	}
	return floats * 4
}

// FieldDim returns the number of learned floats of field f's vectors:
// FieldDims[f], or Dim when FieldDims is nil (or too short).
func (c HybridConfig) FieldDim(f int) int {
	if f < len(c.FieldDims) {
		return c.FieldDims[f]
	}
	return c.Dim
}

func (c HybridConfig) clone() HybridConfig {
	c.HeadRows = slices.Clone(c.HeadRows)
	c.TailRows = slices.Clone(c.TailRows)
	c.FieldDims = slices.Clone(c.FieldDims)
	return c
}

// equal reports whether two configs (with defaults) describe the same
// table, head sizes apart (they follow the head vocabulary).
func (c HybridConfig) equal(o HybridConfig) bool {
	return c.Method == o.Method && c.Dim == o.Dim && slices.Equal(c.TailRows, o.TailRows) &&
		c.HeadFraction == o.HeadFraction && c.Optimizer == o.Optimizer &&
		c.InitScale == o.InitScale && c.Seed == o.Seed && c.Storage == o.Storage &&
		slices.Equal(c.FieldDims, o.FieldDims)
}

// Hybrid is a frequency-aware table: in each field the frequent ids (the
// head, chosen by a counting pre-pass or a [SpaceSaving] sketch, see
// [HybridForBudget]) have rows of their own, as in [Full], and every other
// id shares the field's TailRows hashed rows, as in [Hashed]: tail row
// hashing.Bucket(id, TailRows[f]). Frequent ids thus never collide, and
// the rare ids, which see few updates, share rows.
//
// Field f's rows are its HeadRows[f] head rows (in the order of its head
// vocabulary) followed by its tail rows. Head ids are resolved with the
// same open-addressing map as Full (16 bytes a slot, at most 70% full),
// counted in Bytes().Index. With HybridConfig.FieldDims, field f's rows are
// FieldDims[f] floats wide, in a row store of their own.
type Hybrid struct {
	cfg   HybridConfig
	index idMaps
	rows  *tableRows
	*Planned
}

// NewHybrid returns a hybrid table whose field f gives each id of heads[f]
// its own row and hashes every other id into c.TailRows[f] rows,
// initialised from c.Seed. len(heads) must equal len(c.TailRows);
// c.HeadRows is ignored and reported as len(heads[f]). An id listed twice
// in a field is an error wrapping [ErrDuplicateID]; other errors wrap
// [ErrConfig], [ErrTooManyRows] or [ErrUnknownOptimizer].
func NewHybrid(heads [][]uint64, c HybridConfig) (*Hybrid, error) {
	return newHybrid(heads, c, true)
}

func newHybrid(heads [][]uint64, c HybridConfig, init bool) (*Hybrid, error) {
	if len(heads) != len(c.TailRows) {
		return nil, fmt.Errorf("new hybrid table: %d head vocabularies for %d fields: %w",
			len(heads), len(c.TailRows), ErrConfig)
	}
	c.HeadRows = make([]int, len(heads))
	for f, h := range heads {
		c.HeadRows[f] = len(h)
	}
	c, err := c.WithDefaults()
	if err != nil {
		return nil, fmt.Errorf("new hybrid table: %w", err)
	}
	t := &Hybrid{cfg: c}
	index, f, dup, ok := newIDMaps(heads)
	if !ok {
		return nil, fmt.Errorf("new hybrid table: field %d head id %#x: %w", f, dup, ErrDuplicateID)
	}
	t.index = index
	rows := make([]int, len(heads))
	for f, h := range heads {
		rows[f] = len(h) + c.TailRows[f]
	}
	if t.rows, err = newTableRows(rows, c.FieldDims, c.Dim, c.Optimizer, Storage{Precision: c.Storage, Seed: c.Seed}); err != nil {
		return nil, fmt.Errorf("new hybrid table: %w", err)
	}
	if init {
		for f := range heads {
			off := fieldOffset(rows, c.FieldDims, f)
			t.rows.set(f).InitUniform(off, off+rows[f], c.InitScale, c.Seed, uint64(f))
		}
	}
	if t.Planned, err = NewPlanned(hybridPlan(c, index), t.rows.sets); err != nil {
		return nil, fmt.Errorf("new hybrid table: %w", err)
	}
	return t, nil
}

// hybridPlan is the key plan of a hybrid config: a head id's own row,
// else its hashed tail row.
func hybridPlan(c HybridConfig, index Index) *Plan {
	return mappedPlan(c.Dim, c.HeadRows, c.TailRows, c.FieldDims, index)
}

// NewHybridForBudget sizes a hybrid table to budgetBytes of fp32
// parameters with [HybridForBudget] (head share c.HeadFraction, default
// DefaultHeadFraction) from the fields' frequencies, and builds it with
// c's dim, optimizer, init scale, seed, storage and field dims. c's row
// counts are ignored. The sizing assumes every field has c.Dim floats, so
// a table with FieldDims stays below the budget.
func NewHybridForBudget(budgetBytes int64, freqs []Frequencies, c HybridConfig) (*Hybrid, error) {
	heads, tail, err := HybridForBudget(budgetBytes, freqs, c.Dim, c.HeadFraction)
	if err != nil {
		return nil, err
	}
	c.TailRows = tail
	return NewHybrid(heads, c)
}

// Config returns the table's configuration, defaults filled in.
func (t *Hybrid) Config() HybridConfig { return t.cfg.clone() }

// Head returns the head ids of field f in row order (a new slice).
func (t *Hybrid) Head(f int) []uint64 {
	return t.index.ids(f)
}

// Params returns the head rows and the tail rows of field f, row-major
// (FieldDim(f) floats per row), aliasing the table (valid until the next
// Load; do not modify). It returns nils for int8 storage: read the rows
// with [Rows.ReadRows] (RowSets).
func (t *Hybrid) Params(f int) (head, tail []float32) {
	nh := t.cfg.HeadRows[f]
	rows := make([]int, len(t.cfg.TailRows))
	for g := range rows {
		rows[g] = t.cfg.HeadRows[g] + t.cfg.TailRows[g]
	}
	off := fieldOffset(rows, t.cfg.FieldDims, f)
	mid := off + nh
	rs := t.rows.set(f)
	return rs.span(off, mid), rs.span(mid, mid+t.cfg.TailRows[f])
}

// Bytes reports the parameter and optimizer-state bytes and, as Index, the
// head maps' slot arrays.
func (t *Hybrid) Bytes() Bytes {
	b := t.Planned.Bytes()
	b.Index = t.index.bytes()
	return b
}

// Hybrid stream format, versions 1 to 3 as for the package's table format
// (version 2 for int8 storage, 3 with per-field dims), little-endian; the
// sections after the header are those of that format (see persist.go):
//
//	header  magic   8 bytes "EMBHYBRD"
//	        version uint32 (1, 2 for int8 storage, 3 with field_dims)
//	        cfgLen  uint32
//	        config  cfgLen bytes: the HybridConfig as JSON, defaults filled in
//	heads   for each field f, HeadRows[f] uint64 ids in row order
//	rows    the rows section (version 3: one per field, in field order)
//	end     magic   8 bytes "ENDTABLE"
//
// [Load] does not read it (its magic differs): use [LoadHybrid] or
// (*Hybrid).Load.
var hybridMagic = [8]byte{'E', 'M', 'B', 'H', 'Y', 'B', 'R', 'D'}

// Save writes the table (config, head vocabularies, parameters, optimizer
// state) to w in the format above.
func (t *Hybrid) Save(w io.Writer) error {
	js, err := json.Marshal(t.cfg)
	if err != nil {
		return fmt.Errorf("save hybrid table: encode config: %w", err)
	}
	h := make([]byte, 0, 16+len(js))
	h = append(h, hybridMagic[:]...)
	h = binary.LittleEndian.AppendUint32(h, versionFor(t.cfg.Storage, t.cfg.FieldDims != nil))
	h = binary.LittleEndian.AppendUint32(h, uint32(len(js)))
	h = append(h, js...)
	if _, err := w.Write(h); err != nil {
		return fmt.Errorf("save hybrid table: write header: %w", err)
	}
	buf := make([]byte, ioChunk)
	for f := range t.index {
		if err := writeSlice(w, buf, t.Head(f)); err != nil {
			return fmt.Errorf("save hybrid table: head of field %d: %w", f, err)
		}
	}
	if err := t.rows.save(w); err != nil {
		return fmt.Errorf("save hybrid table: %w", err)
	}
	if err := writeEnd(w); err != nil {
		return fmt.Errorf("save hybrid table: %w", err)
	}
	return nil
}

// Load replaces the table with a saved hybrid table whose configuration
// matches apart from the head vocabularies (else [ErrConfigMismatch]): the
// heads, parameters and optimizer state all come from r. The table is
// replaced only once everything has been read, so a failed Load leaves it
// unchanged; meanwhile both copies are in memory. The thread count is
// kept.
func (t *Hybrid) Load(r io.Reader) error {
	c, err := readHybridHeader(r)
	if err != nil {
		return fmt.Errorf("load hybrid table: %w", err)
	}
	if !c.equal(t.cfg) {
		return fmt.Errorf("load hybrid table: saved %+v, table %+v: %w", c, t.cfg, ErrConfigMismatch)
	}
	nt, err := loadHybridBody(r, c)
	if err != nil {
		return fmt.Errorf("load hybrid table: %w", err)
	}
	nt.SetThreads(t.Threads())
	*t = *nt
	return nil
}

// LoadHybrid reads a table saved by (*Hybrid).Save and returns it, with
// its threads at 1.
func LoadHybrid(r io.Reader) (*Hybrid, error) {
	c, err := readHybridHeader(r)
	if err != nil {
		return nil, fmt.Errorf("load hybrid table: %w", err)
	}
	t, err := loadHybridBody(r, c)
	if err != nil {
		return nil, fmt.Errorf("load hybrid table: %w", err)
	}
	return t, nil
}

// readHybridHeader reads and checks the header and returns the config,
// validated and with defaults.
func readHybridHeader(r io.Reader) (HybridConfig, error) {
	var c HybridConfig
	v, err := readFramedConfig(r, hybridMagic, &c)
	if err != nil {
		return c, err
	}
	if c.HeadRows == nil {
		return c, fmt.Errorf("config has no head_rows: %w", ErrCorrupt)
	}
	if c, err = c.WithDefaults(); err != nil {
		return c, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return c, checkStreamVersion(v, c.Storage, c.FieldDims)
}

// loadHybridBody reads the heads, rows and end marker of a saved hybrid
// table of config c into a new table.
func loadHybridBody(r io.Reader, c HybridConfig) (*Hybrid, error) {
	rows := make([]int, len(c.TailRows))
	for f, n := range c.TailRows {
		rows[f] = n + c.HeadRows[f] // WithDefaults bounds both
	}
	r, err := checkBody(r, bodyBytes(rows, c.FieldDims, c.Dim, c.Optimizer, c.Storage, int64(sumRows(c.HeadRows))))
	if err != nil {
		return nil, err
	}
	buf := make([]byte, ioChunk)
	heads := make([][]uint64, len(c.HeadRows))
	for f, n := range c.HeadRows {
		heads[f] = make([]uint64, n)
		if err := readSlice(r, buf, heads[f]); err != nil {
			return nil, fmt.Errorf("head of field %d: %w", f, err)
		}
	}
	t, err := newHybrid(heads, c, false)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if err := t.rows.load(r); err != nil {
		return nil, err
	}
	if err := readEnd(r); err != nil {
		return nil, err
	}
	return t, nil
}
