package dimsearch

import (
	"bytes"
	"encoding/json"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadPlan feeds corrupt plans and kept-ids sidecars to ReadPlan. The
// plan is written as plan.json and the sidecar under the name the valid
// plan gives it; if fixCRC (and the plan is a JSON object) the plan's
// kept_crc is first set to the sidecar's checksum, so that the fuzzer
// reaches the sidecar's decoding. Each must read or fail with ErrPlan, and
// a plan that reads must validate.
func FuzzReadPlan(f *testing.F) {
	src := filepath.Join(f.TempDir(), "plan.json")
	if err := WritePlan(src, testPlan()); err != nil {
		f.Fatal(err)
	}
	plan, err := os.ReadFile(src)
	if err != nil {
		f.Fatal(err)
	}
	p, err := ReadPlan(src)
	if err != nil {
		f.Fatal(err)
	}
	keptName := p.KeptFile
	kept, err := os.ReadFile(filepath.Join(filepath.Dir(src), keptName))
	if err != nil {
		f.Fatal(err)
	}
	for _, fix := range []bool{false, true} {
		f.Add(plan, kept, fix)
		f.Add(plan[:len(plan)/2], kept, fix)
		f.Add(plan, kept[:len(kept)-3], fix)
		for _, at := range []int{8, 12, 16, 17, len(kept) - 1} {
			k := bytes.Clone(kept)
			k[at] ^= 0x01
			f.Add(plan, k, fix)
		}
		for _, r := range [][2]string{
			{`"kept_rows": 3`, `"kept_rows": 10`},
			{`"dim": 2`, `"dim": 9`},
			{`"cardinality": 5`, `"cardinality": 9223372036854775807`},
			{`"format_version": 1`, `"format_version": 0`},
			{keptName, ".."},
		} {
			f.Add(bytes.Replace(plan, []byte(r[0]), []byte(r[1]), 1), kept, fix)
		}
	}
	dir := f.TempDir()
	path := filepath.Join(dir, "plan.json")
	f.Fuzz(func(t *testing.T, plan, kept []byte, fixCRC bool) {
		if fixCRC {
			var m map[string]any
			dec := json.NewDecoder(bytes.NewReader(plan))
			dec.UseNumber()
			if dec.Decode(&m) == nil && m != nil {
				m["kept_crc"] = crc32.Checksum(kept, castagnoli)
				if b, err := json.Marshal(m); err == nil {
					plan = b
				}
			}
		}
		if err := os.WriteFile(path, plan, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, keptName), kept, 0o644); err != nil {
			t.Fatal(err)
		}
		p, err := ReadPlan(path)
		if err != nil {
			if !errors.Is(err, ErrPlan) {
				t.Fatalf("error does not wrap ErrPlan: %v", err)
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("a plan read does not validate: %v", err)
		}
	})
}
