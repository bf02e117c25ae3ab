package dimsearch

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/embtab/embtab/embedding"
)

// EvolveConfig configures the evolutionary search. Zero fields take the
// defaults (OptEmbed's, scaled down: its fitness evaluations are our
// dominant search cost).
type EvolveConfig struct {
	// Population is the number of candidates per generation (default 20),
	// Generations the number of generations (default 10), Parents the top
	// candidates kept as parents (default Population/2).
	Population, Generations, Parents int
	// Mutations and Crossovers are the children bred per generation
	// (default Population/4 each: with the parents the next population).
	Mutations, Crossovers int
	// MutateProb is the chance each gene of a mutated child is redrawn
	// (default 0.1).
	MutateProb float64
	// Seed seeds the search.
	Seed uint64
}

// DefaultEvolve returns the default search settings.
func DefaultEvolve() EvolveConfig {
	return EvolveConfig{Population: 20, Generations: 10, MutateProb: 0.1}
}

func (c EvolveConfig) withDefaults() EvolveConfig {
	d := DefaultEvolve()
	if c.Population <= 0 {
		c.Population = d.Population
	}
	if c.Generations <= 0 {
		c.Generations = d.Generations
	}
	if c.Parents <= 0 {
		c.Parents = max(1, c.Population/2)
	}
	c.Parents = min(c.Parents, c.Population)
	if c.Mutations <= 0 {
		c.Mutations = max(1, c.Population/4)
	}
	if c.Crossovers <= 0 {
		c.Crossovers = max(1, c.Population/4)
	}
	if c.MutateProb <= 0 {
		c.MutateProb = d.MutateProb
	}
	return c
}

// ErrBudget is returned when not even the smallest candidate (dimension 1
// everywhere) fits the budget. It wraps embedding.ErrBudgetTooSmall, so
// callers that skip infeasible budgets (the experiments sweep) treat it
// like any other table that cannot be built that small.
var ErrBudget = fmt.Errorf("%w: not even dimension 1 in every field fits", embedding.ErrBudgetTooSmall)

// Candidate is a scored dimension vector.
type Candidate struct {
	Dims    []int
	Fitness float64
	Bytes   int64
}

// EvolveResult is the outcome of Evolve.
type EvolveResult struct {
	Best Candidate
	// Evaluated counts distinct candidates scored; History the best
	// fitness of the initial population and then after each generation
	// (Generations+1 values, never decreasing).
	Evaluated int
	History   []float64
}

// Evolve searches per-field dimension vectors d ∈ {1..maxDim}^fields with
// a genetic algorithm: a random initial population of candidates within
// the budget (cost(d) ≤ budget), plus the largest uniform vector that
// fits, so the search cannot end below uniform dimensions on its own
// fitness; then each generation keeps the top Parents by fitness and
// breeds Mutations (every gene of a random parent redrawn with
// MutateProb) and Crossovers (each gene from one of two random parents)
// children, rejecting those over the budget. fitness is called once per
// distinct candidate (higher is better).
func Evolve(c EvolveConfig, fields, maxDim int, budget int64, cost func([]int) int64,
	fitness func([]int) (float64, error)) (*EvolveResult, error) {
	c = c.withDefaults()
	if fields < 1 || maxDim < 1 {
		return nil, fmt.Errorf("evolve: %d fields, max dim %d", fields, maxDim)
	}
	ones := make([]int, fields)
	for f := range ones {
		ones[f] = 1
	}
	if cost(ones) > budget {
		return nil, fmt.Errorf("evolve: dimension 1 everywhere costs %d bytes, budget %d: %w", cost(ones), budget, ErrBudget)
	}
	rng := rand.New(rand.NewPCG(c.Seed, 0x65766f6c7665))
	seen := map[string]*Candidate{}
	res := &EvolveResult{}
	key := func(d []int) string {
		var b strings.Builder
		for _, x := range d {
			b.WriteString(strconv.Itoa(x))
			b.WriteByte(',')
		}
		return b.String()
	}
	score := func(d []int) (*Candidate, error) {
		k := key(d)
		if cand, ok := seen[k]; ok {
			return cand, nil
		}
		fit, err := fitness(d)
		if err != nil {
			return nil, fmt.Errorf("evolve: fitness of %v: %w", d, err)
		}
		cand := &Candidate{Dims: slices.Clone(d), Fitness: fit, Bytes: cost(d)}
		seen[k] = cand
		res.Evaluated++
		return cand, nil
	}
	// shrink lowers random genes until d fits.
	shrink := func(d []int) {
		for cost(d) > budget {
			f := rng.IntN(fields)
			if d[f] > 1 {
				d[f] = 1 + rng.IntN(d[f]-1)
			}
		}
	}
	var pop []*Candidate
	for u := maxDim; u >= 1; u-- {
		d := make([]int, fields)
		for f := range d {
			d[f] = u
		}
		if cost(d) <= budget {
			cand, err := score(d)
			if err != nil {
				return nil, err
			}
			pop = append(pop, cand)
			break
		}
	}
	for tries := 0; len(pop) < c.Population && tries < 50*c.Population; tries++ {
		d := make([]int, fields)
		for f := range d {
			d[f] = 1 + rng.IntN(maxDim)
		}
		shrink(d)
		if _, dup := seen[key(d)]; dup {
			continue
		}
		cand, err := score(d)
		if err != nil {
			return nil, err
		}
		pop = append(pop, cand)
	}
	byFitness := func(p []*Candidate) {
		sort.SliceStable(p, func(i, j int) bool { return p[i].Fitness > p[j].Fitness })
	}
	for range c.Generations {
		byFitness(pop)
		parents := pop[:min(c.Parents, len(pop))]
		res.History = append(res.History, parents[0].Fitness)
		next := slices.Clone(parents)
		breed := func(n int, child func() []int) error {
			for made, tries := 0, 0; made < n && tries < 20*n; tries++ {
				d := child()
				if cost(d) > budget {
					continue
				}
				if _, dup := seen[key(d)]; dup {
					continue
				}
				cand, err := score(d)
				if err != nil {
					return err
				}
				next = append(next, cand)
				made++
			}
			return nil
		}
		err := breed(c.Mutations, func() []int {
			d := slices.Clone(parents[rng.IntN(len(parents))].Dims)
			for f := range d {
				if rng.Float64() < c.MutateProb {
					d[f] = 1 + rng.IntN(maxDim)
				}
			}
			return d
		})
		if err != nil {
			return nil, err
		}
		err = breed(c.Crossovers, func() []int {
			a, b := parents[rng.IntN(len(parents))].Dims, parents[rng.IntN(len(parents))].Dims
			d := make([]int, fields)
			for f := range d {
				if rng.IntN(2) == 0 {
					d[f] = a[f]
				} else {
					d[f] = b[f]
				}
			}
			return d
		})
		if err != nil {
			return nil, err
		}
		pop = next
	}
	byFitness(pop)
	res.History = append(res.History, pop[0].Fitness)
	res.Best = *pop[0]
	res.Best.Dims = slices.Clone(pop[0].Dims)
	return res, nil
}
