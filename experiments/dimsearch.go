package experiments

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/embtab/embtab/dimsearch"
)

// SearchFile is the sweep's per-cell record of dimension searches, beside
// results.csv.
const SearchFile = "dimsearch.csv"

// SearchRecord is what a dimension-search cell found: a row of
// dimsearch.csv.
type SearchRecord struct {
	Dataset, Method string
	TargetRatio     float64
	Seed            int64
	Budget, Bytes   int64
	AUC, ValAUC     float64
	SearchSeconds   float64
	// Fields is "name=dim/kept/cardinality" per field, joined by ";".
	Fields string
}

var searchHeader = []string{"dataset", "method", "target_ratio", "seed", "budget_bytes", "plan_bytes", "auc", "val_auc",
	"search_seconds", "fields"}

func newSearchRecord(r *Result, p *dimsearch.Plan) *SearchRecord {
	parts := make([]string, len(p.Fields))
	for f, fp := range p.Fields {
		parts[f] = fmt.Sprintf("%s=%d/%d/%d", fp.Name, fp.Dim, fp.KeptRows, fp.Cardinality)
	}
	return &SearchRecord{Dataset: r.Dataset, Method: r.Method, TargetRatio: r.TargetRatio, Seed: r.Seed,
		Budget: p.Budget, Bytes: p.Bytes, AUC: r.AUC, ValAUC: p.ValAUC, SearchSeconds: p.SearchSeconds,
		Fields: strings.Join(parts, ";")}
}

func (s *SearchRecord) record() []string {
	f := func(x float64) string { return strconv.FormatFloat(x, 'g', 10, 64) }
	i := func(x int64) string { return strconv.FormatInt(x, 10) }
	return []string{s.Dataset, s.Method, f(s.TargetRatio), i(s.Seed), i(s.Budget), i(s.Bytes), f(s.AUC), f(s.ValAUC),
		f(s.SearchSeconds), s.Fields}
}

// appendSearch appends one record to dir/dimsearch.csv (with a header
// when the file is new) and fsyncs it.
func appendSearch(dir string, s *SearchRecord) error {
	path := filepath.Join(dir, SearchFile)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("search records: %w", err)
	}
	defer f.Close()
	w := csv.NewWriter(f)
	if fi, err := f.Stat(); err == nil && fi.Size() == 0 {
		w.Write(searchHeader)
	}
	w.Write(s.record())
	w.Flush()
	if err := w.Error(); err != nil {
		return fmt.Errorf("append %s: %w", path, err)
	}
	return f.Sync()
}

// ReadSearchRecords reads a dimsearch.csv; a missing file gives none, and
// a torn last line (a crash mid-append) is ignored.
func ReadSearchRecords(path string) ([]*SearchRecord, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read search records: %w", err)
	}
	defer f.Close()
	cr := csv.NewReader(f)
	cr.FieldsPerRecord = -1
	var out []*SearchRecord
	for line := 1; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if line == 1 && rec[0] == "dataset" || len(rec) != len(searchHeader) {
			continue
		}
		var perr error
		pf := func(s string) float64 {
			v, e := strconv.ParseFloat(s, 64)
			perr = errors.Join(perr, e)
			return v
		}
		pi := func(s string) int64 {
			v, e := strconv.ParseInt(s, 10, 64)
			perr = errors.Join(perr, e)
			return v
		}
		s := &SearchRecord{Dataset: rec[0], Method: rec[1], TargetRatio: pf(rec[2]), Seed: pi(rec[3]), Budget: pi(rec[4]),
			Bytes: pi(rec[5]), AUC: pf(rec[6]), ValAUC: pf(rec[7]), SearchSeconds: pf(rec[8]), Fields: rec[9]}
		if perr != nil || !validFields(s.Fields) {
			continue // a torn line: the cell reruns
		}
		out = append(out, s)
	}
}

// SearchReport is the report section of the dimension searches: per
// dataset and budget, test AUC (mean ± sd over seeds) of uniform
// dimensions, OptEmbed and DNIS at the same bytes, the searches' wall
// time, and the per-field dimensions of the first seed.
func SearchReport(recs []*SearchRecord) string {
	if len(recs) == 0 {
		return ""
	}
	type key struct {
		d, m string
		r    float64
	}
	group := map[key][]*SearchRecord{}
	var datasets []string
	ratios := map[string][]float64{}
	for _, s := range recs {
		k := key{s.Dataset, s.Method, s.TargetRatio}
		if _, ok := ratios[s.Dataset]; !ok {
			datasets = append(datasets, s.Dataset)
		}
		if len(group[key{s.Dataset, "", s.TargetRatio}]) == 0 {
			ratios[s.Dataset] = append(ratios[s.Dataset], s.TargetRatio)
			group[key{s.Dataset, "", s.TargetRatio}] = []*SearchRecord{s}
		}
		group[k] = append(group[k], s)
	}
	methods := []string{dimsearch.MethodUniform, dimsearch.MethodOptEmbed, dimsearch.MethodDNIS}
	var b strings.Builder
	b.WriteString("\n## Dimension search (uniform vs OptEmbed vs DNIS at the same bytes)\n\n")
	b.WriteString("Test AUC mean over seeds (± sample sd where a cell has at least 2 seeds; one seed shows its value alone); Δ against uniform dimensions at the same budget; plan bytes are the searched\n")
	b.WriteString("full table's serving bytes, (kept rows + OOV row) × dim × 4 + 12 bytes of vocabulary per kept id; search seconds are the search phase alone (the final training is\n")
	b.WriteString("as long as any full-table run). Per-field entries are name=dim/kept rows/distinct values (first seed).\n")
	for _, d := range datasets {
		rs := ratios[d]
		sort.Float64s(rs)
		fmt.Fprintf(&b, "\n### %s\n\n| ratio | budget | uniform AUC | OptEmbed AUC (Δ) | DNIS AUC (Δ) | plan bytes U/O/D | search s O/D |\n|---|---|---|---|---|---|---|\n", d)
		for _, r := range rs {
			stat := func(m string) (mean, sd, bytes, secs float64, n int) {
				g := group[key{d, m, r}]
				if len(g) == 0 {
					return math.NaN(), 0, 0, 0, 0
				}
				var x []float64
				for _, s := range g {
					x = append(x, s.AUC)
					bytes += float64(s.Bytes)
					secs += s.SearchSeconds
				}
				mean, sd = meanSD(x)
				return mean, sd, bytes / float64(len(g)), secs / float64(len(g)), len(g)
			}
			um, us, ub, _, un := stat(methods[0])
			om, os_, ob, osec, on := stat(methods[1])
			dm, ds, db, dsec, dn := stat(methods[2])
			budget := group[key{d, "", r}][0].Budget
			cell := func(m, s float64, n int, base float64) string {
				if math.IsNaN(m) {
					return "—"
				}
				if math.IsNaN(base) {
					return spread(m, s, n)
				}
				return fmt.Sprintf("%s (%+.4f)", spread(m, s, n), m-base)
			}
			fmt.Fprintf(&b, "| %gx | %d | %s | %s | %s | %.0f / %.0f / %.0f | %.1f / %.1f |\n", r, budget,
				cell(um, us, un, math.NaN()), cell(om, os_, on, um), cell(dm, ds, dn, um), ub, ob, db, osec, dsec)
		}
		b.WriteString("\nPer-field dimensions found (first seed):\n\n")
		for _, r := range rs {
			for _, m := range methods[1:] {
				g := group[key{d, m, r}]
				if len(g) == 0 {
					continue
				}
				first := g[0]
				for _, s := range g {
					if s.Seed < first.Seed {
						first = s
					}
				}
				fmt.Fprintf(&b, "- %gx %s (seed %d): %s\n", r, m, first.Seed, strings.ReplaceAll(first.Fields, ";", ", "))
			}
		}
	}
	return b.String()
}

// validFields reports whether a record's field list is whole: entries
// "name=dim/kept/cardinality" separated by ";", each with three integers.
// The list is the last column, so a line torn inside it would otherwise
// parse; a tear exactly between two entries still loses the fields after
// it, which SearchReport's readers see as a shorter list.
func validFields(s string) bool {
	if s == "" {
		return false
	}
	for _, e := range strings.Split(s, ";") {
		name, nums, ok := strings.Cut(e, "=")
		if !ok || name == "" {
			return false
		}
		parts := strings.Split(nums, "/")
		if len(parts) != 3 {
			return false
		}
		for _, p := range parts {
			if _, err := strconv.ParseInt(p, 10, 64); err != nil {
				return false
			}
		}
	}
	return true
}
