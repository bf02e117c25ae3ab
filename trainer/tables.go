package trainer

import (
	"fmt"

	"github.com/embtab/embtab/dimsearch"
	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/multiplex"
)

// trainTable is what the loop needs of a table: training, checkpoints and
// threaded updates.
type trainTable interface {
	embedding.Trainable
	embedding.Persister
	SetThreads(n int)
}

// tableMethods lists the values --table accepts, for error messages.
const tableMethods = "full, hashed, qr, multiplex, unified, multiprobe or hybrid"

// newTable builds the embedding table of cfg for the fields' vocabulary.
// Budgeted tables size themselves to cfg.MemoryBudget (bytes of fp32
// parameters); with no budget, every table but full gets the full table's
// bytes (one row per distinct training value plus one OOV row per field,
// embedding.FullTableBytes), so hashed and QR tables keep only their
// collisions. The methods:
//
//   - full, hashed, qr: package embedding's tables (--rows-per-field
//     overrides the budget of a hashed table).
//   - multiplex: one table shared by all fields (multiplex.MethodMultiplex).
//   - unified: Unified Embedding with the default shape: every field takes
//     2 chunks of Dim/2 floats (1 chunk of Dim floats when Dim is odd), so
//     chunks × chunk_dim == Dim, from one shared table; the same bytes buy
//     twice the rows of a multiplex table.
//   - multiprobe: one shared table, 2 probes summed per id.
//   - hybrid: embedding.Hybrid; the most frequent values of the
//     vocabulary pre-pass get their own rows with half the budget
//     (embedding.DefaultHeadFraction), the rest share hashed rows.
//
// cfg.Storage ("fp32" or "", or "int8": low-precision training, see
// embedding.Storage) sets how the rows are kept; the budget counts fp32
// bytes either way, so an int8 table has the rows of its fp32 twin in
// about a third of the memory (Bytes reports what it holds).
//
// A dimension plan (package dimsearch; nil for none) shapes full, hashed
// and unified tables: a full table keeps only the plan's kept ids of each
// field (the others share the field's OOV row) at the field's planned
// dimension, zero-padded to Dim; a hashed table sizes its fields' rows to
// the budget at their planned dimensions (embedding.HashedForBudgetDims;
// kept rows do not apply); a unified table gives field f
// ceil(dim_f / chunk_dim) chunks, chunk_dim being Dim/Chunks with
// --chunks, else Dim/4 (Dim/2, then 1, when 4 does not divide Dim).
func newTable(cfg *Config, v *vocabulary, plan *dimsearch.Plan) (trainTable, error) {
	if plan != nil {
		return newPlannedTable(cfg, v, plan)
	}
	card := v.cardinalities()
	budget := cfg.MemoryBudget
	if budget == 0 {
		budget = embedding.FullTableBytes(card, cfg.Dim)
	}
	opt := embedding.Optimizer{Name: cfg.Optimizer, LR: float32(cfg.EmbLR)}
	ec := embedding.Config{
		Method:    cfg.Table,
		Dim:       cfg.Dim,
		Optimizer: opt,
		Seed:      cfg.Seed,
		Storage:   cfg.Storage,
	}
	var (
		t   trainTable
		err error
	)
	switch cfg.Table {
	case embedding.MethodFull:
		if cfg.MemoryBudget > 0 && embedding.FullTableBytes(card, cfg.Dim) > cfg.MemoryBudget {
			return nil, fmt.Errorf("--table full needs %d bytes at dim %d, more than --memory-budget %d: use a compressed table",
				embedding.FullTableBytes(card, cfg.Dim), cfg.Dim, cfg.MemoryBudget)
		}
		t, err = embedding.NewFull(v.ids, ec)
	case embedding.MethodHashed:
		if cfg.RowsPerField > 0 {
			ec.Rows = make([]int, len(card))
			for f := range ec.Rows {
				ec.Rows[f] = cfg.RowsPerField
			}
			t, err = embedding.NewHashed(ec)
			break
		}
		ec.Rows, err = embedding.HashedForBudget(budget, card, cfg.Dim)
		if err == nil {
			t, err = embedding.NewHashed(ec)
		}
	case embedding.MethodQR:
		ec.Rows, ec.RemRows, err = embedding.QRForBudget(budget, card, cfg.Dim)
		if err == nil {
			t, err = embedding.NewQR(ec)
		}
	case multiplex.MethodMultiplex, multiplex.MethodUnified, multiplex.MethodMultiProbe:
		shape := multiplex.Config{Method: cfg.Table}
		if cfg.TableConfig != "" {
			if shape, err = multiplex.LoadConfig(cfg.TableConfig); err != nil {
				return nil, fmt.Errorf("--table-config: %w", err)
			}
			if shape.Method != "" && shape.Method != cfg.Table {
				return nil, fmt.Errorf("--table-config %s describes a %s table, not %s", cfg.TableConfig, shape.Method, cfg.Table)
			}
			shape.Method = cfg.Table
		}
		if cfg.Probes > 0 {
			shape.Probes = cfg.Probes
		}
		if cfg.Chunks > 0 {
			shape.Chunks = make([]int, len(card))
			for f := range shape.Chunks {
				shape.Chunks[f] = cfg.Chunks
			}
			if shape.ChunkDim == 0 {
				shape.ChunkDim = cfg.Dim / cfg.Chunks
			}
		}
		var mc multiplex.Config
		mc, err = multiplex.ForBudget(budget, len(card), cfg.Dim, shape)
		if err == nil {
			mc.Optimizer, mc.Seed, mc.Storage = opt, cfg.Seed, cfg.Storage
			t, err = multiplex.New(mc)
		}
	case embedding.MethodHybrid:
		freqs := make([]embedding.Frequencies, len(v.ids))
		for f := range freqs {
			freqs[f] = embedding.Frequencies{IDs: v.ids[f], Counts: v.counts[f], Distinct: int64(len(v.ids[f]))}
		}
		t, err = embedding.NewHybridForBudget(budget, freqs,
			embedding.HybridConfig{Dim: cfg.Dim, Optimizer: opt, Seed: cfg.Seed, Storage: cfg.Storage, HeadFraction: cfg.HeadFraction})
	default:
		return nil, fmt.Errorf("--table %q: want %s", cfg.Table, tableMethods)
	}
	if err != nil {
		return nil, fmt.Errorf("embedding table %s: %w", cfg.Table, err)
	}
	t.SetThreads(cfg.Threads)
	return t, nil
}

// TrainableTable is a table built by NewTable: it learns, saves and loads
// itself, and updates with several goroutines.
type TrainableTable = trainTable

// NewTable builds the embedding table cfg describes (Table, Dim,
// MemoryBudget, TableConfig, Chunks, Probes, HeadFraction, Storage,
// Optimizer, EmbLR, Seed, Threads; see newTable) for fields whose
// distinct training ids are ids[f] (sorted ascending) with frequencies
// counts[f] (same order): what Train builds after its vocabulary pre-pass,
// for models other than Train's (the two-tower retrieval model).
func NewTable(cfg Config, ids [][]uint64, counts [][]uint32) (TrainableTable, error) {
	if len(ids) != len(counts) {
		return nil, fmt.Errorf("new table: %d id lists and %d count lists", len(ids), len(counts))
	}
	for f := range ids {
		if len(ids[f]) != len(counts[f]) {
			return nil, fmt.Errorf("new table: field %d has %d ids and %d counts", f, len(ids[f]), len(counts[f]))
		}
	}
	if cfg.Optimizer == "" {
		cfg.Optimizer = "rowwise_adagrad"
	}
	if cfg.EmbLR == 0 {
		cfg.EmbLR = DefaultEmbLR(cfg.Optimizer, cfg.Model)
	}
	if cfg.Table == "" {
		cfg.Table = embedding.MethodHashed
	}
	if cfg.Threads <= 0 {
		cfg.Threads = 1
	}
	if cfg.Dim <= 0 {
		return nil, fmt.Errorf("new table: dim %d must be > 0", cfg.Dim)
	}
	return newTable(&cfg, &vocabulary{ids: ids, counts: counts}, nil)
}

// planChunkDim is the unified chunk width a plan's dimensions are cut
// into (see newTable).
func planChunkDim(cfg *Config) int {
	switch {
	case cfg.Chunks > 0:
		return cfg.Dim / cfg.Chunks
	case cfg.Dim%4 == 0:
		return cfg.Dim / 4
	case cfg.Dim%2 == 0:
		return cfg.Dim / 2
	}
	return 1
}

// newPlannedTable builds the full, hashed or unified table of a dimension plan.
func newPlannedTable(cfg *Config, v *vocabulary, plan *dimsearch.Plan) (trainTable, error) {
	if len(plan.Fields) != len(v.ids) || plan.BaseDim != cfg.Dim {
		return nil, fmt.Errorf("dimension plan of %d fields at dim %d, table of %d fields at dim %d",
			len(plan.Fields), plan.BaseDim, len(v.ids), cfg.Dim)
	}
	opt := embedding.Optimizer{Name: cfg.Optimizer, LR: float32(cfg.EmbLR)}
	var (
		t   trainTable
		err error
	)
	switch cfg.Table {
	case embedding.MethodFull:
		ids := make([][]uint64, len(v.ids))
		rows := make([]int64, len(v.ids))
		for f := range ids {
			ids[f] = plan.KeptIDs(f, v.ids[f])
			rows[f] = int64(len(ids[f]))
		}
		// The plan's unpruned fields take this run's vocabulary, which
		// may differ from the searched run's (other data or split): the
		// budget holds for the table really built.
		if cost := dimsearch.Cost(rows, plan.Dims()); cfg.MemoryBudget > 0 && cost > cfg.MemoryBudget {
			return nil, fmt.Errorf("dimension plan: the table needs %d bytes on this data (the plan says %d), more than --memory-budget %d",
				cost, plan.Bytes, cfg.MemoryBudget)
		}
		t, err = embedding.NewFull(ids, embedding.Config{Method: embedding.MethodFull, Dim: cfg.Dim, FieldDims: plan.Dims(),
			Optimizer: opt, Seed: cfg.Seed, Storage: cfg.Storage})
	case embedding.MethodHashed:
		// Hashing needs no vocabulary: every value hashes into its
		// field's rows, sized to the budget at the field's dimension.
		budget := cfg.MemoryBudget
		if budget == 0 {
			budget = plan.Bytes
		}
		var rows []int
		rows, err = embedding.HashedForBudgetDims(budget, v.cardinalities(), plan.Dims())
		if err == nil {
			t, err = embedding.NewHashed(embedding.Config{Method: embedding.MethodHashed, Dim: cfg.Dim, Rows: rows,
				FieldDims: plan.Dims(), Optimizer: opt, Seed: cfg.Seed, Storage: cfg.Storage})
		}
	case multiplex.MethodUnified:
		budget := cfg.MemoryBudget
		if budget == 0 {
			budget = plan.Bytes
		}
		cd := planChunkDim(cfg)
		shape := multiplex.Config{Method: multiplex.MethodUnified, Chunks: plan.Chunks(cd), ChunkDim: cd}
		var mc multiplex.Config
		mc, err = multiplex.ForBudget(budget, len(v.ids), cfg.Dim, shape)
		if err == nil {
			mc.Optimizer, mc.Seed, mc.Storage = opt, cfg.Seed, cfg.Storage
			t, err = multiplex.New(mc)
		}
	default:
		return nil, fmt.Errorf("a dimension plan needs --table full, hashed or unified, not %s", cfg.Table)
	}
	if err != nil {
		return nil, fmt.Errorf("embedding table %s with a dimension plan: %w", cfg.Table, err)
	}
	t.SetThreads(cfg.Threads)
	return t, nil
}
