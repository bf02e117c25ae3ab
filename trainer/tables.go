package trainer

import (
	"fmt"

	"github.com/embtab/embtab/embedding"
)

// trainTable is what the loop needs of a table: training, checkpoints and
// threaded updates.
type trainTable interface {
	embedding.Trainable
	embedding.Persister
	SetThreads(n int)
}

// newTable builds the embedding table of cfg for the fields' vocabulary.
// Budgeted tables size themselves to cfg.MemoryBudget (bytes of fp32
// parameters); with no budget, hashed and QR tables get one row per
// distinct training value (plus one) per field, i.e. the full table's
// size, and keep only their collisions.
func newTable(cfg *Config, v *vocabulary) (trainTable, error) {
	card := v.cardinalities()
	budget := cfg.MemoryBudget
	if budget == 0 {
		budget = embedding.FullTableBytes(card, cfg.Dim)
	}
	ec := embedding.Config{
		Method:    cfg.Table,
		Dim:       cfg.Dim,
		Optimizer: embedding.Optimizer{Name: cfg.Optimizer, LR: float32(cfg.EmbLR)},
		Seed:      cfg.Seed,
	}
	var (
		t   trainTable
		err error
	)
	switch cfg.Table {
	case embedding.MethodFull:
		if cfg.MemoryBudget > 0 && embedding.FullTableBytes(card, cfg.Dim) > cfg.MemoryBudget {
			return nil, fmt.Errorf("--table full needs %d bytes at dim %d, more than --memory-budget %d: use hashed or qr",
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
	default:
		return nil, fmt.Errorf("--table %q: want full, hashed or qr", cfg.Table)
	}
	if err != nil {
		return nil, fmt.Errorf("embedding table: %w", err)
	}
	t.SetThreads(cfg.Threads)
	return t, nil
}
