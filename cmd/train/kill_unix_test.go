//go:build unix

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/embtab/embtab/datasets"
	"github.com/embtab/embtab/trainer"
)

// childArgsEnv, when set, makes the test binary run train with these
// arguments (a JSON list) instead of the tests: the kill test's
// subprocess, so that no separate build is needed.
const childArgsEnv = "EMBTAB_TRAIN_CHILD_ARGS"

func TestMain(m *testing.M) {
	if js, ok := os.LookupEnv(childArgsEnv); ok {
		var args []string
		if err := json.Unmarshal([]byte(js), &args); err != nil {
			fmt.Fprintln(os.Stderr, "train child:", err)
			os.Exit(2)
		}
		if err := run(context.Background(), args, os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "train:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// trainCmd is train with args as a subprocess working in dir.
func trainCmd(t *testing.T, dir string, args ...string) *exec.Cmd {
	t.Helper()
	js, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), childArgsEnv+"="+string(js))
	return cmd
}

// TestKill9Resume kills train with SIGKILL at random moments (during the
// checkpoints written every 3 steps, after the last one, while the
// artifact and result.json are written), resumes each killed run with
// --resume to completion, and checks that the run directory then holds
// what an uninterrupted run writes: the same model files byte for byte
// (the manifest but for its id and creation time), the same result.json
// but for timings, metrics.jsonl with the same lines, and no temporary
// files. EMBTAB_KILL_TESTS sets the number of kills (default 6;
// EMBTAB_KILL_TESTS=50 for the 50), EMBTAB_KILL_SEED the seed of
// the kill times.
func TestKill9Resume(t *testing.T) {
	if testing.Short() {
		t.Skip("subprocess kill test: not under -short")
	}
	kills := 6
	if s := os.Getenv("EMBTAB_KILL_TESTS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("EMBTAB_KILL_TESTS=%q: want a count >= 1", s)
		}
		kills = n
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("EMBTAB_KILL_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("EMBTAB_KILL_SEED=%q: %v", s, err)
		}
	}
	t.Logf("%d kills, EMBTAB_KILL_SEED=%d", kills, seed)
	rng := rand.New(rand.NewPCG(seed, 1))

	data := filepath.Join(t.TempDir(), "kill.parquet")
	g, err := datasets.NewGenerator(datasets.GenConfig{Rows: 20000, Scale: 0.001, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := datasets.Convert(context.Background(), g, data, datasets.ConvertOptions{}); err != nil {
		t.Fatal(err)
	}
	// 18,000 training rows / 500 = 36 steps an epoch, a checkpoint every
	// 3: 24 checkpoints, then the artifact and result.json.
	args := []string{"--data", data, "--model", "dlrm", "--dim", "4", "--batch", "500", "--epochs", "2",
		"--checkpoint-every", "3", "--log-every", "1", "--threads", "1", "--quiet", "--out", "run"}

	refDir := t.TempDir()
	start := time.Now()
	if out, err := trainCmd(t, refDir, args...).CombinedOutput(); err != nil {
		t.Fatalf("uninterrupted run: %v\n%s", err, out)
	}
	wall := time.Since(start)
	want := snapshot(t, filepath.Join(refDir, "run"))

	var killed, tornTemps, afterLast, inExport, attempts int
	for killed < kills {
		if attempts++; attempts > 3*kills+10 {
			t.Fatalf("only %d of %d runs could be killed before they finished", killed, attempts-1)
		}
		dir := t.TempDir()
		run := filepath.Join(dir, "run")
		cmd := trainCmd(t, dir, args...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		begin := time.Now()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		// The moment of the kill, in turn: at a random time; while the
		// k-th checkpoint is being written (its temporary file exists);
		// just after the k-th checkpoint's rename; while the artifact or
		// result.json are written, after the last checkpoint.
		var moment string
		var when func(seen *watch) bool
		switch k := 1 + rng.IntN(24); attempts % 4 {
		case 0:
			delay := time.Duration(rng.Float64() * float64(wall))
			moment = fmt.Sprintf("after %v", delay)
			when = func(*watch) bool { return time.Since(begin) >= delay }
		case 1:
			moment = fmt.Sprintf("while checkpoint %d is written", k)
			when = func(w *watch) bool { return w.ckptTemps >= k && w.ckptTemp }
		case 2:
			moment = fmt.Sprintf("just after checkpoint %d", k)
			when = func(w *watch) bool { return w.ckptTemps >= k && !w.ckptTemp }
		case 3:
			delay := time.Duration(rng.IntN(30)) * time.Millisecond
			moment = fmt.Sprintf("%v into the artifact's export", delay)
			var at time.Time
			when = func(w *watch) bool {
				if at.IsZero() && w.export {
					at = time.Now()
				}
				return !at.IsZero() && time.Since(at) >= delay
			}
		}
		var w watch
		var err error
		finished := false
	poll:
		for {
			select {
			case err = <-exited:
				finished = true
				break poll
			default:
			}
			w.look(run)
			if when(&w) {
				cmd.Process.Signal(syscall.SIGKILL)
				err = <-exited
				break poll
			}
			time.Sleep(200 * time.Microsecond)
		}
		ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
		if finished || !ws.Signaled() {
			if err != nil {
				t.Fatalf("run %d exited with %v before the kill:\n%s", attempts, err, out.String())
			}
			wall = min(wall, time.Since(begin))
			continue // finished first: not a kill
		}
		killed++
		var torn, export bool
		for _, p := range tempFiles(t, run) {
			if strings.Contains(p, trainer.ArtifactDir+".tmp") {
				export = true
			} else {
				torn = true
			}
		}
		if torn {
			tornTemps++
		}
		if export {
			inExport++
		}
		if ck, err := trainer.ReadCheckpoint(filepath.Join(run, trainer.CheckpointFile)); err == nil && ck.Epoch >= 2 {
			afterLast++
		}
		t.Logf("kill %d: %s (torn temporary file %v, in the export %v)", killed, moment, torn, export)
		res, err := trainCmd(t, dir, append(args, "--resume")...).CombinedOutput()
		if err != nil {
			t.Fatalf("kill %d (%s): --resume: %v\n%s", killed, moment, err, res)
		}
		if temps := tempFiles(t, run); len(temps) > 0 {
			t.Errorf("kill %d (%s): temporary files left after the resume: %v", killed, moment, temps)
		}
		got := snapshot(t, run)
		for name, w := range want {
			if g, ok := got[name]; !ok {
				t.Errorf("kill %d (%s): %s missing after the resume", killed, moment, name)
			} else if g != w {
				t.Errorf("kill %d (%s): %s differs from the uninterrupted run's: %s", killed, moment, name, firstDiff(g, w))
			}
		}
		for name := range got {
			if _, ok := want[name]; !ok {
				t.Errorf("kill %d (%s): extra file %s after the resume", killed, moment, name)
			}
		}
		if t.Failed() {
			t.Fatalf("stopping at kill %d; EMBTAB_KILL_SEED=%d reproduces the kill times", killed, seed)
		}
	}
	t.Logf("%d kills in %d runs (uninterrupted run %v): %d left a torn checkpoint.bin or result.json temporary file, %d came after the last checkpoint, %d during the artifact's export; every resume matched",
		killed, attempts, wall.Round(time.Millisecond), tornTemps, afterLast, inExport)
}

// snapshot returns the comparable content of a run directory by file:
// the artifact's files as they are (the manifest without its id and
// creation time), result.json without its timings, metrics.jsonl as its
// lines' kind, epoch, step, loss and AUC (not their times).
// checkpoint.bin is left out: it records the training time.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		switch rel {
		case trainer.CheckpointFile:
			return nil
		case trainer.ResultFile:
			out[rel] = dropKeys(t, data, "result", "train_seconds", "train_samples_per_s", "peak_rss_bytes", "resumed", "already_complete")
		case filepath.Join(trainer.ArtifactDir, "manifest.json"):
			// The id, the creation time and the checksums seeded by the id
			// differ between runs; the files' CRC-32Cs do not.
			out[rel] = dropKeysDeep(t, []byte(dropKeys(t, data, "", "id", "created")), "xxh3", "manifest_xxh3")
		case trainer.MetricsFile:
			var sb strings.Builder
			for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
				var m struct {
					Kind  string  `json:"kind"`
					Epoch int     `json:"epoch"`
					Step  int64   `json:"step"`
					Loss  float64 `json:"loss"`
					AUC   float64 `json:"test_auc"`
				}
				if err := json.Unmarshal([]byte(line), &m); err != nil {
					return fmt.Errorf("%s line %q: %w", rel, line, err)
				}
				fmt.Fprintf(&sb, "%s %d %d %v %v\n", m.Kind, m.Epoch, m.Step, m.Loss, m.AUC)
			}
			out[rel] = sb.String()
		default:
			out[rel] = string(data)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// dropKeysDeep re-encodes JSON without the given keys at any depth.
func dropKeysDeep(t *testing.T, data []byte, keys ...string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s: %v", data, err)
	}
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for _, k := range keys {
				delete(v, k)
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(v)
	js, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(js)
}

// dropKeys re-encodes a JSON object without the given keys of its member
// in (the object itself when in is "").
func dropKeys(t *testing.T, data []byte, in string, keys ...string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("%s: %v", data, err)
	}
	obj := m
	if in != "" {
		obj, _ = m[in].(map[string]any)
	}
	for _, k := range keys {
		delete(obj, k)
	}
	js, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(js)
}

// watch follows a run directory while train writes it.
type watch struct {
	ckptTemp  bool // a checkpoint.bin temporary file exists
	ckptTemps int  // temporary files of checkpoint.bin seen so far
	export    bool // the artifact is being written (or has been)
	last      string
}

// look updates w from dir's entries.
func (w *watch) look(dir string) {
	ents, _ := os.ReadDir(dir)
	w.ckptTemp = false
	for _, e := range ents {
		name := e.Name()
		switch {
		case strings.HasPrefix(name, "."+trainer.CheckpointFile+".tmp-"):
			w.ckptTemp = true
			if name != w.last {
				w.ckptTemps++
				w.last = name
			}
		case strings.HasPrefix(name, trainer.ArtifactDir):
			w.export = true
		}
	}
}

// tempFiles lists the temporary files (".tmp" in the name) under dir.
func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), ".tmp") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// firstDiff describes the first line where got and want differ.
func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range max(len(g), len(w)) {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d is %.200q, want %.200q", i+1, gl, wl)
		}
	}
	return "same lines"
}
