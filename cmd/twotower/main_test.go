package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/embtab/embtab/ann/vecfile"
	"github.com/embtab/embtab/artifact"
	"github.com/embtab/embtab/retrieval"
)

// tinyMovieLens writes a MovieLens 1M directory of 80 users and 50
// movies, user u liking genre u mod 5.
func tinyMovieLens(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	genres := []string{"Comedy", "Drama", "Horror", "War", "Western"}
	var users, movies, ratings strings.Builder
	for u := 1; u <= 80; u++ {
		fmt.Fprintf(&users, "%d::%s::%d::%d::%05d\n", u, []string{"F", "M"}[u%2], []int{18, 25, 35}[u%3], u%7, 30000+u%11)
	}
	for m := 1; m <= 50; m++ {
		fmt.Fprintf(&movies, "%d::Film %d (%d)::%s\n", m, m, 1980+m%7, genres[m%5])
	}
	ts := 970000000
	for u := 1; u <= 80; u++ {
		for k := range 9 {
			m := 1 + (u%5+5*((u+7*k)%10))%50
			ts++
			fmt.Fprintf(&ratings, "%d::%d::%d::%d\n", u, m, 3+k%3, ts)
		}
	}
	for name, b := range map[string]*strings.Builder{"users.dat": &users, "movies.dat": &movies, "ratings.dat": &ratings} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func lastLine(b []byte) []byte {
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	return lines[len(lines)-1]
}

func TestTrainAndEval(t *testing.T) {
	data := tinyMovieLens(t)
	out := filepath.Join(t.TempDir(), "run")
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"train", "--data", data, "--table", "hashed", "--compression-ratio", "4",
		"--dim", "4", "--hidden", "8", "--out-dim", "8", "--nested-dims", "4", "--epochs", "2", "--batch", "32",
		"--ef", "10,40", "--adaptive-candidates", "20", "--quiet", "--json", "--out", out}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("train: %v\n%s", err, stderr.String())
	}
	var res result
	if err := json.Unmarshal(lastLine(stdout.Bytes()), &res); err != nil {
		t.Fatalf("--json line: %v\n%s", err, stdout.String())
	}
	if res.Table != "hashed" || res.Ratio < 3.9 || res.Ratio > 4.1 || res.Test.Users == 0 || len(res.Prefixes) != 1 {
		t.Errorf("result %+v", res)
	}
	if len(res.ANN) != 3 || res.ANN[1].Recall < 0.9 {
		t.Errorf("ann results %+v", res.ANN)
	}
	for _, name := range []string{"metrics.jsonl", "result.json", "vectors/users.fvecs", "vectors/items.npy", "vectors/items.parquet", "vectors/vectors.json", "model/manifest.json"} {
		if fi, err := os.Stat(filepath.Join(out, name)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", name, err)
		}
	}
	iv, dim, err := vecfile.ReadFvecsFile(filepath.Join(out, "vectors", "items.fvecs"))
	if err != nil || dim != 8 || len(iv) != res.Items*8 {
		t.Fatalf("items.fvecs: %d values of dim %d (%v), want %d items", len(iv), dim, err, res.Items)
	}
	rows, err := parquet.ReadFile[retrieval.VectorRow](filepath.Join(out, "vectors", "items.parquet"))
	if err != nil || len(rows) != res.Items {
		t.Fatalf("items.parquet: %d rows (%v)", len(rows), err)
	}
	a, err := artifact.Open(filepath.Join(out, "model"), artifact.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	extra := a.Extra()
	a.Close()
	if len(extra) != 4 {
		t.Errorf("artifact extra files %v", extra)
	}

	stdout.Reset()
	if err := run(context.Background(), []string{"eval", "--model", filepath.Join(out, "model"), "--data", data, "--quiet", "--json"}, &stdout, &stderr); err != nil {
		t.Fatalf("eval: %v", err)
	}
	var ev evalResult
	if err := json.Unmarshal(lastLine(stdout.Bytes()), &ev); err != nil {
		t.Fatal(err)
	}
	// The artifact's vectors are the run's: the same test metrics.
	if ev.Test != res.Test || ev.MissingUsers != 0 || ev.MissingItems != 0 || len(ev.Index) != 4 {
		t.Errorf("eval %+v, train's test %+v", ev, res.Test)
	}
}

func TestBench(t *testing.T) {
	data := tinyMovieLens(t)
	vec := filepath.Join(t.TempDir(), "vec")
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"bench", "--data", data, "--methods", "full,hashed", "--ratios", "1,4",
		"--seeds", "1,2", "--dim", "4", "--hidden", "8", "--out-dim", "8", "--epochs", "1", "--batch", "32", "--quiet",
		"--export-vectors", vec}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, stderr.String())
	}
	text := stdout.String()
	for _, want := range []string{"| full | 1 |", "| hashed | 1 |", "| hashed | 4 |", " ± "} {
		if !strings.Contains(text, want) {
			t.Errorf("bench output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "| full | 4 |") {
		t.Error("bench ran the full table at ratio 4")
	}
	if _, _, err := vecfile.ReadFvecsFile(filepath.Join(vec, "users.fvecs")); err != nil {
		t.Error(err)
	}
}

// TestBadValues: values that used to mean something else silently (ratio 0
// or one beyond the smallest table: the full table; a negative ef) are
// errors that say why.
func TestBadValues(t *testing.T) {
	data := tinyMovieLens(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"train", "--compression-ratio", "0"}, "--compression-ratio 0: want >= 1"},
		{[]string{"train", "--compression-ratio", "1000000"}, "below the smallest table"},
		{[]string{"train", "--ef", "10,-3"}, "--ef -3"},
		{[]string{"eval", "--model", "x", "--ef", "-3"}, "--ef -3"},
		{[]string{"bench", "--ratios", "1,0"}, "--ratios 0"},
		// zeros that silently meant the default
		{[]string{"train", "--epochs", "0"}, "--epochs 0: want >= 1"},
		{[]string{"train", "--batch", "0"}, "--batch 0"},
		{[]string{"train", "--dim", "0"}, "--dim 0"},
		{[]string{"train", "--hidden", "0"}, "--hidden 0"},
		{[]string{"train", "--out-dim", "0"}, "--out-dim 0"},
		{[]string{"train", "--temperature", "0"}, "--temperature 0"},
		{[]string{"train", "--lr", "0"}, "--lr 0"},
		{[]string{"train", "--emb-lr", "-1"}, "--emb-lr -1"},
		{[]string{"train", "--seed", "0"}, "--seed 0"},
		{[]string{"train", "--threads", "0"}, "--threads 0"},
		{[]string{"bench", "--epochs", "0"}, "--epochs 0"},
		{[]string{"eval", "--model", "x", "--threads", "0"}, "--threads 0"},
	} {
		args := append(tc.args, "--data", data, "--quiet")
		if tc.args[0] == "train" {
			args = append(args, "--out", t.TempDir())
		}
		var stdout, stderr bytes.Buffer
		if err := run(context.Background(), args, &stdout, &stderr); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}

func TestFlagErrors(t *testing.T) {
	tests := [][]string{
		{},
		{"nope"},
		{"train", "--memory-budget", "1KiB", "--compression-ratio", "2", "--data", "x"},
		{"train", "--compression-ratio", "0.5"},

		{"eval"},
		{"bench", "--compression-ratio", "3"},
		{"bench", "--methods", "full", "--ratios", "10"}, // no method/ratio pair runs
		{"bench", "--seeds="},
	}
	data := tinyMovieLens(t)
	for _, args := range tests {
		if len(args) > 1 && args[0] != "eval" && !contains(args, "--data") {
			args = append(args, "--data", data)
		}
		if len(args) > 0 && args[0] == "train" {
			args = append(args, "--out", t.TempDir()) // a failing run must not write into the package directory
		}
		var stdout, stderr bytes.Buffer
		if err := run(context.Background(), append(args, "--quiet"), &stdout, &stderr); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
	var stderr bytes.Buffer
	for _, cmd := range []string{"train", "eval", "bench"} {
		stderr.Reset()
		run(context.Background(), []string{cmd, "--help"}, &bytes.Buffer{}, &stderr)
		if !strings.Contains(stderr.String(), "--data") {
			t.Errorf("%s --help does not list --data:\n%s", cmd, stderr.String())
		}
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestHelpTypeNames: pflag reads a back-quoted word in a usage string as
// the value's type name (cmd/train's --help showed "--data dataset
// convert"): every flag line of every subcommand's --help shows a type
// name pflag itself uses, or none.
func TestHelpTypeNames(t *testing.T) {
	known := map[string]bool{"": true, "string": true, "int": true, "int64": true, "uint": true, "uint64": true,
		"float": true, "float64": true, "strings": true, "ints": true, "duration": true, "floats": true, "float64Slice": true, "float32Slice": true, "uints": true, "int64Slice": true, "stringArray": true, "bools": true}
	for _, sub := range []string{"train", "eval", "bench"} {
		var out, errb bytes.Buffer
		run(context.Background(), []string{sub, "--help"}, &out, &errb)
		n := 0
		for _, line := range strings.Split(errb.String(), "\n") {
			head, _, _ := strings.Cut(strings.TrimSpace(line), "   ")
			if !strings.HasPrefix(head, "--") {
				continue
			}
			n++
			if f := strings.Fields(head); strings.Contains(line, "`") || !known[strings.Join(f[1:], " ")] {
				t.Errorf("%s --help: flag %s shows the type name %q: %q", sub, f[0], strings.Join(f[1:], " "), line)
			}
		}
		if n < 2 {
			t.Errorf("%s --help: %d flag lines in %q", sub, n, errb.String())
		}
	}
}
