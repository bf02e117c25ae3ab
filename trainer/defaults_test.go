package trainer

import "testing"

// TestDefaultTable checks the table a run gets without --table: the full
// table, unless a budget or --rows-per-field asks for hashing.
func TestDefaultTable(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "full"},
		{Config{MemoryBudget: 1 << 20}, "hashed"},
		{Config{RowsPerField: 200000}, "hashed"},
		{Config{Table: "qr", MemoryBudget: 1 << 20}, "qr"},
	} {
		cfg := c.cfg
		cfg.Defaults()
		if cfg.Table != c.want {
			t.Errorf("%+v: table %q, want %q", c.cfg, cfg.Table, c.want)
		}
	}
}

// TestTableNamesSearch: --table autodim (and the other searches) is that
// dimension search over a full table.
func TestTableNamesSearch(t *testing.T) {
	for _, name := range []string{"optembed", "dnis", "autodim", "uniform"} {
		c := Config{Table: name}
		c.Defaults()
		if c.Table != "full" || c.DimSearch != name {
			t.Errorf("--table %s: table %q, dim search %q", name, c.Table, c.DimSearch)
		}
	}
}
