package gemm

import (
	"runtime"
	"sync"
)

// Context runs the kernels on up to Threads goroutines (the caller's and
// Threads-1 workers it owns) and keeps their buffers between calls. It is
// not safe for concurrent use. Close stops the workers; an unreachable
// Context is closed by the garbage collector.
type Context struct {
	e *engine
}

// engine is the state of a Context, kept apart so that the workers, which
// reference it, do not keep the Context reachable.
type engine struct {
	threads int
	ws      []*workspace // one per thread
	tasks   []chan task  // to workers 1..threads-1
	wg      sync.WaitGroup
	closed  bool

	// The jobs in flight, reused so that calls do not allocate.
	gemm gemmJob
	pair pairJob
}

// runner is a job split over threads: run does part tid of nt.
type runner interface {
	run(tid, nt int)
}

type task struct {
	r       runner
	tid, nt int
}

// workspace is one thread's scratch.
type workspace struct {
	t      tile      // the micro-kernel call (on the heap: kernels are called through func values)
	apack  []float32 // a zero-padded A edge panel: MR×KC
	bpack  []float32 // packed B panels: KC×round(NC, NR)
	colsum []float32 // partial column sums (M split)
	vec    []float32 // a vector of the generic pair-dot gradient
	pairU  [32 * 32]float32
}

// NewContext returns a Context that uses up to threads goroutines (at
// least 1). Use runtime.GOMAXPROCS(0) for one per usable CPU.
func NewContext(threads int) *Context {
	threads = max(threads, 1)
	e := &engine{threads: threads}
	for range threads {
		e.ws = append(e.ws, &workspace{})
	}
	for range threads - 1 {
		ch := make(chan task)
		e.tasks = append(e.tasks, ch)
		go e.worker(ch)
	}
	c := &Context{e: e}
	runtime.AddCleanup(c, func(e *engine) { e.close() }, e)
	return c
}

// Threads returns the number of goroutines the Context uses.
func (c *Context) Threads() int { return c.e.threads }

// Close stops the worker goroutines. Later calls return ErrClosed.
func (c *Context) Close() { c.e.close() }

func (e *engine) close() {
	if e.closed {
		return
	}
	e.closed = true
	for _, ch := range e.tasks {
		close(ch)
	}
}

func (e *engine) worker(ch chan task) {
	for t := range ch {
		t.r.run(t.tid, t.nt)
		e.wg.Done()
	}
}

// parallel runs r on nt ≤ threads goroutines, part 0 on the caller's.
func (e *engine) parallel(r runner, nt int) {
	e.wg.Add(nt - 1)
	for t := 1; t < nt; t++ {
		e.tasks[t-1] <- task{r: r, tid: t, nt: nt}
	}
	r.run(0, nt)
	e.wg.Wait()
}

// grow returns s resliced to n elements, reallocated if too short.
func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}
