package trainer

import (
	"fmt"
	"strconv"

	"github.com/embtab/embtab/dimsearch"
	"github.com/embtab/embtab/embedding"
	_ "github.com/embtab/embtab/methods" // registers every table method
)

// trainTable is what the loop needs of a table: training, checkpoints and
// threaded updates.
type trainTable = embedding.TrainTable

// TrainableTable is the trainer's name for [embedding.TrainTable].
type TrainableTable = embedding.TrainTable

// newTable builds the embedding table of cfg for the fields' vocabulary
// through the table method registered as cfg.Table
// ([embedding.MethodByName]): the method sizes itself to cfg.MemoryBudget
// in serving bytes (fp32 parameters plus its index: a full table's or a
// hybrid head's ids; see embedding.Spec.Budget), or with no budget builds
// the full table, or a compressed table of the full table's serving
// bytes, so that it keeps only its collisions. The method-specific flags
// become the method's settings: --rows-per-field (rows_per_field),
// --table-config (config), --chunks (chunks), --probes (probes),
// --head-fraction (head_fraction), --max-rank (max_rank); a method rejects those it does not
// take. Package multiplex documents multiplex, unified and multiprobe;
// package embedding full, hashed, qr and hybrid.
//
// cfg.Storage ("fp32" or "", "int8": low-precision training, see
// embedding.Storage, or "alpt": int8 with learned steps) sets how the rows
// are kept; the budget counts fp32 bytes either way, so an int8 table has
// the rows of its fp32 twin in about a third of the memory (Bytes reports
// what it holds).
//
// A dimension plan (package dimsearch; nil for none) gives the methods
// per-field dims and kept ids (full: only the kept ids own rows; hashed and
// unified: the rows are sized to the budget, or to the plan's bytes, at
// the planned dims); the other methods refuse it.
func newTable(cfg *Config, v *vocabulary, plan *dimsearch.Plan) (trainTable, error) {
	return newTableInit(cfg, v, plan, 0)
}

// newTableInit is newTable with the rows' init half-width (0: the
// method's default).
func newTableInit(cfg *Config, v *vocabulary, plan *dimsearch.Plan, initScale float32) (trainTable, error) {
	spec := embedding.Spec{
		InitScale: initScale,
		Dim:       cfg.Dim,
		Budget:    cfg.MemoryBudget,
		Fields:    make([]embedding.Frequencies, len(v.ids)),
		Optimizer: embedding.Optimizer{Name: cfg.Optimizer, LR: float32(cfg.EmbLR), ScaleLR: float32(cfg.ScaleLR)},
		Seed:      cfg.Seed,
		Storage:   cfg.Storage,
		Params:    tableParams(cfg),
	}
	for f := range spec.Fields {
		spec.Fields[f] = embedding.Frequencies{IDs: v.ids[f], Counts: v.counts[f], Distinct: int64(len(v.ids[f]))}
	}
	if plan != nil {
		if len(plan.Fields) != len(v.ids) || plan.BaseDim != cfg.Dim {
			return nil, fmt.Errorf("dimension plan of %d fields at dim %d, table of %d fields at dim %d",
				len(plan.Fields), plan.BaseDim, len(v.ids), cfg.Dim)
		}
		spec.FieldDims, spec.PlanBytes = plan.Dims(), plan.Bytes
		spec.KeptIDs = make([][]uint64, len(v.ids))
		for f := range v.ids {
			spec.KeptIDs[f] = plan.KeptIDs(f, v.ids[f])
		}
	}
	t, err := embedding.NewTable(cfg.Table, spec)
	if err != nil {
		if plan != nil {
			return nil, fmt.Errorf("--table %s with a dimension plan: %w", cfg.Table, err)
		}
		return nil, fmt.Errorf("--table %s: %w", cfg.Table, err)
	}
	t.SetThreads(cfg.Threads)
	return t, nil
}

// tableParams returns the method settings cfg's flags give.
func tableParams(cfg *Config) map[string]string {
	p := map[string]string{}
	if cfg.RowsPerField > 0 {
		p["rows_per_field"] = strconv.Itoa(cfg.RowsPerField)
	}
	if cfg.TableConfig != "" {
		p["config"] = cfg.TableConfig
	}
	if cfg.Chunks > 0 {
		p["chunks"] = strconv.Itoa(cfg.Chunks)
	}
	if cfg.Probes > 0 {
		p["probes"] = strconv.Itoa(cfg.Probes)
	}
	if cfg.HeadFraction > 0 {
		p["head_fraction"] = strconv.FormatFloat(cfg.HeadFraction, 'g', -1, 64)
	}
	if cfg.MaxRank > 0 {
		p["max_rank"] = strconv.Itoa(cfg.MaxRank)
	}
	return p
}
