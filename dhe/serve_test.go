package dhe

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"path/filepath"
	"slices"
	"testing"

	"github.com/embtab/embtab/artifact"
	"github.com/embtab/embtab/datasets"
	"github.com/embtab/embtab/lookup"
	"github.com/embtab/embtab/lookup/mmapstore"
)

// TestServedArtifact writes a trained table to an fp32 artifact and serves
// it through the lookup package: the resolver built with the artifact's
// row sets (decoded once, bound to the plan) gives the table's vectors bit
// for bit, field by field too; the one without them refuses.
func TestServedArtifact(t *testing.T) {
	tbl, ids := trained(t)
	dir := filepath.Join(t.TempDir(), "model")
	if _, err := artifact.Write(dir, artifact.Contents{
		Schema: &datasets.Schema{Label: "y", Categorical: []string{"a", "b", "c"}},
		Table:  tbl, Codec: "fp32", Model: json.RawMessage(`{}`),
		Dense: func(w io.Writer) error { _, err := w.Write([]byte{1}); return err },
	}, artifact.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	a, err := artifact.Open(dir, artifact.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := lookup.NewResolver(a.Manifest(), a.Vocab()); !errors.Is(err, artifact.ErrCorrupt) {
		t.Fatalf("NewResolver without the row sets: %v", err)
	}
	r, err := lookup.NewResolverWithRows(a.Manifest(), a.Vocab(), a.RowSets())
	if err != nil {
		t.Fatal(err)
	}
	if r.MaxKeys() != 0 {
		t.Fatalf("%d keys per id, want none", r.MaxKeys())
	}
	e := lookup.NewEmbedder(r, mmapstore.New(a))
	want := make([]float32, len(ids)*tbl.Dim())
	tbl.Lookup(ids, want)
	got := make([]float32, len(want))
	if err := e.Lookup(context.Background(), ids, got); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatal("served vectors differ from the table's")
	}
	fields := make([]int, len(ids))
	for i := range fields {
		fields[i] = i % tbl.Fields()
	}
	clear(got)
	if err := e.LookupFields(context.Background(), fields, ids, got); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatal("LookupFields differs from the table's vectors")
	}
}
