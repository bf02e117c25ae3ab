package retrieval

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/hashing"
	"github.com/embtab/embtab/kernels/gemm"
	_ "github.com/embtab/embtab/methods" // registers every table method
)

// Config is a two-tower model and its training run.
type Config struct {
	// Table is the embedding method (a name registered with package
	// embedding: full, hashed, qr, multiplex, unified, multiprobe,
	// hybrid), MemoryBudget its budget in serving bytes (fp32 parameters
	// plus index; 0: the full table's), Storage "fp32" or "int8",
	// HeadFraction the hybrid head's share of the budget.
	Table        string  `json:"table"`
	MemoryBudget int64   `json:"memory_budget"`
	Storage      string  `json:"storage,omitempty"`
	HeadFraction float64 `json:"head_fraction,omitempty"`
	// Optimizer and EmbLR are the table rows' sparse optimizer and its
	// learning rate (trainer's defaults when empty/0).
	Optimizer string  `json:"optimizer"`
	EmbLR     float64 `json:"emb_lr"`
	// Dim is the table's dim, Hidden the towers' hidden width and Out
	// their output dim.
	Dim    int `json:"dim"`
	Hidden int `json:"hidden"`
	Out    int `json:"out"`
	// Nested are the Matryoshka prefix dims, increasing, each <= Out (Out
	// is added when missing); empty trains the full vectors only.
	Nested []int `json:"nested,omitempty"`
	// Temperature divides the cosine scores in the softmax; NoLogQ turns
	// off the sampling-bias correction.
	Temperature float64 `json:"temperature"`
	NoLogQ      bool    `json:"no_logq,omitempty"`
	// LR is Adam's learning rate for the tower weights.
	LR     float64 `json:"lr"`
	Epochs int     `json:"epochs"`
	Batch  int     `json:"batch"`
	Seed   uint64  `json:"seed"`
	// HashSeed seeds the hash of raw values to ids (0:
	// hashing.DefaultSeed).
	HashSeed uint64 `json:"hash_seed"`
	Threads  int    `json:"threads"`
	// History, when > 0, gives the user tower the mean of the item-key
	// vectors (the item tower's first field: the same rows) of the user's
	// last History positives before the interaction, as YouTube's
	// candidate model (Covington et al. 2016): in training the events
	// strictly earlier than the example's, when evaluating or serving all
	// of the user's known positives (see Model.History).
	History int `json:"history,omitempty"`
}

// Defaults fills the zero fields of c with the defaults.
func (c *Config) Defaults() {
	if c.Table == "" {
		c.Table = embedding.MethodFull
	}
	if c.Optimizer == "" {
		c.Optimizer = "rowwise_adagrad"
	}
	if c.EmbLR == 0 {
		c.EmbLR = embedding.DefaultLR(c.Optimizer)
	}
	if c.Dim == 0 {
		c.Dim = 16
	}
	if c.Hidden == 0 {
		c.Hidden = 64
	}
	if c.Out == 0 {
		c.Out = 32
	}
	if c.Temperature == 0 {
		c.Temperature = 0.05
	}
	if c.LR == 0 {
		c.LR = 0.002
	}
	if c.Epochs == 0 {
		c.Epochs = 10
	}
	if c.Batch == 0 {
		c.Batch = 512
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.HashSeed == 0 {
		c.HashSeed = hashing.DefaultSeed
	}
	if c.Threads <= 0 {
		c.Threads = 1
	}
}

// Validate checks c (after Defaults).
func (c *Config) Validate() error {
	switch {
	case c.Dim < 1 || c.Dim > 1024:
		return fmt.Errorf("dim %d: want 1 to 1024", c.Dim)
	case c.Hidden < 1 || c.Hidden > 4096:
		return fmt.Errorf("hidden %d: want 1 to 4096", c.Hidden)
	case c.Out < 1 || c.Out > 1024:
		return fmt.Errorf("out dim %d: want 1 to 1024", c.Out)
	case c.Temperature <= 0 || c.Temperature > 10:
		return fmt.Errorf("temperature %g: want (0, 10]", c.Temperature)
	case c.LR <= 0 || c.EmbLR <= 0:
		return fmt.Errorf("learning rates %g and %g must be positive", c.LR, c.EmbLR)
	case c.Epochs < 1:
		return fmt.Errorf("epochs %d must be positive", c.Epochs)
	case c.Batch < 2 || c.Batch > 1<<14:
		return fmt.Errorf("batch %d: want 2 to %d", c.Batch, 1<<14)
	case c.MemoryBudget < 0:
		return fmt.Errorf("memory budget %d is negative", c.MemoryBudget)
	case c.History < 0 || c.History > 1<<12:
		return fmt.Errorf("history %d: want 0 to %d", c.History, 1<<12)
	}
	for i, p := range c.Nested {
		if p < 1 || p > c.Out || i > 0 && p <= c.Nested[i-1] {
			return fmt.Errorf("nested dims %v: want increasing dims from 1 to out %d", c.Nested, c.Out)
		}
	}
	return nil
}

// nested returns the prefix dims of the loss: c.Nested with Out appended
// when missing, or [Out].
func (c *Config) nested() []int {
	n := slices.Clone(c.Nested)
	if len(n) == 0 || n[len(n)-1] != c.Out {
		n = append(n, c.Out)
	}
	return n
}

// Model is a two-tower model: the embedding table of all fields, the
// towers, and the ids of the users and items it was built for.
type Model struct {
	Config Config
	Table  embedding.TrainTable
	Towers *Towers
	Hasher *hashing.Hasher
	// in are the interactions the model was built for, sp their split
	// (sp.Seen goes into the artifact's catalog).
	in *Interactions
	sp *Split
	// userIDs[u*len(UserFields)+k] is the id of user u's k-th tower
	// field; itemIDs likewise.
	userIDs, itemIDs []uint64
	// blank[f] is the id of the missing value "" in field f, for the
	// fields of the other tower in a whole-row lookup.
	blank []uint64
}

// NewModel builds an untrained model for in: the table (through its
// registered method, sized from the training interactions' vocabulary)
// and randomly initialised towers.
func NewModel(cfg Config, in *Interactions, sp *Split) (*Model, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("two-tower config: %w", err)
	}
	nf := len(in.Schema.Categorical)
	m := &Model{Config: cfg, in: in, sp: sp, Hasher: hashing.New(cfg.HashSeed, nf), blank: make([]uint64, nf)}
	for f := range nf {
		m.blank[f] = m.Hasher.HashString(f, "")
	}
	m.userIDs = entityIDs(m.Hasher, in.Users, in.UserFields)
	m.itemIDs = entityIDs(m.Hasher, in.Items, in.ItemFields)

	// The vocabulary: every id of the training interactions, with its
	// frequency in them.
	counts := make([]map[uint64]uint32, nf)
	for f := range counts {
		counts[f] = map[uint64]uint32{}
	}
	nu, ni := len(in.UserFields), len(in.ItemFields)
	for _, e := range sp.Train {
		for k, f := range in.UserFields {
			counts[f][m.userIDs[int(e.User)*nu+k]]++
		}
		for k, f := range in.ItemFields {
			counts[f][m.itemIDs[int(e.Item)*ni+k]]++
		}
	}
	ids := make([][]uint64, nf)
	cnts := make([][]uint32, nf)
	for f, c := range counts {
		for id := range c {
			ids[f] = append(ids[f], id)
		}
		slices.Sort(ids[f])
		cnts[f] = make([]uint32, len(ids[f]))
		for i, id := range ids[f] {
			cnts[f][i] = c[id]
		}
		if len(ids[f]) == 0 { // a field outside both towers: its missing value
			ids[f], cnts[f] = []uint64{m.blank[f]}, []uint32{1}
		}
	}
	if embedding.IsALPT(cfg.Storage) {
		// Its steps learn from a second pass the two-tower loop does not run.
		return nil, fmt.Errorf("two-tower table: storage %s is not supported (fp32 or int8)", cfg.Storage)
	}
	spec := embedding.Spec{Dim: cfg.Dim, Budget: cfg.MemoryBudget, Fields: make([]embedding.Frequencies, nf),
		Optimizer: embedding.Optimizer{Name: cfg.Optimizer, LR: float32(cfg.EmbLR)}, Seed: cfg.Seed, Storage: cfg.Storage}
	for f := range spec.Fields {
		spec.Fields[f] = embedding.Frequencies{IDs: ids[f], Counts: cnts[f], Distinct: int64(len(ids[f]))}
	}
	if cfg.HeadFraction > 0 {
		spec.Params = map[string]string{"head_fraction": strconv.FormatFloat(cfg.HeadFraction, 'g', -1, 64)}
	}
	t, err := embedding.NewTable(cfg.Table, spec)
	if err != nil {
		return nil, fmt.Errorf("two-tower table: %w", err)
	}
	t.SetThreads(max(cfg.Threads, 1))
	m.Table = t
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x70776f746f776572))
	tcfg := TowersConfig{
		Name: ModelName, Fields: slices.Clone(in.Schema.Categorical),
		UserFields: slices.Clone(in.UserFields), ItemFields: slices.Clone(in.ItemFields),
		Dim: cfg.Dim, Hidden: cfg.Hidden, Out: cfg.Out, Nested: cfg.nested(), Temperature: cfg.Temperature,
		History: cfg.History,
	}
	if cfg.History > 0 {
		if _, ok := t.(embedding.FieldTrainable); !ok {
			return nil, fmt.Errorf("two-tower history: the %s table cannot look up single fields", cfg.Table)
		}
	}
	m.Towers = &Towers{cfg: tcfg,
		user: newMLP(tcfg.userIn(), cfg.Hidden, cfg.Out, rng),
		item: newMLP(ni*cfg.Dim, cfg.Hidden, cfg.Out, rng)}
	return m, nil
}

// entityIDs hashes the tower fields of every entity.
func entityIDs(h *hashing.Hasher, list []Entity, fields []int) []uint64 {
	out := make([]uint64, len(list)*len(fields))
	for i, e := range list {
		for k, f := range fields {
			out[i*len(fields)+k] = h.HashString(f, e.Values[k])
		}
	}
	return out
}

// FullTableBytes returns the bytes of the full table of in's training
// vocabulary at dim (one fp32 row per distinct value plus one OOV row
// per field): the reference of compression ratios.
func FullTableBytes(in *Interactions, sp *Split, dim int) int64 {
	card := make([]int64, len(in.Schema.Categorical))
	count := func(list []Entity, fields []int, used func(int) bool) {
		for k, f := range fields {
			seen := map[string]bool{}
			for i, e := range list {
				if used(i) {
					seen[e.Values[k]] = true
				}
			}
			card[f] = int64(len(seen))
		}
	}
	users := make([]bool, len(in.Users))
	items := make([]bool, len(in.Items))
	for _, e := range sp.Train {
		users[e.User], items[e.Item] = true, true
	}
	count(in.Users, in.UserFields, func(i int) bool { return users[i] })
	count(in.Items, in.ItemFields, func(i int) bool { return items[i] })
	return embedding.FullTableBytes(card, dim)
}

// towerFields gathers the field vectors of n entities (ids, len(fields)
// per entity) from the table into x (n × len(fields) × Dim), through a
// whole-row lookup with the other fields blank.
func (m *Model) towerFields(ids []uint64, fields []int, n int, x []float32) {
	nf, d := len(m.blank), m.Config.Dim
	row := make([]uint64, n*nf)
	for i := range n {
		copy(row[i*nf:], m.blank)
		for k, f := range fields {
			row[i*nf+f] = ids[i*len(fields)+k]
		}
	}
	emb := make([]float32, n*nf*d)
	m.Table.Lookup(row, emb)
	for i := range n {
		for k, f := range fields {
			copy(x[(i*len(fields)+k)*d:(i*len(fields)+k+1)*d], emb[(i*nf+f)*d:(i*nf+f+1)*d])
		}
	}
}

// History returns user u's history for a query: the items of its last
// Config.History training positives (by time), then its validation item
// when withValid (the test protocol: everything before the test item),
// keeping the last History. Nil without history.
func (m *Model) History(u int32, withValid bool) []int32 {
	n := m.Config.History
	if n == 0 {
		return nil
	}
	lo, hi := m.userTrain(u)
	var h []int32
	for _, e := range m.sp.Train[lo:hi] {
		h = append(h, e.Item)
	}
	if withValid {
		if i, ok := slices.BinarySearchFunc(m.sp.Valid, u, func(e Event, u int32) int { return int(e.User - u) }); ok {
			h = append(h, m.sp.Valid[i].Item)
		}
	}
	return h[max(0, len(h)-n):]
}

// userTrain returns the range of user u's events in sp.Train (sorted by
// user, then time).
func (m *Model) userTrain(u int32) (lo, hi int) {
	tr := m.sp.Train
	lo, _ = slices.BinarySearchFunc(tr, u, func(e Event, u int32) int { return int(e.User - u) })
	hi = lo
	for hi < len(tr) && tr[hi].User == u {
		hi++
	}
	return lo, hi
}

// poolHistory writes the mean of the item-key vectors of items (the item
// tower's first field) to out (Dim floats; zero for none).
func (m *Model) poolHistory(items []int32, out []float32) {
	clear(out)
	if len(items) == 0 {
		return
	}
	d, ni := m.Config.Dim, len(m.in.ItemFields)
	ids := make([]uint64, len(items))
	fields := make([]int, len(items))
	for j, it := range items {
		ids[j], fields[j] = m.itemIDs[int(it)*ni], m.in.ItemFields[0]
	}
	vals := make([]float32, len(items)*d)
	m.Table.(embedding.FieldTrainable).LookupFields(ids, fields, vals)
	poolMean(vals, len(items), d, out)
}

// MeanVector returns the mean of n vectors of d floats (vals): the
// pooled history of the user tower (the zero vector for none).
func MeanVector(vals []float32, n, d int) []float32 {
	out := make([]float32, d)
	poolMean(vals, n, d, out)
	return out
}

// poolMean writes the mean of n vectors of d floats (vals) to out.
func poolMean(vals []float32, n, d int, out []float32) {
	clear(out)
	for j := range n {
		for x, v := range vals[j*d : (j+1)*d] {
			out[x] += v
		}
	}
	if n > 0 {
		w := 1 / float32(n)
		for x := range out {
			out[x] *= w
		}
	}
}

// vectors computes the tower outputs of the entities idx (all when nil).
// User vectors with a history read each user's (Model.History, with the
// validation item when withValid).
func (m *Model) vectors(g *gemm.Context, user bool, idx []int32, withValid bool) ([]float32, error) {
	ids, fields, tower, count := m.itemIDs, m.in.ItemFields, m.Towers.item, len(m.in.Items)
	if user {
		ids, fields, tower, count = m.userIDs, m.in.UserFields, m.Towers.user, len(m.in.Users)
	}
	if g == nil {
		g = gemm.NewContext(1)
		defer g.Close()
	}
	if idx == nil {
		idx = make([]int32, count)
		for i := range idx {
			idx[i] = int32(i)
		}
	}
	nk, d, out := len(fields), m.Config.Dim, m.Config.Out
	hist := user && m.Config.History > 0
	res := make([]float32, len(idx)*out)
	const chunk = 1024
	sel := make([]uint64, chunk*nk)
	x := make([]float32, chunk*nk*d)
	var xh []float32 // the tower's input with the pooled history after the fields
	if hist {
		xh = make([]float32, chunk*(nk+1)*d)
	}
	for lo := 0; lo < len(idx); lo += chunk {
		hi := min(lo+chunk, len(idx))
		n := hi - lo
		for i, e := range idx[lo:hi] {
			copy(sel[i*nk:(i+1)*nk], ids[int(e)*nk:(int(e)+1)*nk])
		}
		m.towerFields(sel[:n*nk], fields, n, x[:n*nk*d])
		in := x[:n*nk*d]
		if hist {
			w := (nk + 1) * d
			for i, u := range idx[lo:hi] {
				copy(xh[i*w:], x[i*nk*d:(i+1)*nk*d])
				m.poolHistory(m.History(u, withValid), xh[i*w+nk*d:(i+1)*w])
			}
			in = xh[:n*w]
		}
		if err := m.Towers.embed(g, tower, n, in, res[lo*out:hi*out]); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// ItemVectors returns the vectors of all items (len(Items) × Out, in item
// order).
func (m *Model) ItemVectors(g *gemm.Context) ([]float32, error) {
	return m.vectors(g, false, nil, false)
}

// UserVectors returns the vectors of the users idx (all when nil); with a
// history, each from its training positives and, when withValid, its
// validation item (the test protocol, and serving).
func (m *Model) UserVectors(g *gemm.Context, idx []int32, withValid bool) ([]float32, error) {
	return m.vectors(g, true, idx, withValid)
}

// Interactions returns the interactions the model was built for.
func (m *Model) Interactions() *Interactions { return m.in }
