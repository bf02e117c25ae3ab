// Package redistest starts a throwaway local Redis Cluster for tests:
// masters redis-server processes on loopback ports, joined and given the
// slots with CLUSTER ADDSLOTSRANGE and CLUSTER MEET (no redis-cli needed),
// stopped when the test ends.
//
// redis-server comes from the system (Debian: apt-get install -y
// redis-server). Without it the test is skipped, or fails when the
// environment variable CI is "true".
package redistest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// StartCluster starts a cluster of masters nodes (at least 1) and returns
// their addresses once the cluster state is ok.
func StartCluster(t testing.TB, masters int) []string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server not found and CI=true: install it (apt-get install -y redis-server)")
		}
		t.Skip("redis-server not found: install it (apt-get install -y redis-server) to run the Redis Cluster tests")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	var addrs []string
	var clients []*redis.Client
	for i := range masters {
		port := freePort(t)
		nd := filepath.Join(dir, strconv.Itoa(i))
		if err := os.MkdirAll(nd, 0o755); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--protected-mode", "yes",
			"--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(nd, "nodes.conf"),
			"--cluster-node-timeout", "5000", "--dir", nd, "--save", "", "--appendonly", "no",
			"--daemonize", "no", "--loglevel", "warning", "--maxmemory", "64mb")
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatalf("start redis-server: %v", err)
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
			if t.Failed() {
				t.Logf("redis-server :%d output:\n%s", port, out.String())
			}
		})
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		addrs = append(addrs, addr)
		c := redis.NewClient(&redis.Options{Addr: addr})
		t.Cleanup(func() { c.Close() })
		clients = append(clients, c)
		if err := waitFor(ctx, func() error { return c.Ping(ctx).Err() }); err != nil {
			t.Fatalf("redis-server on %s did not start: %v\n%s", addr, err, out.String())
		}
	}
	per := 16384 / masters
	for i, c := range clients {
		lo, hi := i*per, (i+1)*per-1
		if i == masters-1 {
			hi = 16383
		}
		if err := c.ClusterAddSlotsRange(ctx, lo, hi).Err(); err != nil {
			t.Fatalf("CLUSTER ADDSLOTSRANGE %d %d on %s: %v", lo, hi, addrs[i], err)
		}
	}
	for _, a := range addrs[1:] {
		host, port, _ := net.SplitHostPort(a)
		if err := clients[0].ClusterMeet(ctx, host, port).Err(); err != nil {
			t.Fatalf("CLUSTER MEET %s: %v", a, err)
		}
	}
	for i, c := range clients {
		err := waitFor(ctx, func() error {
			info, err := c.ClusterInfo(ctx).Result()
			if err != nil {
				return err
			}
			if !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, fmt.Sprintf("cluster_known_nodes:%d", masters)) {
				return fmt.Errorf("cluster not ready: %s", strings.ReplaceAll(info, "\r\n", " "))
			}
			return nil
		})
		if err != nil {
			t.Fatalf("node %s: %v", addrs[i], err)
		}
	}
	return addrs
}

// freePort returns a loopback port that is free, with its cluster bus port
// (port+10000) free too.
func freePort(t testing.TB) int {
	t.Helper()
	for range 50 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if port+10000 > 65535 {
			continue
		}
		bus, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port+10000)))
		if err != nil {
			continue
		}
		bus.Close()
		return port
	}
	t.Fatal("no free port pair for redis-server")
	return 0
}

func waitFor(ctx context.Context, f func() error) error {
	for {
		err := f()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
