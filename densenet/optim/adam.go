// Package optim holds the optimizer of every dense parameter in embtab:
// the dense nets (package densenet), the two-tower model's towers
// (package retrieval) and the dimension-search layers (package
// dimsearch) all step their parameters with one Adam.
//
// Non-goals: sparse (row-wise) optimizers of embedding tables, which live
// with the tables (package embedding), and schedules or gradient clipping.
//
// # Numerics
//
// Adam is torch.optim.Adam without weight decay or amsgrad, in float32
// with the bias corrections computed in float64 once per step:
//
//	m = β1·m + (1-β1)·g
//	v = β2·v + (1-β2)·g²
//	p = p - stepSize · m / (sqrt(v)/sqrt(1-β2^t) + eps),  stepSize = lr/(1-β1^t)
//
// These are the float32 operations, in this order, of the GoMLX reference
// graph in package trainer, so the two agree bit for bit.
//
// # Concurrency
//
// An Adam is not safe for concurrent use. Step may split its loop over
// goroutines through a Runner; the result does not depend on the split.
package optim

import (
	"fmt"
	"math"
)

// Defaults of AdamConfig (torch.optim.Adam's).
const (
	DefaultLR    = 1e-3
	DefaultBeta1 = 0.9
	DefaultBeta2 = 0.999
	DefaultEps   = 1e-8
)

// AdamConfig are Adam's hyperparameters; zero means the default.
type AdamConfig struct {
	LR, Beta1, Beta2, Eps float64
}

// WithDefaults returns c with its zero fields set to the defaults.
func (c AdamConfig) WithDefaults() AdamConfig {
	or := func(v, def float64) float64 {
		if v == 0 {
			return def
		}
		return v
	}
	return AdamConfig{LR: or(c.LR, DefaultLR), Beta1: or(c.Beta1, DefaultBeta1),
		Beta2: or(c.Beta2, DefaultBeta2), Eps: or(c.Eps, DefaultEps)}
}

// Validate reports whether c (after WithDefaults) is usable: lr > 0,
// betas in [0, 1), eps > 0.
func (c AdamConfig) Validate() error {
	if !(c.LR > 0) || c.Beta1 < 0 || c.Beta1 >= 1 || c.Beta2 < 0 || c.Beta2 >= 1 || !(c.Eps > 0) {
		return fmt.Errorf("invalid Adam hyperparameters lr=%g betas=(%g, %g) eps=%g", c.LR, c.Beta1, c.Beta2, c.Eps)
	}
	return nil
}

// Runner runs fn over a split of [0, n) into ranges of at least minChunk
// indices, possibly in parallel, and returns when all are done.
type Runner interface {
	Run(n, minChunk int, fn func(lo, hi int))
}

// adamChunk is the smallest range Step hands to a goroutine.
const adamChunk = 1 << 14

// Adam holds the moments of a list of parameter tensors and steps them on
// their gradients. The tensors are the caller's, updated in place.
type Adam struct {
	cfg           AdamConfig
	params, grads [][]float32
	m, v          [][]float32
	// offsets[i] is the start of tensor i in the concatenation of all of
	// them (the index space Step splits).
	offsets []int
	step    int64
	h       adamStep
	// rangeFn is a.updateRange, stored once (a method value allocates).
	rangeFn func(lo, hi int)
}

// adamStep are the float32 constants of one step.
type adamStep struct {
	stepSize, bc2Sqrt, b1, b2, c1, c2, eps float32
}

// NewAdam returns an Adam at step 0 with zero moments for params, whose
// gradients Step reads from grads (same shapes). cfg's zero fields take
// the defaults.
func NewAdam(cfg AdamConfig, params, grads [][]float32) (*Adam, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("optim: %w", err)
	}
	if len(params) != len(grads) {
		return nil, fmt.Errorf("optim: %d parameters, %d gradients", len(params), len(grads))
	}
	a := &Adam{cfg: cfg, params: params, grads: grads, offsets: []int{0}}
	for i, p := range params {
		if len(grads[i]) != len(p) {
			return nil, fmt.Errorf("optim: parameter %d has %d values, its gradient %d", i, len(p), len(grads[i]))
		}
		a.m = append(a.m, make([]float32, len(p)))
		a.v = append(a.v, make([]float32, len(p)))
		a.offsets = append(a.offsets, a.offsets[i]+len(p))
	}
	a.rangeFn = a.updateRange
	return a, nil
}

// Config returns the resolved hyperparameters.
func (a *Adam) Config() AdamConfig { return a.cfg }

// Steps returns the number of steps taken (torch's state["step"]).
func (a *Adam) Steps() int64 { return a.step }

// SetSteps sets the step count, when restoring a saved state together
// with the moments.
func (a *Adam) SetSteps(t int64) { a.step = t }

// Moments returns the first and second moments, one tensor per parameter;
// they are the optimizer's own (a checkpoint reads and restores them in
// place).
func (a *Adam) Moments() (m, v [][]float32) { return a.m, a.v }

// Step applies one update to every parameter from its gradient. r splits
// the loop over goroutines; nil runs it on the caller's.
func (a *Adam) Step(r Runner) {
	c := a.cfg
	t := float64(a.step + 1)
	a.h = adamStep{
		stepSize: float32(c.LR / (1 - math.Pow(c.Beta1, t))),
		bc2Sqrt:  float32(math.Sqrt(1 - math.Pow(c.Beta2, t))),
		b1:       float32(c.Beta1), b2: float32(c.Beta2),
		c1: float32(1 - c.Beta1), c2: float32(1 - c.Beta2),
		eps: float32(c.Eps),
	}
	n := a.offsets[len(a.offsets)-1]
	if r == nil {
		a.updateRange(0, n)
	} else {
		r.Run(n, adamChunk, a.rangeFn)
	}
	a.step++
}

// updateRange updates the values [lo, hi) of the concatenation of all
// parameters.
func (a *Adam) updateRange(lo, hi int) {
	for i, p := range a.params {
		start, end := max(lo, a.offsets[i]), min(hi, a.offsets[i+1])
		if start >= end {
			continue
		}
		s, e := start-a.offsets[i], end-a.offsets[i]
		a.h.update(p[s:e], a.grads[i][s:e], a.m[i][s:e], a.v[i][s:e])
	}
}

// update is the element loop of a step on equally long slices.
func (h adamStep) update(p, g, m, v []float32) {
	g, m, v = g[:len(p)], m[:len(p)], v[:len(p)]
	for j, gj := range g {
		mj := m[j]*h.b1 + gj*h.c1
		vj := v[j]*h.b2 + (gj*gj)*h.c2
		m[j], v[j] = mj, vj
		denom := float32(math.Sqrt(float64(vj)))/h.bc2Sqrt + h.eps
		p[j] -= h.stepSize * (mj / denom)
	}
}
