package main

// The scoring micro-batcher: concurrent /v1/score (and Open Inference
// Protocol) requests gather their own embeddings in their own goroutines,
// then hand their dense inputs to a batcher that merges the requests
// arriving within --batch-wait (up to --batch-max instances) into one
// dense-net pass and splits the probabilities back. One pass over many
// instances costs less than many small passes (the net's per-call work and
// small matrix products amortise); the wait bounds what a request pays for
// it. With --batch-wait 0 each request runs its own pass.

import (
	"context"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/embtab/embtab/densenet"
)

// scoreJob is one request's dense inputs and where its result goes.
type scoreJob struct {
	dense, emb []float32
	n          int
	out        []float32
	done       chan error // buffered: the batcher never blocks on a gone request
}

// batcher merges score jobs. Its workers (one per core) each take a job,
// collect more for up to wait, run the net once and answer every job.
type batcher struct {
	net    *densenet.Net
	nd, fd int // dense inputs and embedding floats per instance
	wait   time.Duration
	max    int
	jobs   chan *scoreJob
	stop   chan struct{}
	merged prometheus.Observer
}

func newBatcher(net *densenet.Net, nd, fd int, wait time.Duration, maxInstances int, merged prometheus.Observer) *batcher {
	b := &batcher{net: net, nd: nd, fd: fd, wait: wait, max: maxInstances,
		jobs: make(chan *scoreJob), stop: make(chan struct{}), merged: merged}
	for range runtime.GOMAXPROCS(0) {
		go b.run()
	}
	return b
}

// close stops the workers; no job may be submitted after it.
func (b *batcher) close() { close(b.stop) }

// predict scores n instances through the batcher.
func (b *batcher) predict(ctx context.Context, dense, emb []float32, n int) ([]float32, error) {
	j := &scoreJob{dense: dense, emb: emb, n: n, out: make([]float32, n), done: make(chan error, 1)}
	select {
	case b.jobs <- j:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case err := <-j.done:
		if err != nil {
			return nil, err
		}
		return j.out, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (b *batcher) run() {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var jobs []*scoreJob
	var dense, emb, out []float32
	for {
		select {
		case <-b.stop:
			return
		case j := <-b.jobs:
			jobs = append(jobs[:0], j)
		}
		n := jobs[0].n
		timer.Reset(b.wait)
	collect:
		for n < b.max {
			select {
			case j := <-b.jobs:
				jobs = append(jobs, j)
				n += j.n
			case <-timer.C:
				break collect
			}
		}
		timer.Stop() // since Go 1.23 a stopped timer delivers no stale tick
		b.merged.Observe(float64(len(jobs)))
		if len(jobs) == 1 {
			j := jobs[0]
			j.done <- b.net.Predict(j.dense, j.emb, j.n, j.out)
			continue
		}
		dense, emb, out = dense[:0], emb[:0], out[:0]
		for _, j := range jobs {
			dense = append(dense, j.dense[:j.n*b.nd]...)
			emb = append(emb, j.emb[:j.n*b.fd]...)
		}
		out = append(out, make([]float32, n)...)
		err := b.net.Predict(dense, emb, n, out)
		at := 0
		for _, j := range jobs {
			if err == nil {
				copy(j.out, out[at:at+j.n])
			}
			at += j.n
			j.done <- err
		}
	}
}
