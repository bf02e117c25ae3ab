package main

// Feature and prediction logging for training-serving skew checks: a
// sampled share of the scored instances, each as one JSON line with the
// features as the server received them (categorical values as strings,
// dense values raw) and the probability it returned, written by one
// goroutine behind a bounded queue (a full queue drops lines, counted,
// rather than slowing requests) up to a byte limit, where the file is
// either rotated (path.1 is the newest old file, up to path.<keep>) or, with
// keep 0, left full.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// predLine is one logged instance.
type predLine struct {
	Time     string              `json:"time"`
	Model    string              `json:"model"`
	ID       string              `json:"id"`
	Cat      map[string]string   `json:"categorical"`
	Dense    map[string]float32  `json:"dense,omitempty"`
	Bags     map[string][]string `json:"bags,omitempty"`
	Score    float32             `json:"score"`
	Instance int                 `json:"instance"`
}

// predLogger writes sampled prediction lines to a file.
type predLogger struct {
	path     string
	rate     float64
	maxBytes int64
	keep     int
	lines    chan predLine
	done     chan struct{}
	f        *os.File
	log      *slog.Logger
	written  prometheus.Counter
	dropped  prometheus.Counter
	rotated  prometheus.Counter
	once     sync.Once
}

// newPredLogger opens path for appending (created 0600) and starts its
// writer.
func newPredLogger(path string, rate float64, maxBytes int64, keep int, log *slog.Logger, reg prometheus.Registerer) (*predLogger, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("--log-predictions: %w", err)
	}
	p := &predLogger{path: path, rate: rate, maxBytes: maxBytes, keep: keep, lines: make(chan predLine, 4096), done: make(chan struct{}), f: f, log: log,
		written: prometheus.NewCounter(prometheus.CounterOpts{Name: "embtab_prediction_log_lines_total", Help: "Instances written to the prediction log."}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "embtab_prediction_log_dropped_total", Help: "Sampled instances not logged: the writer's queue was full or the log reached --log-predictions-max-bytes."}),
		rotated: prometheus.NewCounter(prometheus.CounterOpts{Name: "embtab_prediction_log_rotations_total", Help: "Times the prediction log reached --log-predictions-max-bytes and was rotated (--log-predictions-keep)."}),
	}
	for _, c := range []prometheus.Collector{p.written, p.dropped, p.rotated} {
		if err := reg.Register(c); err != nil {
			f.Close()
			return nil, err
		}
	}
	go p.run()
	return p, nil
}

// record samples b's instances with their scores.
func (p *predLogger) record(m *model, b *batch, scores []float32) {
	if p == nil {
		return
	}
	now := ""
	for i := range b.N {
		if rand.Float64() >= p.rate {
			continue
		}
		if now == "" {
			now = time.Now().UTC().Format(time.RFC3339Nano)
		}
		l := predLine{Time: now, Model: m.name, ID: m.id(), Score: scores[i], Instance: i, Cat: make(map[string]string, m.nf)}
		for f, name := range m.schema.cat {
			// a copy: request strings alias the request's body
			l.Cat[name] = strings.Clone(b.Cat[i*m.nf+f])
		}
		if nb := len(m.schema.bags); nb > 0 && b.Bags != nil {
			l.Bags = make(map[string][]string, nb)
			for k, name := range m.schema.bags {
				for _, v := range b.Bags[i*nb+k] {
					l.Bags[name] = append(l.Bags[name], strings.Clone(v))
				}
			}
		}
		if m.nd > 0 {
			l.Dense = make(map[string]float32, m.nd)
			for j, name := range m.schema.dense {
				l.Dense[name] = b.Dense[i*m.nd+j]
			}
		}
		select {
		case p.lines <- l:
		default:
			p.dropped.Inc()
		}
	}
}

func (p *predLogger) run() {
	defer close(p.done)
	cw := &countingWriter{w: p.f}
	if st, err := p.f.Stat(); err == nil {
		cw.n = st.Size()
	}
	w := bufio.NewWriterSize(cw, 64<<10)
	enc := json.NewEncoder(w)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	full := false
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				if err := w.Flush(); err != nil {
					p.log.Error("prediction log", "err", err)
				}
				return
			}
			if !full && p.keep > 0 && cw.n+int64(w.Buffered()) >= p.maxBytes {
				if err := p.rotate(w); err != nil {
					p.log.Error("prediction log: rotate: writing stops", "err", err)
					full = true
				} else {
					cw = &countingWriter{w: p.f}
					w.Reset(cw)
				}
			}
			if full || cw.n+int64(w.Buffered()) >= p.maxBytes {
				if !full {
					p.log.Warn("prediction log reached its size limit: no more lines", "limit", p.maxBytes)
					full = true
				}
				p.dropped.Inc()
				continue
			}
			if err := enc.Encode(l); err != nil {
				p.log.Error("prediction log", "err", err)
				p.dropped.Inc()
				continue
			}
			p.written.Inc()
		case <-tick.C:
			if err := w.Flush(); err != nil {
				p.log.Error("prediction log", "err", err)
			}
		}
	}
}

// rotate flushes w and closes the file, shifts path.1 .. path.<keep-1>
// up by one (dropping path.<keep>), renames the file to path.1 and opens a
// new one at path.
func (p *predLogger) rotate(w *bufio.Writer) error {
	if err := w.Flush(); err != nil {
		return err
	}
	if err := p.f.Sync(); err != nil {
		return err
	}
	if err := p.f.Close(); err != nil {
		return err
	}
	for i := p.keep - 1; i >= 1; i-- {
		old := fmt.Sprintf("%s.%d", p.path, i)
		if err := os.Rename(old, fmt.Sprintf("%s.%d", p.path, i+1)); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	if err := os.Rename(p.path, p.path+".1"); err != nil {
		return err
	}
	f, err := os.OpenFile(p.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	p.f = f
	p.rotated.Inc()
	return nil
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w interface{ Write([]byte) (int, error) }
	n int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

// close flushes and closes the log; no record may follow.
func (p *predLogger) close() error {
	if p == nil {
		return nil
	}
	var err error
	p.once.Do(func() {
		close(p.lines)
		<-p.done
		err = p.f.Close()
	})
	return err
}
