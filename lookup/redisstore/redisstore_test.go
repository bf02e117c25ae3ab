package redisstore_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/embtab/embtab/artifact"
	"github.com/embtab/embtab/lookup"
	"github.com/embtab/embtab/lookup/redisstore"
	"github.com/embtab/embtab/lookup/redisstore/redistest"
	"github.com/embtab/embtab/lookup/storetest"
)

// TestSlot checks the slot function against values from the Redis Cluster
// specification and redis-cli CLUSTER KEYSLOT.
func TestSlot(t *testing.T) {
	for _, tc := range []struct {
		key  string
		slot uint16
	}{
		{"123456789", 0x31C3 % 16384}, // the spec's CRC16 check value 0x31C3
		{"foo", 12182},
		{"bar", 5061},
		{"{user1000}.following", redisstore.Slot("user1000")},
		{"foo{}{bar}", redisstore.Slot("foo{}{bar}")}, // empty tag: the whole key
		{"foo{{bar}}zap", redisstore.Slot("{bar")},
		{"", 0},
	} {
		if got := redisstore.Slot(tc.key); got != tc.slot {
			t.Errorf("Slot(%q) = %d, want %d", tc.key, got, tc.slot)
		}
	}
	if redisstore.Slot("foo{}{bar}") == redisstore.Slot("bar") {
		t.Error("an empty hash tag must not select the next tag")
	}
}

func TestConformance(t *testing.T) {
	addrs := redistest.StartCluster(t, 3)
	for _, codec := range []string{"fp32", "int8"} {
		for name, fixture := range map[string]func(testing.TB, string) *artifact.Artifact{
			"": storetest.Fixture, "/field-dims": storetest.FixtureFieldDims,
			"/sparse": func(t testing.TB, _ string) *artifact.Artifact { return storetest.FixtureSparse(t) },
		} {
			t.Run(codec+name, func(t *testing.T) {
				if name == "/sparse" && codec != "fp32" {
					t.Skip("sparse rows are fp32 only")
				}
				a := fixture(t, codec)
				storetest.Run(t, a, func(t *testing.T) lookup.Store {
					s, err := redisstore.Open(context.Background(), a, redisstore.Options{Addrs: addrs, Prefix: "test"})
					if err != nil {
						t.Fatal(err)
					}
					return s
				})
			})
		}
	}
	t.Run("Reattach", func(t *testing.T) {
		a := storetest.Fixture(t, "fp32")
		ctx := context.Background()
		if _, err := redisstore.Open(ctx, a, redisstore.Options{Addrs: addrs, NoLoad: true}); !errors.Is(err, lookup.ErrNotFound) {
			t.Fatalf("NoLoad of an artifact the cluster lacks: got %v, want ErrNotFound", err)
		}
		s, err := redisstore.Open(ctx, a, redisstore.Options{Addrs: addrs})
		if err != nil {
			t.Fatal(err)
		}
		k := []lookup.Key{{Set: 0, Row: 9}}
		row := []float32{9, 8, 7, 6}
		if err := s.Put(ctx, k, row); err != nil {
			t.Fatal(err)
		}
		s.Close()
		// A second server attaches without loading, and sees the update.
		s, err = redisstore.Open(ctx, a, redisstore.Options{Addrs: addrs, NoLoad: true})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		got := make([]float32, 4)
		if err := s.Get(ctx, k, got); err != nil || !slices.Equal(got, row) {
			t.Fatalf("after reattach: %v, %v; want %v", got, err, row)
		}
	})
}
