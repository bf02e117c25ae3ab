// Command serve serves a model artifact over HTTP: feature embeddings and
// click probabilities from raw feature values (CTR models) or top-k items
// for a user (two-tower retrieval models, retrieve.go), with Prometheus
// metrics and hot reload.
//
//	serve --model runs/a/model [--addr 127.0.0.1:8080] [--store mmap|badger|redis]
//
// Endpoints (JSON):
//
//	POST /v1/embed          {"features": {...}} or {"instances": [{...}]},
//	                        optional "fields": [...], "pooling": none|sum|mean
//	POST /v1/score          same instances -> {"scores": [p, ...]}
//	POST /v1/retrieve       two-tower models: {"user_id": ID} or {"features":
//	                        {...all user fields...}}, optional "k", "ef", "filter":
//	                        {"field": [values]} ("genres" matches any one genre),
//	                        "exclude": [item ids], "exclude_seen" (user_id only,
//	                        default true: drop the user's training items)
//	                        -> {"items": [{"id", "score"}]} (retrieve.go)
//	GET  /v1/model          the served artifact's manifest
//	GET  /healthz, /readyz  liveness, readiness
//	GET  /metrics           Prometheus metrics
//	POST /v1/admin/reload   {"model": DIR} (optional): load and swap a model
//	PUT  /v1/admin/rows     {"rows": [{"set", "row", "values"}]}: online row
//	                        updates (badger, redis stores; 409 for two-tower
//	                        models, whose stored vectors and index would
//	                        no longer match the rows)
//
// Features are given by name, raw as in the training data: categorical
// values as strings (numbers are taken as their JSON text, null or absent
// as missing, like an empty field in training), dense values as numbers
// (null or absent: missing, 0). Unseen values hash like any other value
// (or take the OOV row of a full table). Names the model does not know
// are rejected unless --ignore-unknown-fields.
//
// The server binds to loopback unless --allow-remote (without an admin
// token it warns). Admin endpoints need the bearer token of
// --admin-token-file (or $EMBTAB_ADMIN_TOKEN) and a JSON body; without a
// token they are off, unless --admin-insecure-loopback trusts loopback
// clients (refused with --allow-remote). A token file others may read is
// refused unless --admin-token-file-insecure. A reload that changes the
// model's kind or feature names is refused unless its body says
// "force": true; it is bounded by --reload-timeout.
//
// Memory: embed and score bodies are decoded as a stream and stop at the
// first instance over --max-batch; at most --max-in-flight such requests
// are worked on at once and --max-queue wait (more get 429), so the
// requests in flight hold about --max-in-flight x --max-body of input. SIGTERM or SIGINT drain the requests in
// flight and stop; SIGHUP reloads the model's directory, as
// /v1/admin/reload does.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/pflag"
	"google.golang.org/grpc"

	"github.com/embtab/embtab/artifact"
	"github.com/embtab/embtab/bytesize"
	"github.com/embtab/embtab/lookup"
	_ "github.com/embtab/embtab/lookup/badgerstore"
	_ "github.com/embtab/embtab/lookup/mmapstore"
	_ "github.com/embtab/embtab/lookup/redisstore"
	_ "github.com/embtab/embtab/methods" // registers every table method
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "serve:", err)
		os.Exit(1)
	}
}

// config is the server's configuration, bound to flags.
type config struct {
	Model string
	// Models are the named models to serve (--model, repeated); without
	// them, the one model of Model, named ModelName (tests).
	Models []modelSpec
	// ModelName is the name of a model given without one: in the Open
	// Inference Protocol (/v2/models/{name}) and ?model= of /v1.
	ModelName string
	// GRPCAddr is the listen address of the protocol's gRPC service ("":
	// off).
	GRPCAddr string
	// BatchWait is how long the scoring micro-batcher waits for more
	// requests to merge into one dense pass (0: off); BatchMax the most
	// instances of one merged pass.
	BatchWait time.Duration
	BatchMax  int
	// LogPredictions is the prediction log's file ("": off), with the
	// share of instances logged and the file's size limit.
	LogPredictions         string
	LogPredictionsRate     float64
	LogPredictionsMaxBytes int64
	LogPredictionsKeep     int
	Addr                   string
	DebugAddr              string
	AllowRemote            bool
	Store                  string
	StorePath              string
	HugePages              bool
	StorePrefix            string
	RedisAddrs             []string
	MaxBodyBytes           int64
	MaxBatch               int
	MaxFields              int
	MaxBagValues           int
	MaxK                   int
	MaxInFlight            int
	MaxQueue               int
	RequestTimeout         time.Duration
	ShutdownTimeout        time.Duration
	ReloadTimeout          time.Duration
	AdminToken             string
	// AdminInsecureLoopback lets loopback clients use the admin
	// endpoints without a token.
	AdminInsecureLoopback bool
	// InsecureTokenFile accepts a token file others may read.
	InsecureTokenFile   bool
	IgnoreUnknownFields bool
	SkipChecksums       bool
}

// maxBatchLimit bounds --max-batch: the dense net compiles a graph per
// power-of-two batch size and caches 16 sets of input buffers.
const maxBatchLimit = 1 << 15

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	modelFlags := fs.StringArray("model", nil, "artifact directory to serve, or a training run's directory (train --out DIR writes DIR/model), as DIR or NAME=DIR; repeat it to serve several models (the first is the default of requests without ?model=NAME); required")
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:8080", "listen address")
	fs.StringVar(&c.ModelName, "model-name", "", "the name of a single --model DIR given without one: ?model=NAME in /v1 requests, /v2/models/NAME in the Open Inference Protocol (default: the directory's name, its parent's for a run's DIR/model)")
	fs.StringVar(&c.GRPCAddr, "grpc-addr", "", "listen address of the Open Inference Protocol's gRPC service (GRPCInferenceService, e.g. 127.0.0.1:8001; default off)")
	fs.BoolVar(&c.AllowRemote, "allow-remote", false, "allow a non-loopback --addr")
	fs.StringVar(&c.Store, "store", "mmap", "row store: "+strings.Join(lookup.Stores(), ", "))
	fs.StringVar(&c.StorePath, "store-path", "", "badger: parent directory of the per-artifact databases")
	fs.BoolVar(&c.HugePages, "huge-pages", false, "mmap: copy the rows at load into memory advised for transparent huge pages (fewer TLB misses on large tables; costs the rows' bytes of private memory, see package mmapstore)")
	fs.StringVar(&c.StorePrefix, "store-prefix", "", "redis: key prefix (default embtab)")
	fs.StringSliceVar(&c.RedisAddrs, "redis-addrs", nil, "redis: cluster seed addresses, host:port,...")
	maxBody := fs.String("max-body", "4MiB", "largest request body")
	fs.IntVar(&c.MaxBatch, "max-batch", 1024, "most instances per request (and rows per update)")
	fs.DurationVar(&c.BatchWait, "batch-wait", 0, "scoring micro-batcher: how long a request waits for others to share its dense-net pass (e.g. 200us; 0 disables: each request runs its own pass)")
	fs.IntVar(&c.BatchMax, "batch-max", 1024, "scoring micro-batcher: most instances of one merged dense-net pass (a pass closes early when it has them)")
	fs.StringVar(&c.LogPredictions, "log-predictions", "", "append a sampled share of the scored instances (features as received and the score returned, one JSON line each) to this file, for training-serving skew checks (default off)")
	fs.Float64Var(&c.LogPredictionsRate, "log-predictions-rate", 0.01, "share of scored instances --log-predictions writes (0 to 1)")
	logMax := fs.String("log-predictions-max-bytes", "1GiB", "size at which --log-predictions rotates (with --log-predictions-keep) or stops writing (lines then count as dropped)")
	fs.IntVar(&c.LogPredictionsKeep, "log-predictions-keep", 0, "old prediction logs kept when the log reaches --log-predictions-max-bytes: the file becomes FILE.1 (older ones FILE.2, ...) and a new one starts (0: no rotation, writing stops at the limit)")
	fs.IntVar(&c.MaxFields, "max-fields", 1024, "most features per instance")
	fs.IntVar(&c.MaxBagValues, "max-bag-values", 256, "most values of one bag feature (a JSON array: a movie's genres, a user's history) per instance")
	fs.IntVar(&c.MaxK, "max-k", 1000, "most items one /v1/retrieve request may ask for (two-tower models)")
	gcPercent := fs.Int("gc-percent", 400, "Go GC target (GOGC): heap growth in percent between collections; the service allocates per request and a higher target collects less often, halving p99 at 10k req/s (BENCHMARKS.md) for a few tens of MiB more RSS; a GOGC environment variable wins unless this flag is given; -1 disables the GC")
	fs.IntVar(&c.MaxInFlight, "max-in-flight", 16, "most embed, score, retrieve and row-update requests worked on at once (each holds at most --max-body of JSON and --max-batch instances)")
	fs.IntVar(&c.MaxQueue, "max-queue", 256, "most requests waiting for one of the --max-in-flight slots (up to their --request-timeout); more get 429")
	fs.DurationVar(&c.RequestTimeout, "request-timeout", 2*time.Second, "time limit of one request")
	fs.DurationVar(&c.ReloadTimeout, "reload-timeout", 5*time.Minute, "time limit of a reload (admin or SIGHUP), loading and checking the new artifact")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 15*time.Second, "time to drain requests on SIGTERM")
	tokenFile := fs.String("admin-token-file", "", "file holding the bearer token of the admin endpoints (or $EMBTAB_ADMIN_TOKEN); without a token the admin endpoints are off; the file must not be readable by others")
	fs.BoolVar(&c.InsecureTokenFile, "admin-token-file-insecure", false, "accept an --admin-token-file that others may read or write")
	fs.BoolVar(&c.AdminInsecureLoopback, "admin-insecure-loopback", false, "without an admin token, let loopback clients use the admin endpoints (unsafe behind a reverse proxy on the same host; not with --allow-remote)")
	fs.BoolVar(&c.IgnoreUnknownFields, "ignore-unknown-fields", false, "ignore feature names the model does not have instead of rejecting the request")
	fs.BoolVar(&c.SkipChecksums, "skip-checksums", false, "do not checksum the artifact's files when loading (faster start of big artifacts)")
	fs.StringVar(&c.DebugAddr, "debug-addr", "", "if set, serve Go's net/http/pprof profiles on this loopback address (e.g. 127.0.0.1:6060)")
	logFormat := fs.String("log-format", "json", "log format: json or text")
	logLevel := fs.String("log-level", "info", "log level: debug (one line per request), info, warn, error")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: serve --model DIR [flags]\n\nServes embeddings and scores of a model artifact over HTTP.\n\nflags:")
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
	if os.Getenv("GOGC") == "" || fs.Changed("gc-percent") {
		debug.SetGCPercent(*gcPercent)
	}
	var err error
	if c.MaxBodyBytes, err = bytesize.Parse(*maxBody); err != nil {
		return fmt.Errorf("--max-body: %w", err)
	}
	if c.LogPredictionsMaxBytes, err = bytesize.Parse(*logMax); err != nil {
		return fmt.Errorf("--log-predictions-max-bytes: %w", err)
	}
	for _, v := range *modelFlags {
		sp := parseModelSpec(v)
		if c.ModelName != "" && len(*modelFlags) == 1 && !strings.Contains(v, "=") {
			sp.Name = c.ModelName
		}
		sp.Dir = modelDir(sp.Dir)
		c.Models = append(c.Models, sp)
	}
	if len(c.Models) > 0 {
		c.Model, c.ModelName = c.Models[0].Dir, c.Models[0].Name
	}
	if err := c.validate(); err != nil {
		return err
	}
	if c.AdminToken, err = adminToken(*tokenFile, c.InsecureTokenFile); err != nil {
		return err
	}
	log, err := newLogger(stderr, *logFormat, *logLevel)
	if err != nil {
		return err
	}
	switch {
	case c.AdminToken == "" && c.AllowRemote:
		log.Warn("--allow-remote without an admin token: the API is open to the network and the admin endpoints (reload, row updates) are off; set --admin-token-file to use them")
	case c.AdminToken == "" && !c.AdminInsecureLoopback:
		log.Info("no admin token: the admin endpoints are off (set --admin-token-file, or --admin-insecure-loopback)")
	case c.AdminToken == "" && c.AdminInsecureLoopback:
		log.Warn("--admin-insecure-loopback: any loopback client, a reverse proxy on this host included, may reload models and write rows")
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return serve(ctx, &c, log, reg, stdout)
}

// modelDir returns dir, or dir/model when dir is a training run's
// directory (train --out DIR writes the artifact to DIR/model) rather
// than an artifact.
// defaultModelName names a model after its directory: runs/a and
// runs/a/model are both "a".
func defaultModelName(dir string) string {
	dir = filepath.Clean(dir)
	name := filepath.Base(dir)
	if name == "model" {
		if p := filepath.Base(filepath.Dir(dir)); p != "." && p != string(filepath.Separator) {
			name = p
		}
	}
	return name
}

func modelDir(dir string) string {
	if dir == "" {
		return dir
	}
	if _, err := os.Stat(filepath.Join(dir, artifact.ManifestFile)); err == nil {
		return dir
	}
	if _, err := os.Stat(filepath.Join(dir, "model", artifact.ManifestFile)); err == nil {
		return filepath.Join(dir, "model")
	}
	return dir
}

func (c *config) validate() error {
	switch {
	case len(c.Models) == 0:
		return errors.New("--model is required")
	case c.MaxBatch < 1 || c.MaxBatch > maxBatchLimit:
		return fmt.Errorf("--max-batch %d: want 1 to %d", c.MaxBatch, maxBatchLimit)
	case c.BatchWait < 0 || c.BatchWait > time.Second:
		return fmt.Errorf("--batch-wait %v: want 0 to 1s", c.BatchWait)
	case c.LogPredictions != "" && !(c.LogPredictionsRate > 0 && c.LogPredictionsRate <= 1):
		return fmt.Errorf("--log-predictions-rate %v: want a share in (0, 1]", c.LogPredictionsRate)
	case c.LogPredictionsKeep < 0 || c.LogPredictionsKeep > 1000:
		return fmt.Errorf("--log-predictions-keep %d: want 0 to 1000", c.LogPredictionsKeep)
	case c.BatchMax < 1:
		return fmt.Errorf("--batch-max %d must be positive", c.BatchMax)
	case c.MaxFields < 1:
		return fmt.Errorf("--max-fields %d must be positive", c.MaxFields)
	case c.MaxBagValues < 1:
		return fmt.Errorf("--max-bag-values %d must be positive", c.MaxBagValues)
	case c.MaxK < 1 || c.MaxK > maxRetrieveK:
		return fmt.Errorf("--max-k %d: want 1 to %d", c.MaxK, maxRetrieveK)
	case c.MaxBodyBytes < 1:
		return fmt.Errorf("--max-body must be positive")
	case c.MaxInFlight < 1:
		return fmt.Errorf("--max-in-flight %d must be positive", c.MaxInFlight)
	case c.MaxQueue < 0:
		return fmt.Errorf("--max-queue %d must not be negative", c.MaxQueue)
	case c.RequestTimeout <= 0 || c.ShutdownTimeout <= 0 || c.ReloadTimeout <= 0:
		return fmt.Errorf("--request-timeout, --shutdown-timeout and --reload-timeout must be positive")
	case c.AllowRemote && c.AdminInsecureLoopback:
		return errors.New("--admin-insecure-loopback with --allow-remote: a remote server's admin endpoints need a token (--admin-token-file)")
	}
	seen := map[string]bool{}
	for _, sp := range c.Models {
		if !validModelName(sp.Name) {
			return fmt.Errorf("--model %s=%s: the name must be 1 to 128 characters without '/', '?', '#', '%%', '=', '\\' or spaces (give one with NAME=DIR or --model-name)", sp.Name, sp.Dir)
		}
		if seen[sp.Name] {
			return fmt.Errorf("--model: the name %q is given twice", sp.Name)
		}
		seen[sp.Name] = true
	}
	for _, a := range []struct{ flag, addr string }{{"addr", c.Addr}, {"grpc-addr", c.GRPCAddr}} {
		if a.addr == "" && a.flag == "grpc-addr" {
			continue
		}
		host, _, err := net.SplitHostPort(a.addr)
		if err != nil {
			return fmt.Errorf("--%s %q: %w", a.flag, a.addr, err)
		}
		if !c.AllowRemote && !isLoopback(host) {
			return fmt.Errorf("--%s %q is not a loopback address: pass --allow-remote to listen on it", a.flag, a.addr)
		}
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// adminToken reads the admin token from path, else from the environment.
// A file that others (not the owner's group) may read or write is
// refused unless insecure.
func adminToken(path string, insecure bool) (string, error) {
	if path == "" {
		return strings.TrimSpace(os.Getenv("EMBTAB_ADMIN_TOKEN")), nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("--admin-token-file: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o006 != 0 && !insecure {
		return "", fmt.Errorf("--admin-token-file %s has mode %v: others may read or write it; chmod o-rw it, or pass --admin-token-file-insecure", path, perm)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--admin-token-file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("--admin-token-file %s is empty", path)
	}
	return tok, nil
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want json or text", format)
}

// serve loads the model, listens and serves until ctx is done, then stops
// in reverse order (stop accepting and drain requests, release the model),
// logging each step's duration. It prints "listening on ADDR" to stdout
// once it accepts connections (and a line "grpc listening on ADDR" with
// --grpc-addr).
func serve(ctx context.Context, c *config, log *slog.Logger, reg *prometheus.Registry, stdout io.Writer) error {
	start := time.Now()
	srv, err := newServer(ctx, c, log, reg, reg)
	if err != nil {
		return err
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return err
	}
	hs := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       c.RequestTimeout + 10*time.Second,
		WriteTimeout:      c.RequestTimeout + 10*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 2)
	go func() { errc <- hs.Serve(ln) }()
	var gs *grpc.Server
	grpcLine := ""
	if c.GRPCAddr != "" {
		gln, err := net.Listen("tcp", c.GRPCAddr)
		if err != nil {
			hs.Close()
			return fmt.Errorf("--grpc-addr: %w", err)
		}
		gs = srv.newGRPCServer()
		go func() {
			if err := gs.Serve(gln); err != nil {
				errc <- fmt.Errorf("grpc server: %w", err)
			}
		}()
		log.Info("serving the Open Inference Protocol over gRPC", "addr", gln.Addr().String())
		grpcLine = fmt.Sprintf("grpc listening on %s\n", gln.Addr())
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go srv.reloadOnSignal(ctx, hup)
	if c.DebugAddr != "" {
		dln, err := listenDebug(c.DebugAddr)
		if err != nil {
			return err
		}
		ds := &http.Server{Handler: debugMux(), ReadHeaderTimeout: 5 * time.Second}
		go ds.Serve(dln)
		defer ds.Close()
		log.Info("debug endpoints", "addr", dln.Addr().String())
	}
	log.Info("serving", "addr", ln.Addr().String(), "models", c.Models, "store", c.Store, "startup_seconds", time.Since(start).Seconds())
	fmt.Fprintf(stdout, "listening on %s\n%s", ln.Addr(), grpcLine)

	select {
	case err := <-errc:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "cause", context.Cause(ctx))
	srv.ready.Store(false)
	t := time.Now()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.ShutdownTimeout)
	defer cancel()
	if gs != nil {
		// GracefulStop waits for the calls in flight; the drain shares the
		// shutdown timeout with the HTTP server's.
		stopped := make(chan struct{})
		go func() { gs.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-sctx.Done():
			gs.Stop()
		}
		log.Info("grpc server stopped", "seconds", time.Since(t).Seconds())
	}
	err = hs.Shutdown(sctx)
	log.Info("http server stopped", "seconds", time.Since(t).Seconds(), "err", err)
	t = time.Now()
	srv.Close()
	log.Info("model released", "seconds", time.Since(t).Seconds())
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
