package badgerstore_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/embtab/embtab/artifact"
	"github.com/embtab/embtab/lookup"
	"github.com/embtab/embtab/lookup/badgerstore"
	"github.com/embtab/embtab/lookup/storetest"
)

func open(t *testing.T, a *artifact.Artifact, dir string) *badgerstore.Store {
	t.Helper()
	s, err := badgerstore.Open(context.Background(), a, badgerstore.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	for _, codec := range []string{"fp32", "int4"} {
		t.Run(codec, func(t *testing.T) {
			a := storetest.Fixture(t, codec)
			storetest.Run(t, a, func(t *testing.T) lookup.Store { return open(t, a, t.TempDir()) })
		})
		t.Run(codec+"/field-dims", func(t *testing.T) {
			a := storetest.FixtureFieldDims(t, codec)
			storetest.Run(t, a, func(t *testing.T) lookup.Store { return open(t, a, t.TempDir()) })
		})
	}
}

// TestSurvivesRestart writes a row, closes the store and reopens it: the
// row is still there and the artifact is not loaded again.
func TestSurvivesRestart(t *testing.T) {
	a := storetest.Fixture(t, "fp32")
	dir := t.TempDir()
	ctx := context.Background()
	w := a.Manifest().Table.Width
	s := open(t, a, dir)
	k := []lookup.Key{{Set: 1, Row: 5}}
	row := []float32{1, 2, 3, 4}[:w]
	if err := s.Put(ctx, k, row); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, a, dir)
	defer s.Close()
	got := make([]float32, w)
	if err := s.Get(ctx, k, got); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, row) {
		t.Fatalf("after restart: %v, want %v", got, row)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 || entries[0].Name() != a.Manifest().ID {
		t.Errorf("database directories %v, want one named by the artifact id", entries)
	}
	if err := s.Put(ctx, []lookup.Key{{Set: 2}}, row); !errors.Is(err, lookup.ErrNotFound) {
		t.Errorf("put outside the table: got %v, want ErrNotFound", err)
	}
}

// TestInterruptedLoad checks that a database without the completion record
// (a load cut short) is loaded again.
func TestInterruptedLoad(t *testing.T) {
	a := storetest.Fixture(t, "fp32")
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := badgerstore.Open(ctx, a, badgerstore.Options{Dir: dir}); err == nil {
		t.Fatal("open with a cancelled context loaded the artifact")
	}
	s := open(t, a, dir)
	defer s.Close()
	out := make([]float32, a.Manifest().Table.Width)
	last := lookup.Key{Set: 1, Row: uint32(a.RowSets()[1].Len() - 1)}
	if err := s.Get(context.Background(), []lookup.Key{last}, out); err != nil {
		t.Fatalf("row after reload: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, a.Manifest().ID)); err != nil {
		t.Fatal(err)
	}
}

func TestNoDir(t *testing.T) {
	a := storetest.Fixture(t, "fp32")
	if _, err := lookup.Open(context.Background(), badgerstore.Name, a, lookup.Config{}); err == nil {
		t.Fatal("opened without a directory")
	}
}

// TestOpenTwice opens the same artifact's database twice in one process,
// as a reload of the same artifact does while the old model still serves:
// both stores work and see each other's updates, and closing one leaves
// the other working.
func TestOpenTwice(t *testing.T) {
	a := storetest.Fixture(t, "fp32")
	dir := t.TempDir()
	ctx := context.Background()
	w := a.Manifest().Table.Width
	s1 := open(t, a, dir)
	s2, err := badgerstore.Open(ctx, a, badgerstore.Options{Dir: dir})
	if err != nil {
		t.Fatalf("second open of the same artifact: %v", err)
	}
	k := []lookup.Key{{Set: 0, Row: 3}}
	row := []float32{9, 8, 7, 6}[:w]
	if err := s1.Put(ctx, k, row); err != nil {
		t.Fatal(err)
	}
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	got := make([]float32, w)
	if err := s2.Get(ctx, k, got); err != nil || !slices.Equal(got, row) {
		t.Fatalf("second store after the first closed: %v %v, want %v", got, err, row)
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	// Closed for good: a new Open opens it again and the update is kept.
	s3 := open(t, a, dir)
	defer s3.Close()
	if err := s3.Get(ctx, k, got); err != nil || !slices.Equal(got, row) {
		t.Fatalf("after reopening: %v %v, want %v", got, err, row)
	}
}
