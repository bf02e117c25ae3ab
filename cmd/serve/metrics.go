package main

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/embtab/embtab/kernels"
	"github.com/embtab/embtab/lookup"
)

// metrics are the server's Prometheus metrics, registered on the
// injected registerer (prometheus tsdb's dbMetrics pattern).
type metrics struct {
	requests      *prometheus.CounterVec
	latency       *prometheus.HistogramVec
	instances     *prometheus.HistogramVec
	storeRows     *prometheus.CounterVec
	storeLatency  *prometheus.HistogramVec
	reloads       *prometheus.CounterVec
	modelInfo     *prometheus.GaugeVec
	inflight      prometheus.Gauge
	modelLatency  *prometheus.HistogramVec
	batchRequests prometheus.Histogram
	fieldValues   *prometheus.CounterVec
	fieldOOV      *prometheus.CounterVec
	grpcRequests  *prometheus.CounterVec
	grpcLatency   *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "embtab_http_requests_total",
			Help: "HTTP requests by handler and status code.",
		}, []string{"handler", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "embtab_http_request_duration_seconds",
			Help:    "HTTP request latency by handler.",
			Buckets: prometheus.ExponentialBuckets(50e-6, 2, 18), // 50us .. 6.5s
		}, []string{"handler"}),
		instances: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "embtab_request_instances",
			Help:    "Instances per embed or score request.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12),
		}, []string{"handler"}),
		storeRows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "embtab_store_rows_total",
			Help: "Rows requested from the store (distinct per request) by result: hit, not_found (the batch had a missing row), canceled (the request ended first) or error.",
		}, []string{"store", "result"}),
		storeLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "embtab_store_get_duration_seconds",
			Help:    "Latency of one batched store read.",
			Buckets: prometheus.ExponentialBuckets(5e-6, 2, 20), // 5us .. 2.6s
		}, []string{"store"}),
		modelLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "embtab_model_request_duration_seconds",
			Help:    "Latency of the requests a model answered (lookups and scoring, after decoding), by model name and handler.",
			Buckets: prometheus.ExponentialBuckets(20e-6, 2, 18), // 20us .. 2.6s
		}, []string{"model", "handler"}),
		batchRequests: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "embtab_score_batch_requests",
			Help:    "Requests merged into one dense-net pass by the micro-batcher (--batch-wait).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 10),
		}),
		fieldValues: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "embtab_field_values_sampled_total",
			Help: "Categorical values checked against the model's vocabulary, by model and field (one request in " + oovSampleText + " is checked; models with a vocabulary only).",
		}, []string{"model", "field"}),
		fieldOOV: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "embtab_field_oov_sampled_total",
			Help: "Of the checked values, those the vocabulary does not hold (a full table's OOV row, a hybrid table's hashed tail), by model and field: divided by embtab_field_values_sampled_total, the OOV rate.",
		}, []string{"model", "field"}),
		grpcRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "embtab_grpc_requests_total",
			Help: "gRPC calls (the Open Inference Protocol's service) by method and status code.",
		}, []string{"method", "code"}),
		grpcLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "embtab_grpc_request_duration_seconds",
			Help:    "gRPC call latency by method.",
			Buckets: prometheus.ExponentialBuckets(50e-6, 2, 18), // 50us .. 6.5s
		}, []string{"method"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "embtab_model_reloads_total",
			Help: "Model loads by result (ok or error).",
		}, []string{"result"}),
		modelInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "embtab_model_info",
			Help: "The served model: 1 for the current artifact.",
		}, []string{"name", "id", "method", "codec", "store"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "embtab_http_requests_in_flight",
			Help: "Requests being served.",
		}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.instances, m.storeRows, m.storeLatency, m.reloads, m.modelInfo, m.inflight, m.modelLatency, m.batchRequests, m.fieldValues, m.fieldOOV, m.grpcRequests, m.grpcLatency} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// instrumented wraps a store with the store metrics.
type instrumented struct {
	lookup.Store
	name string
	m    *metrics
	// updated counts the rows written by online updates through this
	// model (the server logs them when a new artifact replaces it).
	updated atomic.Int64
}

func (s *instrumented) Get(ctx context.Context, keys []lookup.Key, out []float32) error {
	start := time.Now()
	err := s.Store.Get(ctx, keys, out)
	s.m.storeLatency.WithLabelValues(s.name).Observe(time.Since(start).Seconds())
	result := "hit"
	switch {
	case errors.Is(err, lookup.ErrNotFound):
		result = "not_found"
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		result = "canceled"
	case err != nil:
		result = "error"
	}
	s.m.storeRows.WithLabelValues(s.name, result).Add(float64(len(keys)))
	return err
}

// writer returns the wrapped store's Writer, if it has one.
func (s *instrumented) writer() (lookup.Writer, bool) {
	w, ok := s.Store.(lookup.Writer)
	return w, ok
}

// mappedInstrumented is an instrumented store whose rows the kernels read
// in place (lookup.Mapped, the mmap store): lookups gather from its row
// tables without a Get; the rows they read count as hits (the latency
// metric is for Gets).
type mappedInstrumented struct {
	*instrumented
	m lookup.Mapped
}

func (s mappedInstrumented) RowTables(rows int) ([]kernels.Table, error) {
	t, err := s.m.RowTables(rows)
	result := "hit"
	if err != nil {
		result = "error"
	}
	s.instrumented.m.storeRows.WithLabelValues(s.name, result).Add(float64(rows))
	return t, err
}

// forEmbedder returns the store as the embedder should see it: with the
// wrapped store's row tables when it has them.
func (s *instrumented) forEmbedder() lookup.Store {
	if m, ok := s.Store.(lookup.Mapped); ok {
		return mappedInstrumented{instrumented: s, m: m}
	}
	return s
}
