// Command loadgen sends a bounded load of embed or score requests to an
// embtab server on this machine and reports throughput, latency
// percentiles and errors.
//
//	loadgen --url http://127.0.0.1:8080/v1/score --concurrency 8 --duration 10s [--rate 2000] [--json]
//
// The load stops after --requests requests or --duration, whichever comes
// first; requests still in flight at the end of --duration are cancelled
// and not counted. With --rate 0 (the default) every worker sends its next request
// as soon as the previous one returns (closed loop: the measured QPS is
// the server's capacity at that concurrency). With --rate R requests are
// scheduled at R per second and each latency is measured from its
// scheduled start, so a stalled server shows as latency rather than as
// fewer requests (no coordinated omission). The report then says whether
// the rate was met: a run that achieves less than 95% of --rate prints
// "target rate missed" (on stderr too with --json, whose rate_missed and
// rate_achieved say the same).
//
// Request bodies are --body-file, or generated: --bodies distinct bodies
// of --batch instances whose feature names come from the artifact in
// --model (default: Criteo's I1..I13, C1..C26), categorical values drawn
// from a Zipf law over --cardinality values per field.
//
// Only loopback targets are accepted: this is a benchmark tool, not a
// load test for other people's machines.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/pflag"

	"github.com/embtab/embtab/artifact"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

// Bounds of the load, so that a typo cannot run forever.
const (
	maxRequests    = 10_000_000
	maxDuration    = time.Hour
	maxConcurrency = 4096
)

type options struct {
	URL         string
	Accept      string // Accept header of every request ("" = none)
	Concurrency int
	Rate        float64
	Requests    int64
	Duration    time.Duration
	Timeout     time.Duration
	BodyFile    string
	Model       string
	Batch       int
	Bodies      int
	Cardinality int
	Seed        uint64
	JSON        bool
	// Redis, when set, sends each request's categorical values to this
	// Redis server as one MGET of "name:value" keys instead of posting the
	// body (RedisValueBytes bytes a key, stored first): embtab and Redis
	// measured by the same client.
	Redis           string
	RedisValueBytes int
	keys            [][]string // per body, with Redis
	// GRPC, when set, sends each generated body to this Open Inference
	// Protocol gRPC service (serve --grpc-addr) as one ModelInfer of model
	// GRPCModel, features as raw tensors, the score output asked for.
	GRPC      string
	GRPCModel string
	insts     [][]map[string]any // per body, with GRPC
	dense     []string
	cat       []string
}

// Report is the result of a run; --json prints it.
type Report struct {
	URL         string  `json:"url"`
	Concurrency int     `json:"concurrency"`
	TargetRate  float64 `json:"target_rate,omitempty"`
	Batch       int     `json:"batch"`
	Requests    int64   `json:"requests"`
	OK          int64   `json:"ok"`
	Errors      int64   `json:"errors"`
	// ErrorKinds counts errors by kind: "status_503", "transport",
	// "timeout".
	ErrorKinds map[string]int64 `json:"error_kinds,omitempty"`
	Seconds    float64          `json:"seconds"`
	// QPS is completed requests (ok or not) per second; InstancesPerS
	// counts the instances of the successful ones.
	QPS           float64 `json:"qps"`
	InstancesPerS float64 `json:"instances_per_s"`
	// Latencies of all completed requests, in milliseconds.
	MeanMs float64 `json:"mean_ms"`
	P50Ms  float64 `json:"p50_ms"`
	P90Ms  float64 `json:"p90_ms"`
	P99Ms  float64 `json:"p99_ms"`
	P999Ms float64 `json:"p999_ms"`
	MaxMs  float64 `json:"max_ms"`
	// RateAchieved is QPS / TargetRate (with a --rate only); RateMissed is
	// true when it is below rateTolerance (the server, or this client,
	// could not keep up: the latencies are then those of a saturated
	// server). rate_missed is always in the JSON, false without a --rate.
	RateAchieved float64 `json:"rate_achieved,omitempty"`
	RateMissed   bool    `json:"rate_missed"`
}

// rateTolerance is the share of --rate a run must achieve not to have
// missed it.
const rateTolerance = 0.95

// markRate sets rep.RateAchieved and rep.RateMissed.
func markRate(rep *Report) {
	if rep.TargetRate <= 0 {
		rep.RateAchieved, rep.RateMissed = 0, false
		return
	}
	rep.RateAchieved = rep.QPS / rep.TargetRate
	rep.RateMissed = rep.QPS < rateTolerance*rep.TargetRate
}

// rateLine is the report's line about --rate: missed or met ("" without
// a --rate).
func rateLine(rep *Report) string {
	switch {
	case rep.TargetRate <= 0:
		return ""
	case rep.RateMissed:
		return fmt.Sprintf("target rate missed: %.0f requests/s achieved of --rate %g (%.0f%%, below %.0f%%): "+
			"the server or this client could not keep up, so the latencies are those of an overloaded server",
			rep.QPS, rep.TargetRate, 100*rep.RateAchieved, 100*rateTolerance)
	default:
		return fmt.Sprintf("target rate met: %.0f requests/s achieved of --rate %g (%.0f%%)",
			rep.QPS, rep.TargetRate, 100*rep.RateAchieved)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("loadgen", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.URL, "url", "http://127.0.0.1:8080/v1/score", "target endpoint (loopback only): /v1/score or /v1/embed")
	fs.IntVar(&o.Concurrency, "concurrency", 8, "requests in flight")
	fs.Float64Var(&o.Rate, "rate", 0, "target requests per second over all workers (0: as fast as the server answers)")
	fs.Int64Var(&o.Requests, "requests", 100_000, fmt.Sprintf("stop after this many requests (at most %d)", maxRequests))
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, fmt.Sprintf("stop after this long (at most %v)", maxDuration))
	fs.DurationVar(&o.Timeout, "timeout", 5*time.Second, "per-request timeout")
	fs.StringVar(&o.BodyFile, "body-file", "", "send this file as every request's body (default: generated bodies)")
	fs.StringVar(&o.Model, "model", "", "artifact directory whose feature names the generated bodies use (default: Criteo's)")
	fs.IntVar(&o.Batch, "batch", 1, "instances per generated body")
	fs.IntVar(&o.Bodies, "bodies", 256, "distinct generated bodies, sent round-robin")
	fs.IntVar(&o.Cardinality, "cardinality", 100_000, "distinct values per categorical field in generated bodies")
	fs.Uint64Var(&o.Seed, "seed", 1, "seed of the generated bodies")
	fs.BoolVar(&o.JSON, "json", false, "print the report as one JSON object")
	fs.StringVar(&o.Redis, "redis", "", "instead of HTTP, read each generated body's categorical values from this Redis (loopback host:port) as one MGET of NAME:VALUE keys, after storing them (the same client measuring Redis and embtab's /v1/embed)")
	fs.IntVar(&o.RedisValueBytes, "redis-value-bytes", 0, "with --redis: bytes stored per key (default: a --model's fp32 row, dim*4, else 64)")
	fs.StringVar(&o.GRPC, "grpc", "", "instead of HTTP, send each generated body to this Open Inference Protocol gRPC address (serve --grpc-addr; loopback host:port) as one ModelInfer with raw tensors")
	fs.StringVar(&o.GRPCModel, "grpc-model", "", "with --grpc: the model name (serve's --model NAME=DIR)")
	fs.StringVar(&o.Accept, "accept", "", "Accept header to send, e.g. application/x-embtab-f32 for /v1/embed's binary reply")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: loadgen [flags]\n\nSends a bounded load to an embtab server on loopback and reports QPS and latency percentiles.\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q (flags start with --)", fs.Args())
	}
	if err := o.validate(); err != nil {
		return err
	}
	bodies, err := o.bodies()
	if err != nil {
		return err
	}
	do, cleanup, err := o.sender(ctx, bodies)
	if err != nil {
		return err
	}
	defer cleanup()
	rep, err := load(ctx, &o, bodies, do)
	if err != nil {
		return err
	}
	if o.JSON {
		if rep.RateMissed {
			fmt.Fprintln(stderr, "loadgen:", rateLine(rep)) // the JSON has rate_missed; say it where a person looks too
		}
		return json.NewEncoder(stdout).Encode(rep)
	}
	fmt.Fprintf(stdout, "%s: %d requests (%d ok, %d errors) in %.2fs, concurrency %d, batch %d\n",
		rep.URL, rep.Requests, rep.OK, rep.Errors, rep.Seconds, rep.Concurrency, rep.Batch)
	fmt.Fprintf(stdout, "throughput: %.0f requests/s, %.0f instances/s\n", rep.QPS, rep.InstancesPerS)
	fmt.Fprintf(stdout, "latency ms: mean %.3f, p50 %.3f, p90 %.3f, p99 %.3f, p999 %.3f, max %.3f\n",
		rep.MeanMs, rep.P50Ms, rep.P90Ms, rep.P99Ms, rep.P999Ms, rep.MaxMs)
	if len(rep.ErrorKinds) > 0 {
		fmt.Fprintf(stdout, "errors: %v\n", rep.ErrorKinds)
	}
	if line := rateLine(rep); line != "" {
		fmt.Fprintln(stdout, line)
	}
	return nil
}

func (o *options) validate() error {
	u, err := url.Parse(o.URL)
	if err != nil {
		return fmt.Errorf("--url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("--url %q: want http:// or https://", o.URL)
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("--url %q: only loopback targets (127.0.0.1, ::1, localhost) are allowed", o.URL)
	}
	if o.GRPC != "" {
		host, _, err := net.SplitHostPort(o.GRPC)
		if ip := net.ParseIP(host); err != nil || (host != "localhost" && (ip == nil || !ip.IsLoopback())) {
			return fmt.Errorf("--grpc %q: want a loopback host:port", o.GRPC)
		}
		if o.GRPCModel == "" || o.BodyFile != "" || o.Redis != "" {
			return fmt.Errorf("--grpc needs --grpc-model and generated bodies (not --body-file, not --redis)")
		}
	}
	if o.Redis != "" {
		host, _, err := net.SplitHostPort(o.Redis)
		if ip := net.ParseIP(host); err != nil || (host != "localhost" && (ip == nil || !ip.IsLoopback())) {
			return fmt.Errorf("--redis %q: want a loopback host:port", o.Redis)
		}
		if o.BodyFile != "" {
			return fmt.Errorf("--redis reads generated bodies' keys: not with --body-file")
		}
	}
	switch {
	case o.RedisValueBytes < 0 || o.RedisValueBytes > 1<<20:
		return fmt.Errorf("--redis-value-bytes %d: want 0 to 1 MiB", o.RedisValueBytes)
	case o.Concurrency < 1 || o.Concurrency > maxConcurrency:
		return fmt.Errorf("--concurrency %d: want 1 to %d", o.Concurrency, maxConcurrency)
	case o.Requests < 1 || o.Requests > maxRequests:
		return fmt.Errorf("--requests %d: want 1 to %d", o.Requests, maxRequests)
	case o.Duration <= 0 || o.Duration > maxDuration:
		return fmt.Errorf("--duration %v: want more than 0 and at most %v", o.Duration, maxDuration)
	case o.Rate < 0 || math.IsInf(o.Rate, 0) || math.IsNaN(o.Rate):
		return fmt.Errorf("--rate %v must be >= 0", o.Rate)
	case o.Timeout <= 0:
		return fmt.Errorf("--timeout must be positive")
	case o.Batch < 1 || o.Bodies < 1 || o.Cardinality < 1:
		return fmt.Errorf("--batch, --bodies and --cardinality must be positive")
	}
	return nil
}

// bodies returns the request bodies to send round-robin.
func (o *options) bodies() ([][]byte, error) {
	if o.BodyFile != "" {
		b, err := os.ReadFile(o.BodyFile)
		if err != nil {
			return nil, fmt.Errorf("--body-file: %w", err)
		}
		return [][]byte{b}, nil
	}
	dense, cat := criteoNames()
	if o.Model != "" {
		raw, err := os.ReadFile(filepath.Join(o.Model, artifact.ManifestFile))
		if err != nil {
			return nil, fmt.Errorf("--model: %w", err)
		}
		var m artifact.Manifest
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("--model: %s: %w", artifact.ManifestFile, err)
		}
		dense, cat = m.Dense, m.Fields
		if o.RedisValueBytes == 0 {
			o.RedisValueBytes = 4 * m.Table.Dim
		}
	}
	if o.RedisValueBytes == 0 {
		o.RedisValueBytes = 64
	}
	o.keys = make([][]string, o.Bodies)
	o.insts = make([][]map[string]any, o.Bodies)
	o.dense, o.cat = dense, cat
	rng := rand.New(rand.NewPCG(o.Seed, 0x10ad))
	zipf := rand.NewZipf(rng, 1.1, 1, uint64(o.Cardinality-1))
	out := make([][]byte, o.Bodies)
	for i := range out {
		inst := make([]map[string]any, o.Batch)
		for j := range inst {
			m := make(map[string]any, len(dense)+len(cat))
			for _, name := range dense {
				if rng.IntN(10) > 0 { // 10% missing, as in Criteo
					m[name] = int(rng.ExpFloat64() * 20)
				}
			}
			for f, name := range cat {
				v := fmt.Sprintf("%08x", uint32(zipf.Uint64()*2654435761+uint64(f)))
				m[name] = v
				if o.Redis != "" {
					o.keys[i] = append(o.keys[i], name+":"+v)
				}
			}
			inst[j] = m
		}
		if o.GRPC != "" {
			o.insts[i] = inst
		}
		b, err := json.Marshal(map[string]any{"instances": inst})
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

func criteoNames() (dense, cat []string) {
	for i := 1; i <= 13; i++ {
		dense = append(dense, fmt.Sprintf("I%d", i))
	}
	for i := 1; i <= 26; i++ {
		cat = append(cat, fmt.Sprintf("C%d", i))
	}
	return dense, cat
}

// worker results, merged at the end.
type result struct {
	lat    []time.Duration
	ok     int64
	errors map[string]int64
	last   time.Time
}

// load runs the workers and builds the report.
func load(ctx context.Context, o *options, bodies [][]byte, do func(ctx context.Context, n int64) string) (*Report, error) {
	ctx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	var ticket atomic.Int64
	start := time.Now()
	var interval time.Duration
	if o.Rate > 0 {
		interval = time.Duration(float64(time.Second) / o.Rate)
	}
	results := make([]result, o.Concurrency)
	var wg sync.WaitGroup
	for w := range o.Concurrency {
		wg.Go(func() {
			r := &results[w]
			r.errors = map[string]int64{}
			for {
				n := ticket.Add(1) - 1
				if n >= o.Requests || ctx.Err() != nil {
					return
				}
				sched := time.Now()
				if interval > 0 {
					sched = start.Add(time.Duration(n) * interval)
					if d := time.Until(sched); d > 0 {
						select {
						case <-time.After(d):
						case <-ctx.Done():
							return
						}
					}
				}
				kind := do(ctx, n)
				if kind != "" && ctx.Err() != nil {
					return // cut off by the end of the run: not a server error
				}
				now := time.Now()
				r.lat = append(r.lat, now.Sub(sched))
				r.last = now
				if kind == "" {
					r.ok++
				} else {
					r.errors[kind]++
				}
			}
		})
	}
	wg.Wait()
	target := o.URL
	switch {
	case o.Redis != "":
		target = "redis://" + o.Redis + " MGET"
	case o.GRPC != "":
		target = "grpc://" + o.GRPC + " ModelInfer " + o.GRPCModel
	}
	rep := &Report{URL: target, Concurrency: o.Concurrency, TargetRate: o.Rate, Batch: o.Batch, ErrorKinds: map[string]int64{}}
	var lat []time.Duration
	end := start
	for _, r := range results {
		lat = append(lat, r.lat...)
		rep.OK += r.ok
		for k, v := range r.errors {
			rep.ErrorKinds[k] += v
			rep.Errors += v
		}
		if r.last.After(end) {
			end = r.last
		}
	}
	if len(rep.ErrorKinds) == 0 {
		rep.ErrorKinds = nil
	}
	rep.Requests = int64(len(lat))
	rep.Seconds = end.Sub(start).Seconds()
	if rep.Seconds > 0 {
		rep.QPS = float64(rep.Requests) / rep.Seconds
		rep.InstancesPerS = float64(rep.OK) * float64(o.Batch) / rep.Seconds
	}
	if o.BodyFile != "" {
		rep.Batch, rep.InstancesPerS = 0, 0 // unknown
	}
	summarize(rep, lat)
	markRate(rep)
	return rep, nil
}

// sender returns the request function of the run: an HTTP POST of body
// n, or with --redis an MGET of body n's keys (stored first).
func (o *options) sender(ctx context.Context, bodies [][]byte) (func(context.Context, int64) string, func(), error) {
	if o.GRPC != "" {
		return o.grpcSender()
	}
	if o.Redis == "" {
		tr := &http.Transport{
			MaxIdleConns: o.Concurrency, MaxIdleConnsPerHost: o.Concurrency, MaxConnsPerHost: o.Concurrency,
			IdleConnTimeout: 30 * time.Second, DisableCompression: true,
		}
		client := &http.Client{Transport: tr, Timeout: o.Timeout}
		return func(ctx context.Context, n int64) string {
			return send(ctx, client, o.URL, o.Accept, bodies[n%int64(len(bodies))])
		}, tr.CloseIdleConnections, nil
	}
	rc := redis.NewClient(&redis.Options{Addr: o.Redis, PoolSize: o.Concurrency, MinIdleConns: o.Concurrency,
		ReadTimeout: o.Timeout, WriteTimeout: o.Timeout})
	// store every key once, a pipeline of MSETs
	val := make([]byte, o.RedisValueBytes)
	for i := range val {
		val[i] = byte(i * 31)
	}
	seen := map[string]bool{}
	var pairs []any
	flush := func() error {
		if len(pairs) == 0 {
			return nil
		}
		err := rc.MSet(ctx, pairs...).Err()
		pairs = pairs[:0]
		return err
	}
	for _, ks := range o.keys {
		for _, k := range ks {
			if !seen[k] {
				seen[k] = true
				pairs = append(pairs, k, val)
				if len(pairs) >= 2000 {
					if err := flush(); err != nil {
						rc.Close()
						return nil, nil, fmt.Errorf("--redis %s: storing the keys: %w", o.Redis, err)
					}
				}
			}
		}
	}
	if err := flush(); err != nil {
		rc.Close()
		return nil, nil, fmt.Errorf("--redis %s: storing the keys: %w", o.Redis, err)
	}
	return func(ctx context.Context, n int64) string {
		vals, err := rc.MGet(ctx, o.keys[n%int64(len(o.keys))]...).Result()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return "timeout"
			}
			return "redis"
		}
		for _, v := range vals {
			if v == nil {
				return "redis_missing"
			}
		}
		return ""
	}, func() { rc.Close() }, nil
}

// send posts body and returns "" on a 200 answer, else the error kind.
func send(ctx context.Context, c *http.Client, u, accept string, body []byte) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return "transport"
	}
	req.Header.Set("Content-Type", "application/json")
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := c.Do(req)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return "timeout"
		}
		return "transport"
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return "transport"
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Sprintf("status_%d", resp.StatusCode)
	}
	return ""
}

// summarize fills the latency fields of rep from lat.
func summarize(rep *Report, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	rep.MeanMs = ms(sum / time.Duration(len(lat)))
	rep.P50Ms = ms(quantile(lat, 0.50))
	rep.P90Ms = ms(quantile(lat, 0.90))
	rep.P99Ms = ms(quantile(lat, 0.99))
	rep.P999Ms = ms(quantile(lat, 0.999))
	rep.MaxMs = ms(lat[len(lat)-1])
}

// quantile returns the q-quantile of sorted values (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}
