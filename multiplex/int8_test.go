package multiplex_test

import (
	"bytes"
	"testing"

	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/embedding/embtest"
	"github.com/embtab/embtab/multiplex"
)

func TestTableInt8(t *testing.T) {
	for _, c := range conformanceConfigs {
		for _, opt := range optimizersUnderTest {
			t.Run(c.name+"/"+opt.Name, func(t *testing.T) {
				cfg := c.cfg
				cfg.Optimizer, cfg.Seed, cfg.Storage = opt, 17, embedding.StorageInt8
				embtest.TestTable(t, func() embedding.Trainable { return must(multiplex.New(cfg)) },
					embtest.Tolerance(0.005))
				tbl := must(multiplex.New(cfg))
				b := tbl.Bytes()
				rows := 0
				for _, r := range tbl.RowSets() {
					rows += r.Len() * (r.Dim() + 8)
					if r.Storage().Precision != embedding.StorageInt8 {
						t.Fatal("pool not int8")
					}
				}
				if b.Params != int64(rows) {
					t.Fatalf("Params %d, want %d", b.Params, rows)
				}
				var buf bytes.Buffer
				if err := tbl.Save(&buf); err != nil {
					t.Fatal(err)
				}
				if _, err := multiplex.Load(&buf); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}
