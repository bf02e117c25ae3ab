package main

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestScoreBatcher: concurrent requests through the micro-batcher get the
// scores they get alone (up to the float rounding of a bigger pass), and
// passes really merge requests.
func TestScoreBatcher(t *testing.T) {
	f := testFixture(t)
	_, plain, _ := newTestServer(t, testConfig(f.dir))
	cfg := testConfig(f.dir)
	cfg.BatchWait, cfg.BatchMax = 20*time.Millisecond, 64
	_, hs, reg := newTestServer(t, cfg)
	const workers, per = 8, 5
	want := make([][]float32, workers)
	for w := range workers {
		_, want[w] = scores(t, plain.URL, map[string]any{"instances": []any{f.instance(w), f.instance((w + 3) % workers)}})
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for range per {
				_, got := scores(t, hs.URL, map[string]any{"instances": []any{f.instance(w), f.instance((w + 3) % workers)}})
				if !closeAll(got, want[w], 1e-6) {
					errs <- fmt.Errorf("worker %d: batched %v, alone %v", w, got, want[w])
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	mf, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var count, sum float64
	for _, fam := range mf {
		if fam.GetName() == "embtab_score_batch_requests" {
			h := fam.GetMetric()[0].GetHistogram()
			count, sum = float64(h.GetSampleCount()), h.GetSampleSum()
		}
	}
	if count == 0 || sum <= count {
		t.Errorf("%v requests in %v passes: nothing merged", sum, count)
	}
	t.Logf("%v requests in %v dense passes", sum, count)
}
