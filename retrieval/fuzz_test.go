package retrieval

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"math/rand/v2"
	"testing"
)

// fuzzTowers returns small towers: two user fields, one item field
// ("genres", multi-valued), out 3.
func fuzzTowers() *Towers {
	cfg := TowersConfig{Name: ModelName, Fields: []string{"user_id", "age", "genres"},
		UserFields: []int{0, 1}, ItemFields: []int{2}, Dim: 2, Hidden: 3, Out: 3, Nested: []int{1, 3}, Temperature: 0.1}
	rng := rand.New(rand.NewPCG(1, 2))
	return &Towers{cfg: cfg, user: newMLP(2*cfg.Dim, cfg.Hidden, cfg.Out, rng), item: newMLP(cfg.Dim, cfg.Hidden, cfg.Out, rng)}
}

// FuzzLoadTowers feeds corrupt towers files to LoadTowers: each must load
// or fail with ErrCorrupt, and towers that load must save and load back.
// If fixCRC, the input's last 4 bytes are first replaced by its checksum,
// so that the fuzzer reaches the parsing behind it.
func FuzzLoadTowers(f *testing.F) {
	var b bytes.Buffer
	if err := fuzzTowers().Save(&b); err != nil {
		f.Fatal(err)
	}
	s := b.Bytes()
	for _, fix := range []bool{false, true} {
		f.Add(s, fix)
		f.Add(s[:len(s)/2], fix)
		f.Add(s[:len(s)-1], fix)
		for _, at := range []int{9, 13, 20, len(s) / 2, len(s) - 7} {
			m := bytes.Clone(s)
			m[at] ^= 0x02
			f.Add(m, fix)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, fixCRC bool) {
		if fixCRC && len(data) >= 4 {
			data = bytes.Clone(data)
			binary.LittleEndian.PutUint32(data[len(data)-4:], crc32.Checksum(data[:len(data)-4], castagnoli))
		}
		tw, err := LoadTowers(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error does not wrap ErrCorrupt: %v", err)
			}
			return
		}
		var out bytes.Buffer
		if err := tw.Save(&out); err != nil {
			t.Fatalf("save loaded towers: %v", err)
		}
		if _, err := LoadTowers(&out); err != nil {
			t.Fatalf("load saved towers: %v", err)
		}
	})
}

// FuzzCatalog feeds corrupt catalog.json files to the checks OpenRetriever
// makes of a catalog against the towers (given vectors of the right
// length, which OpenRetriever reads by the catalog's counts): each must
// pass or fail without panicking, and a catalog that passes must answer
// filters.
func FuzzCatalog(f *testing.F) {
	cat := Catalog{ItemFields: []string{"genres"},
		Items: []Entity{{Key: "m1", Values: []string{"Comedy|Drama"}}, {Key: "m2", Values: []string{"War"}}, {Key: "m3", Values: []string{"Drama||Drama|"}}},
		Users: []string{"u1", "u2"}, Seen: [][]int32{{0, 2}, {}}}
	js, err := json.Marshal(cat)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(js)
	f.Add(js[:len(js)/2])
	f.Add(bytes.Replace(js, []byte(`"seen":[[0,2],[]]`), []byte(`"seen":[[0,7],[]]`), 1))
	f.Add(bytes.Replace(js, []byte(`"m2"`), []byte(`"m1"`), 1))
	f.Add(bytes.Replace(js, []byte(`"genres"`), []byte(`"age"`), 1))
	f.Add([]byte(`{"item_fields":["genres"],"items":[{"key":"a","values":[]}]}`))
	tw := fuzzTowers()
	out := tw.cfg.Out
	f.Fuzz(func(t *testing.T, data []byte) {
		cat := new(Catalog)
		if err := json.Unmarshal(data, cat); err != nil {
			return // OpenRetriever reports it as ErrCorrupt
		}
		if len(cat.Items)+len(cat.Users) > 1<<16 {
			return // the vectors would take the memory
		}
		items := make([]float32, len(cat.Items)*out)
		users := make([]float32, len(cat.Users)*out)
		for i := range items {
			items[i] = float32(i%7) - 3
		}
		r, err := newRetriever(tw, cat, items, users)
		if err != nil {
			return
		}
		for _, it := range cat.Items {
			filter := map[string][]string{cat.ItemFields[0]: {it.Values[0]}}
			ok, n, err := r.passing(t.Context(), filter, nil)
			if err != nil || n < 1 || len(ok) != len(cat.Items) {
				t.Fatalf("filter %v: %d items pass, %v", filter, n, err)
			}
		}
	})
}
