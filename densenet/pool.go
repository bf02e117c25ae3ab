package densenet

import "sync"

// pool runs a function over index ranges on the caller's goroutine
// and threads-1 workers, for the element-wise loops of Net (the GEMMs
// and the interaction have their own threads in gemm.Context). Dispatching
// does not allocate as long as the function is a long-lived value (a
// method value stored once), not a closure built per call.
type pool struct {
	tasks []chan poolTask
	wg    sync.WaitGroup
}

type poolTask struct {
	fn     func(lo, hi int)
	lo, hi int
}

func newPool(threads int) *pool {
	p := &pool{}
	for range max(threads, 1) - 1 {
		ch := make(chan poolTask)
		p.tasks = append(p.tasks, ch)
		go p.worker(ch)
	}
	return p
}

func (p *pool) worker(ch chan poolTask) {
	for {
		t, ok := <-ch
		if !ok {
			return
		}
		t.fn(t.lo, t.hi)
		t = poolTask{} // do not keep fn's receiver reachable while idle
		p.wg.Done()
	}
}

// Run calls fn on a split of [0, n) into at most 1+len(workers) ranges of
// at least minChunk indices, and waits for them.
func (p *pool) Run(n, minChunk int, fn func(lo, hi int)) {
	parts := min(1+len(p.tasks), max(1, n/max(minChunk, 1)))
	chunk := (n + parts - 1) / parts
	p.wg.Add(parts - 1)
	for i := 1; i < parts; i++ {
		p.tasks[i-1] <- poolTask{fn: fn, lo: i * chunk, hi: min((i+1)*chunk, n)}
	}
	fn(0, min(chunk, n))
	p.wg.Wait()
}

// close stops the workers; run must not be called afterwards.
func (p *pool) close() {
	for _, ch := range p.tasks {
		close(ch)
	}
	p.tasks = nil
}
