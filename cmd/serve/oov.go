package main

// Per-field out-of-vocabulary rates: a sampled check of the served values
// against the model's vocabulary. A rising rate on a field is the first
// sign of training-serving skew (a new id space, a broken upstream join),
// long before the AUC shows it.

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/embtab/embtab/artifact"
)

// oovSample checks one request in oovSample.
const (
	oovSample     = 8
	oovSampleText = "8"
)

// oovCounter counts a model's sampled values and vocabulary misses per
// field.
type oovCounter struct {
	vocab       *artifact.Vocab
	has         []bool // fields with a vocabulary
	values, oov []prometheus.Counter
	n           atomic.Uint64
}

// newOOVCounter returns the counter of a model whose artifact has a
// vocabulary, else nil.
func newOOVCounter(met *metrics, name string, fields []string, v *artifact.Vocab) *oovCounter {
	if v == nil || v.Fields() != len(fields) {
		return nil
	}
	c := &oovCounter{vocab: v, has: make([]bool, len(fields))}
	some := false
	for f, field := range fields {
		c.values = append(c.values, met.fieldValues.WithLabelValues(name, field))
		c.oov = append(c.oov, met.fieldOOV.WithLabelValues(name, field))
		if v.Len(f) > 0 {
			c.has[f], some = true, true
		}
	}
	if !some {
		return nil
	}
	return c
}

// observeOOV checks b's values when b is a sampled request.
func (m *model) observeOOV(b *batch) {
	c := m.oov
	if c == nil || c.n.Add(1)%oovSample != 0 {
		return
	}
	c.count(m.ids(b), m.nf)
}

// count adds the misses of ids (ids[i*nf+f] of field f).
func (c *oovCounter) count(ids []uint64, nf int) {
	n := len(ids) / nf
	for f := range nf {
		if !c.has[f] {
			continue
		}
		miss := 0
		for i := range n {
			if _, ok := c.vocab.Find(f, ids[i*nf+f]); !ok {
				miss++
			}
		}
		c.values[f].Add(float64(n))
		c.oov[f].Add(float64(miss))
	}
}

// forget drops the model's series (when it stops being served).
func (c *oovCounter) forget(met *metrics, name string, fields []string) {
	if c == nil {
		return
	}
	for _, field := range fields {
		met.fieldValues.DeleteLabelValues(name, field)
		met.fieldOOV.DeleteLabelValues(name, field)
	}
}
