package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// startRedis runs a standalone redis-server on a free loopback port.
func startRedis(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server not found and CI=true: install it (apt-get install -y redis-server)")
		}
		t.Skip("redis-server not found: install it (apt-get install -y redis-server) to run the --redis test")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", t.TempDir(), "--daemonize", "no", "--loglevel", "warning")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := "127.0.0.1:" + strconv.Itoa(port)
	rc := redis.NewClient(&redis.Options{Addr: addr})
	defer rc.Close()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if rc.Ping(context.Background()).Err() == nil {
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatal("redis-server did not start")
		}
	}
}

// TestRedisMGet: --redis stores each generated body's keys and reads
// them back with one MGET a request, without errors.
func TestRedisMGet(t *testing.T) {
	addr := startRedis(t)
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"--redis", addr, "--requests", "500", "--concurrency", "4", "--bodies", "16",
		"--redis-value-bytes", "72", "--json"}, &out, &errb)
	if err != nil {
		t.Fatalf("%v: %s", err, errb.String())
	}
	var rep Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.OK != 500 || rep.Errors != 0 {
		t.Errorf("report %+v", rep)
	}
	rc := redis.NewClient(&redis.Options{Addr: addr})
	defer rc.Close()
	n, err := rc.DBSize(context.Background()).Result()
	if err != nil || n < 26 || n > 16*26 {
		t.Errorf("%d keys stored (%v), want 26 to 416", n, err)
	}
	for _, args := range [][]string{{"--redis", "10.0.0.1:6379"}, {"--redis", addr, "--body-file", "x"}, {"--redis-value-bytes", "-1"}} {
		if err := run(context.Background(), args, &out, &errb); err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
}
