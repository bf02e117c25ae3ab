package ann

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"

	"github.com/embtab/embtab/quant"
)

// Metric is the similarity an index ranks by.
type Metric uint32

const (
	// InnerProduct ranks by q·x, largest first; Result.Distance is -q·x.
	InnerProduct Metric = iota
	// L2 ranks by Euclidean distance, nearest first; Result.Distance is
	// the squared distance ‖q-x‖².
	L2
)

// String returns "ip" or "l2".
func (m Metric) String() string {
	switch m {
	case InnerProduct:
		return "ip"
	case L2:
		return "l2"
	}
	return fmt.Sprintf("Metric(%d)", uint32(m))
}

// Quantization is how an index stores its vectors.
type Quantization uint32

const (
	// Float32 stores the vectors as given.
	Float32 Quantization = iota
	// Int8 stores each vector as a quant.Int8 row (uint8 codes with a
	// float32 scale and bias, dim+8 bytes) and computes distances between
	// the float32 query and the codes, x ≈ code·scale + bias, without
	// decoding the row.
	Int8
)

// Defaults of the Config parameters left zero.
const (
	DefaultM              = 16
	DefaultEfConstruction = 200
	DefaultEfSearch       = 64
)

// maxLevel caps the layer of a node; with M >= 2 a level above it has
// probability below 2⁻³¹.
const maxLevelCap = 31

// Config holds the parameters of an index.
type Config struct {
	Dim    int    // values per vector, >= 1
	Metric Metric // InnerProduct (default) or L2
	// M is the number of links per node on the upper layers; layer 0
	// has 2M. Default DefaultM.
	M int
	// EfConstruction is the candidate list size while inserting.
	// Default DefaultEfConstruction.
	EfConstruction int
	// EfSearch is the candidate list size of Search when its ef
	// argument is <= 0. Default DefaultEfSearch.
	EfSearch int
	// Seed drives the random layer of each node: the same seed, config
	// and sequence of Adds build the same graph, bit for bit.
	Seed uint64
	// Quantization selects the stored vector format. Default Float32.
	Quantization Quantization
	// Rerank, with Int8, keeps the float32 vectors too and re-ranks the
	// ef candidates of a search by their exact distance.
	Rerank bool
}

func (c *Config) normalize() error {
	if c.M == 0 {
		c.M = DefaultM
	}
	if c.EfConstruction == 0 {
		c.EfConstruction = DefaultEfConstruction
	}
	if c.EfSearch == 0 {
		c.EfSearch = DefaultEfSearch
	}
	switch {
	case c.Dim < 1 || c.Dim > 1<<20:
		return fmt.Errorf("%w: dim %d", ErrConfig, c.Dim)
	case c.M < 2 || c.M > 1<<12:
		return fmt.Errorf("%w: M %d", ErrConfig, c.M)
	case c.EfConstruction < 1 || c.EfSearch < 1:
		return fmt.Errorf("%w: efConstruction %d, efSearch %d", ErrConfig, c.EfConstruction, c.EfSearch)
	case c.Metric > L2:
		return fmt.Errorf("%w: metric %d", ErrConfig, c.Metric)
	case c.Quantization > Int8:
		return fmt.Errorf("%w: quantization %d", ErrConfig, c.Quantization)
	case c.Rerank && c.Quantization != Int8:
		return fmt.Errorf("%w: Rerank needs Int8", ErrConfig)
	}
	return nil
}

// Result is one neighbour found by Search.
type Result struct {
	ID uint64 // the id given to Add
	// Distance is -q·x for InnerProduct and ‖q-x‖² for L2: smaller is
	// nearer.
	Distance float32
}

// Index is an HNSW graph over float32 or int8 vectors. Create one with
// [New], [Load] or [OpenMmap]. Search may run concurrently with
// everything; Add, Delete and Rebuild serialise with each other and with
// Search.
type Index struct {
	mu  sync.RWMutex
	cfg Config
	m0  int // links on layer 0
	mL  float64

	// Node i's data, in the layout of the file (see the package doc).
	labels   []uint64
	levels   []uint8
	upperOff []uint32 // node i's layer l >= 1 list: upper[upperOff[i]+(l-1)(M+1):][:M+1]
	upper    []uint32
	links0   []uint32 // node i's layer-0 list: links0[i(m0+1):][:m0+1]; element 0 is the count
	vecs     []float32
	codes    []byte    // quant.Int8 rows, dim+8 bytes each
	norms    []float32 // ‖decoded x‖² per Int8 row
	deleted  []uint64  // tombstone bitmap, always in process memory

	entry    uint32
	maxLevel int
	nDeleted int

	byLabel map[uint64]uint32 // live ids; nil until needed after a Load
	rng     *rand.PCG

	// mapped is the file an OpenMmap index views; the slices above
	// point into it until the first Add copies them (own).
	mapped []byte
	unmap  func() error
	closed bool

	pool sync.Pool // *scratch
}

// New returns an empty index.
func New(cfg Config) (*Index, error) {
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	ix := &Index{}
	ix.init(cfg)
	ix.byLabel = make(map[uint64]uint32)
	ix.rng = rand.NewPCG(cfg.Seed, 0x616e6e2d686e7377)
	return ix, nil
}

func (ix *Index) init(cfg Config) {
	ix.cfg = cfg
	ix.m0 = 2 * cfg.M
	ix.mL = 1 / math.Log(float64(cfg.M))
	ix.maxLevel = -1
}

// Config returns the index's parameters, with defaults filled in.
func (ix *Index) Config() Config { return ix.cfg }

// Len returns the number of live (not deleted) vectors.
func (ix *Index) Len() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return len(ix.labels) - ix.nDeleted
}

// Nodes returns the number of nodes in the graph, deleted ones included.
func (ix *Index) Nodes() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return len(ix.labels)
}

// Bytes returns the size of the index's arrays in bytes: vectors, links,
// ids and tombstones (the size of its file, less header and padding).
func (ix *Index) Bytes() int64 {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return int64(8*len(ix.labels) + len(ix.levels) + 4*len(ix.upperOff) + 4*len(ix.upper) +
		4*len(ix.links0) + 4*len(ix.vecs) + len(ix.codes) + 4*len(ix.norms) + 8*len(ix.deleted))
}

func (ix *Index) isDeleted(i uint32) bool { return ix.deleted[i>>6]&(1<<(i&63)) != 0 }

func (ix *Index) list0(i uint32) []uint32 {
	s := int(i) * (ix.m0 + 1)
	return ix.links0[s : s+ix.m0+1 : s+ix.m0+1]
}

func (ix *Index) list(i uint32, level int) []uint32 {
	if level == 0 {
		return ix.list0(i)
	}
	m := ix.cfg.M + 1
	s := int(ix.upperOff[i]) + (level-1)*m
	return ix.upper[s : s+m : s+m]
}

// query is a prepared query vector.
type query struct {
	v     []float32
	sum   float32 // Σ v, for Int8 rows' bias
	norm  float32 // ‖v‖², for Int8 L2
	exact bool    // use the float32 vectors even in an Int8 index
}

func (ix *Index) prep(v []float32, exact bool) query {
	q := query{v: v, exact: exact}
	if ix.cfg.Quantization == Int8 {
		for _, x := range v {
			q.sum += x
			q.norm += x * x
		}
	}
	return q
}

// dist returns the distance between q and node i.
func (ix *Index) dist(q *query, i uint32) float32 {
	d := ix.cfg.Dim
	if ix.cfg.Quantization == Float32 || q.exact {
		x := ix.vecs[int(i)*d : int(i)*d+d]
		if ix.cfg.Metric == L2 {
			return l2sq(q.v, x)
		}
		return -dot(q.v, x)
	}
	rb := d + 8
	row := ix.codes[int(i)*rb : int(i)*rb+rb]
	scale := math.Float32frombits(uint32(row[d]) | uint32(row[d+1])<<8 | uint32(row[d+2])<<16 | uint32(row[d+3])<<24)
	bias := math.Float32frombits(uint32(row[d+4]) | uint32(row[d+5])<<8 | uint32(row[d+6])<<16 | uint32(row[d+7])<<24)
	ip := scale*dotU8(q.v, row) + bias*q.sum
	if ix.cfg.Metric == L2 {
		return q.norm - 2*ip + ix.norms[i]
	}
	return -ip
}

// vector returns node i's vector: the stored float32 one, or the decoded
// Int8 row in buf.
func (ix *Index) vector(i uint32, buf []float32) []float32 {
	d := ix.cfg.Dim
	if ix.vecs != nil {
		return ix.vecs[int(i)*d : int(i)*d+d]
	}
	_ = quant.Int8.DecodeRow(buf[:d], ix.codes[int(i)*(d+8):int(i+1)*(d+8)])
	return buf[:d]
}

// scratch is one search's working memory, pooled per index.
type scratch struct {
	visited []uint16
	epoch   uint16
	cand    minHeap
	res     maxHeap
	sel     []item
	batch   []uint32
	tmp     []item
	buf     [2][]float32
}

func (ix *Index) getScratch() *scratch {
	s, _ := ix.pool.Get().(*scratch)
	if s == nil {
		s = &scratch{}
	}
	n := len(ix.labels)
	if len(s.visited) < n {
		s.visited = make([]uint16, n+n/4+64)
		s.epoch = 0
	}
	s.epoch++
	if s.epoch == 0 {
		clear(s.visited)
		s.epoch = 1
	}
	for j := range s.buf {
		if len(s.buf[j]) < ix.cfg.Dim {
			s.buf[j] = make([]float32, ix.cfg.Dim)
		}
	}
	return s
}

func (s *scratch) newEpoch() {
	s.epoch++
	if s.epoch == 0 {
		clear(s.visited)
		s.epoch = 1
	}
}

// greedy walks layer level from ep towards q and returns the nearest node
// it reaches.
func (ix *Index) greedy(q *query, ep item, level int) item {
	for changed := true; changed; {
		changed = false
		l := ix.list(ep.id, level)
		for _, nb := range l[1 : 1+l[0]] {
			if d := ix.dist(q, nb); d < ep.dist {
				ep = item{d, nb}
				changed = true
			}
		}
	}
	return ep
}

// searchLayer runs the beam search of HNSW on one layer from ep with a
// beam of ef, leaving the nearest ef nodes in s.res. With live, deleted
// nodes guide the search but are left out of s.res.
func (ix *Index) searchLayer(s *scratch, q *query, ep item, ef, level int, live bool) {
	s.newEpoch()
	s.cand = s.cand[:0]
	s.res = s.res[:0]
	vis, epoch := s.visited, s.epoch
	vis[ep.id] = epoch
	s.cand.push(ep)
	bound := float32(math.Inf(1))
	filter := live && ix.nDeleted > 0
	// Float32 distances inline.
	flat := ix.cfg.Quantization == Float32 || q.exact
	isL2 := ix.cfg.Metric == L2
	dim := ix.cfg.Dim
	// Whole vectors for the AVX2 kernels: call them directly, skipping
	// dot's and l2sq's tail handling.
	asm := flat && useAVX2 && dim >= 8 && dim%8 == 0
	if !filter || !ix.isDeleted(ep.id) {
		s.res.push(ep)
		bound = ep.dist
	}
	for len(s.cand) > 0 {
		c := s.cand.pop()
		if c.dist > bound && len(s.res) >= ef {
			break
		}
		var l []uint32
		if level == 0 {
			st := int(c.id) * (ix.m0 + 1)
			l = ix.links0[st : st+ix.m0+1 : st+ix.m0+1]
		} else {
			l = ix.list(c.id, level)
		}
		// Mark the unvisited neighbours and, for float32 vectors, ask for
		// all their vectors at once, so the cache misses overlap.
		batch := s.batch[:0]
		for _, nb := range l[1 : 1+l[0]] {
			if vis[nb] != epoch {
				vis[nb] = epoch
				batch = append(batch, nb)
				if flat {
					prefetch(&ix.vecs[int(nb)*dim])
				}
			}
		}
		s.batch = batch
		for _, nb := range batch {
			var d float32
			if asm {
				x := &ix.vecs[int(nb)*dim]
				if isL2 {
					d = l2AVX2(&q.v[0], x, dim)
				} else {
					d = -dotAVX2(&q.v[0], x, dim)
				}
			} else if flat {
				x := ix.vecs[int(nb)*dim : int(nb)*dim+dim]
				if isL2 {
					d = l2sq(q.v, x)
				} else {
					d = -dot(q.v, x)
				}
			} else {
				d = ix.dist(q, nb)
			}
			if len(s.res) < ef || d < bound {
				s.cand.push(item{d, nb})
				if filter && ix.isDeleted(nb) {
					continue
				}
				if len(s.res) < ef {
					s.res.push(item{d, nb})
				} else {
					s.res.replaceTop(item{d, nb})
				}
				bound = s.res[0].dist
			}
		}
	}
}

// randomLevel draws a node's top layer, floor(-ln(u)·mL).
func (ix *Index) randomLevel() int {
	u := float64(ix.rng.Uint64()>>11) / (1 << 53) // [0, 1)
	l := int(-math.Log(1-u) * ix.mL)
	return min(l, maxLevelCap)
}

func checkVec(v []float32, dim int) error {
	if len(v) != dim {
		return fmt.Errorf("%w: %d values, want %d", ErrDim, len(v), dim)
	}
	for j, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return fmt.Errorf("%w: value %d is %v", ErrValue, j, x)
		}
	}
	return nil
}

// Add inserts vector v under id. Adding an id that is live returns
// ErrDuplicate; an id that was deleted may be added again (its old node
// stays a tombstone until Rebuild). v is copied.
func (ix *Index) Add(id uint64, v []float32) error {
	if err := checkVec(v, ix.cfg.Dim); err != nil {
		return fmt.Errorf("ann: add %d: %w", id, err)
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.closed {
		return ErrClosed
	}
	ix.ensureMap()
	if _, ok := ix.byLabel[id]; ok {
		return fmt.Errorf("ann: add %d: %w", id, ErrDuplicate)
	}
	ix.own()
	level := ix.randomLevel()
	node := uint32(len(ix.labels))
	if ix.cfg.Quantization == Int8 {
		rb := ix.cfg.Dim + 8
		ix.codes = slices.Grow(ix.codes, rb)[:len(ix.codes)+rb]
		row := ix.codes[len(ix.codes)-rb:]
		if err := quant.Int8.EncodeRow(row, v); err != nil {
			ix.codes = ix.codes[:len(ix.codes)-rb]
			return fmt.Errorf("ann: add %d: %w", id, err)
		}
		var nn float32
		dec := make([]float32, ix.cfg.Dim)
		_ = quant.Int8.DecodeRow(dec, row)
		for _, x := range dec {
			nn += x * x
		}
		ix.norms = append(ix.norms, nn)
	}
	if ix.cfg.Quantization == Float32 || ix.cfg.Rerank {
		ix.vecs = append(ix.vecs, v...)
	}
	ix.appendNode(id, level)
	ix.byLabel[id] = node
	ix.link(node, v)
	return nil
}

// appendNode adds node bookkeeping with empty lists.
func (ix *Index) appendNode(id uint64, level int) {
	n := len(ix.labels)
	ix.labels = append(ix.labels, id)
	ix.levels = append(ix.levels, uint8(level))
	ix.upperOff = append(ix.upperOff, uint32(len(ix.upper)))
	ix.upper = append(ix.upper, make([]uint32, level*(ix.cfg.M+1))...)
	ix.links0 = append(ix.links0, make([]uint32, ix.m0+1)...)
	if n/64 >= len(ix.deleted) {
		ix.deleted = append(ix.deleted, 0)
	}
}

// link connects the new node to the graph, as in the HNSW paper's
// INSERT with the neighbour-selection heuristic.
func (ix *Index) link(node uint32, v []float32) {
	level := int(ix.levels[node])
	if ix.maxLevel < 0 {
		ix.entry, ix.maxLevel = node, level
		return
	}
	s := ix.getScratch()
	defer ix.pool.Put(s)
	q := ix.prep(v, false)
	ep := item{ix.dist(&q, ix.entry), ix.entry}
	for l := ix.maxLevel; l > level; l-- {
		ep = ix.greedy(&q, ep, l)
	}
	for l := min(level, ix.maxLevel); l >= 0; l-- {
		ix.searchLayer(s, &q, ep, ix.cfg.EfConstruction, l, false)
		s.tmp = s.tmp[:0]
		for len(s.res) > 0 {
			s.tmp = append(s.tmp, s.res.pop())
		}
		slices.Reverse(s.tmp) // nearest first
		ep = s.tmp[0]
		maxM := ix.cfg.M
		if l == 0 {
			maxM = ix.m0
		}
		sel := ix.selectNeighbors(s, s.tmp, ix.cfg.M)
		own := ix.list(node, l)
		own[0] = uint32(len(sel))
		for j, it := range sel {
			own[1+j] = it.id
		}
		// Copy: selectNeighbors reuses s.sel while shrinking.
		nbs := append(s.tmp[:0], sel...)
		for _, nb := range nbs {
			ix.addLink(s, nb.id, node, nb.dist, l, maxM)
		}
	}
	if level > ix.maxLevel {
		ix.entry, ix.maxLevel = node, level
	}
}

// addLink adds node to nb's list on layer l, shrinking the list with the
// heuristic when it already has maxM links.
func (ix *Index) addLink(s *scratch, nb, node uint32, d float32, l, maxM int) {
	lst := ix.list(nb, l)
	n := int(lst[0])
	if n < maxM {
		lst[1+n] = node
		lst[0]++
		return
	}
	q := ix.prep(ix.vector(nb, s.buf[0]), false)
	cands := make([]item, 0, n+1) // rare enough (one per full neighbour) to allocate
	cands = append(cands, item{d, node})
	for _, o := range lst[1 : 1+n] {
		cands = append(cands, item{ix.dist(&q, o), o})
	}
	slices.SortFunc(cands, cmpItem)
	sel := ix.selectNeighbors(s, cands, maxM)
	lst[0] = uint32(len(sel))
	for j, it := range sel {
		lst[1+j] = it.id
	}
}

func cmpItem(a, b item) int {
	switch {
	case a.dist < b.dist:
		return -1
	case a.dist > b.dist:
		return 1
	}
	return int(a.id) - int(b.id)
}

// selectNeighbors is the HNSW heuristic (Malkov and Yashunin, algorithm
// 4, without extending or keeping pruned candidates): walking the
// candidates nearest first, keep one only if it is nearer to the base
// than to every node already kept. cands must be sorted nearest first.
func (ix *Index) selectNeighbors(s *scratch, cands []item, m int) []item {
	if len(cands) <= m {
		s.sel = append(s.sel[:0], cands...)
		return s.sel
	}
	s.sel = s.sel[:0]
	for _, c := range cands {
		q := ix.prep(ix.vector(c.id, s.buf[1]), false)
		good := true
		for _, r := range s.sel {
			if ix.dist(&q, r.id) < c.dist {
				good = false
				break
			}
		}
		if good {
			s.sel = append(s.sel, c)
			if len(s.sel) >= m {
				break
			}
		}
	}
	return s.sel
}

// Search returns the k nearest live vectors to q, nearest first, searching
// with a beam of ef (EfSearch if ef <= 0; at least k). It may return
// fewer than k results when the index has fewer live vectors.
func (ix *Index) Search(q []float32, k, ef int) ([]Result, error) {
	return ix.SearchAppend(nil, q, k, ef)
}

// SearchAppend is Search appending to dst; with a dst of capacity k it
// does not allocate.
func (ix *Index) SearchAppend(dst []Result, q []float32, k, ef int) ([]Result, error) {
	if len(q) != ix.cfg.Dim {
		return dst, fmt.Errorf("ann: search: %w: %d values, want %d", ErrDim, len(q), ix.cfg.Dim)
	}
	if k < 1 {
		return dst, fmt.Errorf("ann: search: %w: k %d", ErrValue, k)
	}
	if ef <= 0 {
		ef = ix.cfg.EfSearch
	}
	ef = max(ef, k)
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.closed {
		return dst, ErrClosed
	}
	if ix.maxLevel < 0 {
		return dst, nil
	}
	s := ix.getScratch()
	defer ix.pool.Put(s)
	qq := ix.prep(q, false)
	ep := item{ix.dist(&qq, ix.entry), ix.entry}
	for l := ix.maxLevel; l > 0; l-- {
		ep = ix.greedy(&qq, ep, l)
	}
	ix.searchLayer(s, &qq, ep, ef, 0, true)
	s.tmp = s.tmp[:0]
	for len(s.res) > 0 {
		s.tmp = append(s.tmp, s.res.pop())
	}
	slices.Reverse(s.tmp)
	if ix.cfg.Rerank {
		ex := ix.prep(q, true)
		for j := range s.tmp {
			s.tmp[j].dist = ix.dist(&ex, s.tmp[j].id)
		}
		slices.SortFunc(s.tmp, cmpItem)
	}
	for _, it := range s.tmp[:min(k, len(s.tmp))] {
		dst = append(dst, Result{ID: ix.labels[it.id], Distance: it.dist})
	}
	return dst, nil
}

// ensureMap builds the id map of a loaded index. Callers hold mu.
func (ix *Index) ensureMap() {
	if ix.byLabel != nil {
		return
	}
	ix.byLabel = make(map[uint64]uint32, len(ix.labels)-ix.nDeleted)
	for i, id := range ix.labels {
		if !ix.isDeleted(uint32(i)) {
			ix.byLabel[id] = uint32(i)
		}
	}
}

// Delete marks id's vector deleted: Search skips it from then on, though
// the graph still routes through its node until Rebuild.
func (ix *Index) Delete(id uint64) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.closed {
		return ErrClosed
	}
	ix.ensureMap()
	i, ok := ix.byLabel[id]
	if !ok {
		return fmt.Errorf("ann: delete %d: %w", id, ErrNotFound)
	}
	delete(ix.byLabel, id)
	ix.deleted[i>>6] |= 1 << (i & 63)
	ix.nDeleted++
	return nil
}

// Rebuild builds the graph again from the live vectors, in their order of
// insertion and with the seed of the config, dropping tombstones. Stored
// vectors (codes and scales of Int8) are kept as they are.
func (ix *Index) Rebuild() error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.closed {
		return ErrClosed
	}
	nx := &Index{}
	nx.init(ix.cfg)
	nx.byLabel = make(map[uint64]uint32, len(ix.labels)-ix.nDeleted)
	nx.rng = rand.NewPCG(ix.cfg.Seed, 0x616e6e2d686e7377)
	d := ix.cfg.Dim
	buf := make([]float32, d)
	for i := range ix.labels {
		u := uint32(i)
		if ix.isDeleted(u) {
			continue
		}
		node := uint32(len(nx.labels))
		if ix.codes != nil {
			nx.codes = append(nx.codes, ix.codes[i*(d+8):(i+1)*(d+8)]...)
			nx.norms = append(nx.norms, ix.norms[i])
		}
		if ix.vecs != nil {
			nx.vecs = append(nx.vecs, ix.vecs[i*d:(i+1)*d]...)
		}
		nx.appendNode(ix.labels[i], nx.randomLevel())
		nx.byLabel[ix.labels[i]] = node
		nx.link(node, slices.Clone(ix.vector(u, buf)))
	}
	if err := ix.release(); err != nil {
		return err
	}
	ix.labels, ix.levels, ix.upperOff, ix.upper, ix.links0 = nx.labels, nx.levels, nx.upperOff, nx.upper, nx.links0
	ix.vecs, ix.codes, ix.norms, ix.deleted = nx.vecs, nx.codes, nx.norms, nx.deleted
	ix.entry, ix.maxLevel, ix.nDeleted, ix.byLabel, ix.rng = nx.entry, nx.maxLevel, 0, nx.byLabel, nx.rng
	ix.pool = sync.Pool{}
	return nil
}
