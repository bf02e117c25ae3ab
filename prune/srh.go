package prune

import (
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/embtab/embtab/embedding"
)

// srhSearch is AutoSrh's search (Kong et al., the VLDB'24 benchmark's
// AutoSrh): the ids fall into frequency groups, each group has a weight
// in [0, 1] per dimension, and an id's vector is its row times its
// group's weights. The weights learn with the rows, by SGD on their
// gradient normalised by its mean magnitude per group plus an L1 term,
// clipped to [0, 1], as Hetu's code does (a group whose ids had no
// gradient in a batch keeps its weights); weights driven to zero drop a
// dimension from a whole group. Hetu updates them on validation batches
// (bi-level); here they learn from the training batches, as the table
// sees no others.
type srhSearch struct {
	d      int
	group  []uint8   // per row of the full table
	alpha  []float32 // groups x d
	galpha []float32 // the batch's gradient of alpha
	scaled []float32 // the rows' gradient (the caller's times alpha)
}

var keyPool sync.Pool // of *[]embedding.Key

func newSRHSearch(group []uint8, groups, d int) *srhSearch {
	s := &srhSearch{d: d, group: group, alpha: make([]float32, groups*d), galpha: make([]float32, groups*d)}
	for i := range s.alpha {
		s.alpha[i] = 1
	}
	return s
}

// frequencyGroups splits the ids of every field, by training count, into
// groups of about equal size (ids of one count stay together), group 0
// the rarest, as Hetu's get_whole_frequency_grouping; it returns each
// full-table row's group (a field's row for unseen ids: group 0).
func frequencyGroups(vocab [][]uint64, counts [][]uint32, groups int) ([]uint8, error) {
	type idc struct {
		row   int
		count uint32
	}
	var all []idc
	row := 0
	for f, ids := range vocab {
		if len(counts[f]) != len(ids) {
			return nil, fmt.Errorf("autosrh table: field %d: %d counts for %d ids: %w", f, len(counts[f]), len(ids), embedding.ErrConfig)
		}
		for i := range ids {
			all = append(all, idc{row + i, counts[f][i]})
		}
		row += len(ids) + 1
	}
	slices.SortStableFunc(all, func(a, b idc) int { return int(int64(a.count) - int64(b.count)) })
	g := make([]uint8, row)
	n := len(all)
	at := 0
	for k := range groups {
		end := n * (k + 1) / groups
		if k == groups-1 {
			end = n
		}
		for at < end || (at > 0 && at < n && all[at].count == all[at-1].count) {
			g[all[at].row] = uint8(k)
			at++
		}
	}
	return g, nil
}

// rowOf returns the full table's row of id in field f (keys: scratch).
func (t *Table) rowOf(keys *[]embedding.Key, f int, id uint64) int {
	*keys = t.full.Plan().Fields[f].Keys((*keys)[:0], id)
	return int((*keys)[0].Row)
}

// scale multiplies the looked-up rows of ids in out by their groups'
// weights. It is safe for concurrent use (key scratch from a pool).
func (s *srhSearch) scale(t *Table, ids []uint64, fields []int, out []float32) {
	d, nf := s.d, t.Fields()
	keys, _ := keyPool.Get().(*[]embedding.Key)
	if keys == nil {
		keys = new([]embedding.Key)
	}
	defer keyPool.Put(keys)
	for i, id := range ids {
		a := s.alpha[int(s.group[t.rowOf(keys, embedding.FieldOf(fields, i, nf), id)])*d:][:d]
		o := out[i*d : (i+1)*d]
		for j := range o {
			o[j] *= a[j]
		}
	}
}

// apply trains the rows (on grads times the weights) and the weights.
func (s *srhSearch) apply(t *Table, ids []uint64, fields []int, grads []float32) {
	d, nf := s.d, t.Fields()
	vals := t.rows.Params()
	if cap(s.scaled) < len(grads) {
		s.scaled = make([]float32, len(grads))
	}
	s.scaled = s.scaled[:len(grads)]
	clear(s.galpha)
	for i, id := range ids {
		r := t.rowOf(&t.keys, embedding.FieldOf(fields, i, nf), id)
		gi := int(s.group[r]) * d
		a, ga := s.alpha[gi:gi+d], s.galpha[gi:gi+d]
		v := vals[r*d : (r+1)*d]
		g := grads[i*d : (i+1)*d]
		sc := s.scaled[i*d : (i+1)*d]
		for j := range g {
			ga[j] += g[j] * v[j]
			sc[j] = g[j] * a[j]
		}
	}
	if fields == nil {
		t.full.Apply(ids, s.scaled)
	} else {
		t.full.ApplyFields(ids, fields, s.scaled)
	}
	groups := len(s.alpha) / d
	for k := range groups {
		a, ga := s.alpha[k*d:(k+1)*d], s.galpha[k*d:(k+1)*d]
		if !slices.ContainsFunc(ga, func(x float32) bool { return x != 0 }) {
			continue // no id of the group had a gradient: its weights rest
		}
		mean := float32(0)
		for j := range ga {
			ga[j] += t.cfg.L1 // d|alpha|/dalpha, alpha >= 0
			mean += float32(math.Abs(float64(ga[j])))
		}
		mean = mean/float32(d) + 1e-8
		for j := range a {
			a[j] = min(max(a[j]-t.cfg.AlphaLR*ga[j]/mean, 0), 1)
		}
	}
}

// bake ends the search: every row becomes its vector (the row times its
// group's weights).
func (s *srhSearch) bake(t *Table) {
	d := s.d
	vals := t.rows.Params()
	for r, g := range s.group {
		a := s.alpha[int(g)*d:][:d]
		v := vals[r*d : (r+1)*d]
		for j := range v {
			v[j] *= a[j]
		}
	}
}
