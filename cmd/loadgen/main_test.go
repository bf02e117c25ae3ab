package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestLoad(t *testing.T) {
	var n atomic.Int64
	var badBody atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Instances []map[string]any `json:"instances"`
		}
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &body); err != nil || len(body.Instances) != 3 || len(body.Instances[0]) < 26 {
			badBody.Store(true)
		}
		if n.Add(1)%10 == 0 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte(`{"scores":[0.5]}`))
	}))
	defer srv.Close()
	tests := []struct {
		name string
		args []string
	}{
		{"closed loop", []string{"--concurrency", "4", "--requests", "200"}},
		{"open loop", []string{"--concurrency", "4", "--requests", "200", "--rate", "2000"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n.Store(0)
			var out, errb bytes.Buffer
			args := append([]string{"--url", srv.URL, "--batch", "3", "--bodies", "8", "--json"}, tc.args...)
			if err := run(context.Background(), args, &out, &errb); err != nil {
				t.Fatalf("run: %v\n%s", err, errb.String())
			}
			var rep Report
			if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
				t.Fatalf("report %q: %v", out.String(), err)
			}
			if rep.Requests != 200 || rep.OK != 180 || rep.Errors != 20 || rep.ErrorKinds["status_503"] != 20 {
				t.Errorf("report %+v", rep)
			}
			if !(rep.QPS > 0) || !(rep.P50Ms > 0) || rep.P50Ms > rep.P99Ms || rep.P99Ms > rep.P999Ms || rep.P999Ms > rep.MaxMs {
				t.Errorf("latencies %+v", rep)
			}
			if badBody.Load() {
				t.Error("generated bodies are not 3 instances of Criteo features")
			}
		})
	}
}

func TestDurationBound(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(5 * time.Millisecond)
	}))
	defer srv.Close()
	var out, errb bytes.Buffer
	start := time.Now()
	err := run(context.Background(), []string{"--url", srv.URL, "--duration", "200ms", "--requests", "1000000", "--concurrency", "2", "--json"}, &out, &errb)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("ran %v for a 200ms duration", d)
	}
	var rep Report
	json.Unmarshal(out.Bytes(), &rep)
	if rep.Requests == 0 || rep.Requests > 200 {
		t.Errorf("requests %d", rep.Requests)
	}
}

func TestFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--url", "http://10.1.2.3:8080/v1/score"},
		{"--url", "http://example.com/v1/score"},
		{"--url", "ftp://127.0.0.1/x"},
		{"--concurrency", "0"},
		{"--requests", "0"},
		{"--requests", "100000000"},
		{"--duration", "2h"},
		{"--rate", "-1"},
		{"--batch", "0"},
		{"--body-file", "/no/such/file"},
		{"--model", "/no/such/dir"},
		{"extra"},
	} {
		var out, errb bytes.Buffer
		if err := run(context.Background(), args, &out, &errb); err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"--help"}, &out, &errb); err != nil || !strings.Contains(errb.String(), "--concurrency") {
		t.Errorf("--help: %v %q", err, errb.String())
	}
}

func TestHumanReport(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"--url", srv.URL, "--requests", "20"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"20 requests (20 ok, 0 errors)", "p999"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("report lacks %q:\n%s", s, out.String())
		}
	}
}

// TestRateMissed: a server slower than --rate is reported, in the text
// report and in --json; a rate that is met is not.
func TestRateMissed(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		time.Sleep(20 * time.Millisecond)
		w.Write([]byte(`{"scores":[0.5]}`))
	}))
	defer slow.Close()
	// One worker at 20 ms per request manages ~50/s of the 1000/s asked.
	args := []string{"--url", slow.URL, "--concurrency", "1", "--requests", "15", "--rate", "1000", "--duration", "10s"}
	var out, errb bytes.Buffer
	if err := run(context.Background(), append(args, "--json"), &out, &errb); err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || !rep.RateMissed || !(rep.RateAchieved < 0.95) {
		t.Errorf("json report %s (%v): want rate_missed", out.Bytes(), err)
	}
	if !strings.Contains(errb.String(), "target rate missed") {
		t.Errorf("--json run does not say on stderr that the rate was missed: %q", errb.String())
	}
	out.Reset()
	if err := run(context.Background(), args, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "target rate missed") {
		t.Errorf("text report does not say the rate was missed:\n%s", out.String())
	}
	// A rate that is met says so, and --json says rate_missed false.
	fast := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Write([]byte(`{"scores":[0.5]}`))
	}))
	defer fast.Close()
	// a modest rate with spare workers, so that one scheduler stall on a busy
	// CI machine cannot make a met rate look missed
	args = []string{"--url", fast.URL, "--concurrency", "4", "--requests", "20", "--rate", "50", "--duration", "10s"}
	out.Reset()
	if err := run(context.Background(), args, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "target rate met") || strings.Contains(out.String(), "missed") {
		t.Errorf("text report of a met rate:\n%s", out.String())
	}
	out.Reset()
	if err := run(context.Background(), append(args, "--json"), &out, &errb); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"rate_missed":false`) || !strings.Contains(out.String(), `"rate_achieved":`) {
		t.Errorf("json report of a met rate lacks rate_missed false and rate_achieved: %s", out.String())
	}
	for _, tc := range []struct {
		rep  Report
		want bool
	}{
		{Report{TargetRate: 100, QPS: 99}, false},
		{Report{TargetRate: 100, QPS: 90}, true},
		{Report{TargetRate: 0, QPS: 1}, false},
	} {
		markRate(&tc.rep)
		if tc.rep.RateMissed != tc.want {
			t.Errorf("target %g, achieved %g: missed %v, want %v", tc.rep.TargetRate, tc.rep.QPS, tc.rep.RateMissed, tc.want)
		}
	}
}
