package trainer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/embtab/embtab/densenet"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/embtab/embtab/datasets"
	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/progress"
)

// genData writes a small generated Criteo-like Parquet file.
func genData(t *testing.T, rows int64) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "g.parquet")
	g, err := datasets.NewGenerator(datasets.GenConfig{Rows: rows, Scale: 0.001, Seed: 11})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := datasets.Convert(context.Background(), g, p, datasets.ConvertOptions{}); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTrainModelsLearn(t *testing.T) {
	data := genData(t, 12000)
	tests := []struct {
		model, table string
		budget       int64
	}{
		{"lr", "hashed", 0},
		{"fm", "qr", 64 << 10},
		{"deepfm", "full", 0},
		{"dlrm", "hashed", 128 << 10},
		{"dcnv2", "hashed", 0},
	}
	for _, tc := range tests {
		t.Run(tc.model+"/"+tc.table, func(t *testing.T) {
			res, err := Train(context.Background(), Config{
				Data: data, Model: tc.model, Table: tc.table, MemoryBudget: tc.budget,
				Dim: 8, Batch: 512, Epochs: 2, Threads: 2,
			}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("test AUC %.4f", res.TestAUC)
			if res.TestAUC < 0.56 {
				t.Errorf("test AUC %.4f: the model did not learn", res.TestAUC)
			}
			if res.TrainRows != 10800 || res.TestRows != 1200 {
				t.Errorf("split %d/%d, want 10800/1200", res.TrainRows, res.TestRows)
			}
			if tc.budget > 0 && res.ServingBytes > tc.budget {
				t.Errorf("serving bytes %d exceed the budget %d", res.ServingBytes, tc.budget)
			}
			if res.ServingBytes != res.IndexBytes+res.EmbeddingBytes || (tc.table == "full") != (res.IndexBytes > 0) {
				t.Errorf("serving bytes %d, want the fp32 rows %d + index %d", res.ServingBytes, res.EmbeddingBytes, res.IndexBytes)
			}
			if res.FullTableBytes <= 0 || res.DistinctValues <= 0 {
				t.Errorf("full table bytes %d, distinct %d", res.FullTableBytes, res.DistinctValues)
			}
		})
	}
}

// TestResumeSameResult interrupts a run after a few steps and resumes it
// from its checkpoint: the result must equal an uninterrupted run's.
func TestResumeSameResult(t *testing.T) {
	testResumeSameResult(t, Config{})
}

// TestResumeScheduled is TestResumeSameResult for the tables whose
// training follows the run's step (embedding.Scheduled: DeepLight prunes
// on its schedule, across the resume point; PEP and AutoSrh fix their
// masks before it) and for MGQE's cached codes.
func TestResumeScheduled(t *testing.T) {
	for _, tc := range []struct {
		table  string
		budget int64
	}{{"deeplight", 40000}, {"pep", 40000}, {"autosrh", 40000}, {"mgqe", 300000}} {
		t.Run(tc.table, func(t *testing.T) {
			testResumeSameResult(t, Config{Table: tc.table, MemoryBudget: tc.budget})
		})
	}
}

func testResumeSameResult(t *testing.T, base Config) {
	data := genData(t, 6000)
	cfg := base
	cfg.Data, cfg.Model, cfg.Dim, cfg.Batch, cfg.Epochs, cfg.Threads, cfg.CheckpointEvery, cfg.LogEvery = data, "dlrm", 8, 500, 2, 2, 3, 1
	cfg.Out = t.TempDir()
	want, err := Train(context.Background(), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	wantLog := metricSteps(t, cfg.Out)
	cfg.Out = t.TempDir()
	// steps per epoch: 5400/500 -> 11; stop mid second epoch, after a checkpoint at 12 and before 15
	_, err = Train(context.Background(), cfg, Options{StopAfterSteps: 14})
	if !errors.Is(err, ErrStopped) {
		t.Fatalf("want ErrStopped, got %v", err)
	}
	got, err := Train(context.Background(), cfg, Options{Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	if !got.Resumed {
		t.Fatal("run did not resume")
	}
	if b := base.MemoryBudget; b > 0 && (got.ServingBytes > b || got.FullServingBytes <= b) {
		t.Fatalf("serving bytes %d, full table's %d, budget %d: the budget must bind and hold", got.ServingBytes, got.FullServingBytes, b)
	}
	if got.TestAUC != want.TestAUC || got.TestLogLoss != want.TestLogLoss || got.Steps != want.Steps {
		t.Fatalf("resumed run: auc %v logloss %v steps %d; uninterrupted: auc %v logloss %v steps %d",
			got.TestAUC, got.TestLogLoss, got.Steps, want.TestAUC, want.TestLogLoss, want.Steps)
	}
	for _, f := range []string{"metrics.jsonl", "result.json", CheckpointFile} {
		if _, err := os.Stat(filepath.Join(cfg.Out, f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
	// The resume replays steps 13 and 14 (after the checkpoint at 12):
	// metrics.jsonl used to log them twice.
	if got := metricSteps(t, cfg.Out); !slices.Equal(got, wantLog) {
		t.Errorf("resumed metrics.jsonl logs %v; uninterrupted %v", got, wantLog)
	}
}

// metricSteps returns "kind:step" of every line of dir's metrics.jsonl.
func metricSteps(t *testing.T, dir string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var m struct {
			Kind string `json:"kind"`
			Step int64  `json:"step"`
		}
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out = append(out, fmt.Sprintf("%s:%d", m.Kind, m.Step))
	}
	return out
}

// sameResult compares the deterministic fields of two results (not the
// timings, the peak RSS or whether the run resumed).
func sameResult(a, b *Result) bool {
	return a.TestAUC == b.TestAUC && a.TestLogLoss == b.TestLogLoss && a.TrainLogLoss == b.TrainLogLoss &&
		a.Steps == b.Steps && a.TrainRows == b.TrainRows && a.TestRows == b.TestRows && a.Epochs == b.Epochs &&
		a.EmbeddingBytes == b.EmbeddingBytes && a.OptimizerBytes == b.OptimizerBytes && a.FullTableBytes == b.FullTableBytes
}

// readResult reads dir's result.json.
func readResult(t *testing.T, dir string) ([]byte, *Result) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, ResultFile))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Result *Result `json:"result"`
	}
	if err := json.Unmarshal(data, &v); err != nil || v.Result == nil {
		t.Fatalf("%s: %v", ResultFile, err)
	}
	return data, v.Result
}

// TestResumeFinishedRun: --resume on a finished run used to report AUC 0,
// exit 0 and overwrite result.json with zeros. It must leave result.json
// as it is and return the stored result; and a run killed after its last
// checkpoint but before result.json (removed here) must write the
// uninterrupted run's result from the checkpoint.
func TestResumeFinishedRun(t *testing.T) {
	data := genData(t, 3000)
	cfg := Config{Data: data, Model: "lr", Dim: 4, Batch: 500, Epochs: 2, Threads: 2, Out: t.TempDir()}
	want, err := Train(context.Background(), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	wantJSON, _ := readResult(t, cfg.Out)
	got, err := Train(context.Background(), cfg, Options{Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	if !got.AlreadyComplete || !sameResult(got, want) {
		t.Errorf("resume of a finished run: %+v; want the stored %+v, marked complete", got, want)
	}
	if gotJSON, _ := readResult(t, cfg.Out); !bytes.Equal(gotJSON, wantJSON) {
		t.Errorf("result.json rewritten:\n%s\nwant\n%s", gotJSON, wantJSON)
	}
	if err := os.Remove(filepath.Join(cfg.Out, ResultFile)); err != nil {
		t.Fatal(err)
	}
	got, err = Train(context.Background(), cfg, Options{Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, stored := readResult(t, cfg.Out); got.AlreadyComplete || !sameResult(got, want) || !sameResult(stored, want) {
		t.Errorf("resume after the last checkpoint: returned %+v, stored %+v; want %+v", got, stored, want)
	}
}

// TestStaleTempsRemoved: a kill -9 while a checkpoint is written leaves a
// full-size .checkpoint.bin.tmp-NNN that nothing removed; a run (resumed
// or not) must remove such files on start.
func TestStaleTempsRemoved(t *testing.T) {
	data := genData(t, 2000)
	for _, resume := range []bool{false, true} {
		out := t.TempDir()
		stale := []string{".checkpoint.bin.tmp-123", ".result.json.tmp-9", ".dimplan.json.tmp-77"}
		for _, f := range stale {
			if err := os.WriteFile(filepath.Join(out, f), []byte("torn"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		keep := filepath.Join(out, "notes.tmp-1")
		if err := os.WriteFile(keep, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Train(context.Background(), Config{Data: data, Model: "lr", Dim: 4, Batch: 500, Out: out}, Options{Resume: resume}); err != nil {
			t.Fatal(err)
		}
		for _, f := range stale {
			if _, err := os.Stat(filepath.Join(out, f)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("resume=%v: stale %s still there (%v)", resume, f, err)
			}
		}
		if _, err := os.Stat(keep); err != nil {
			t.Errorf("resume=%v: removed a file that is not ours: %v", resume, err)
		}
	}
}

func TestCheckpointCorruption(t *testing.T) {
	data := genData(t, 3000)
	cfg := Config{Data: data, Model: "lr", Dim: 4, Batch: 500, Epochs: 1, Out: t.TempDir()}
	if _, err := Train(context.Background(), cfg, Options{}); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(cfg.Out, CheckpointFile)
	b, _ := os.ReadFile(p)
	b[len(b)/2] ^= 0xFF
	os.WriteFile(p, b, 0o644)
	_, err := Train(context.Background(), cfg, Options{Resume: true})
	if !errors.Is(err, ErrCheckpointCorrupt) {
		t.Fatalf("flipped byte: want ErrCheckpointCorrupt, got %v", err)
	}
	os.WriteFile(p, b[:100], 0o644)
	if _, err := Train(context.Background(), cfg, Options{Resume: true}); !errors.Is(err, ErrCheckpointCorrupt) {
		t.Fatalf("truncated: want ErrCheckpointCorrupt, got %v", err)
	}
	// a checkpoint from another configuration is refused
	if _, err := Train(context.Background(), cfg, Options{}); err != nil {
		t.Fatal(err)
	}
	cfg.Dim = 8
	if _, err := Train(context.Background(), cfg, Options{Resume: true}); !errors.Is(err, ErrCheckpointMismatch) {
		t.Fatalf("other config: want ErrCheckpointMismatch, got %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []Config{{}, {Data: "x", TestFraction: 1.5}, {Data: "x", Dim: -1}, {Data: "x", Split: "random"}} {
		c := c
		c.Defaults()
		if err := c.Validate(); err == nil {
			t.Errorf("config %+v validated", c)
		}
	}
}

func TestQuantizedEval(t *testing.T) {
	data := genData(t, 6000)
	res, err := Train(context.Background(), Config{Data: data, Model: "lr", Table: "hashed", Dim: 8, Batch: 500,
		EvalCodecs: []string{"fp16", "int8", "int4"}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Quantized) != 3 {
		t.Fatalf("got %d quantized results", len(res.Quantized))
	}
	prev := int64(1 << 62)
	for _, q := range res.Quantized {
		if q.Bytes > prev || q.Bytes >= res.EmbeddingBytes {
			t.Errorf("%s: %d bytes, larger than the wider codec (%d) and fp32 (%d)", q.Codec, q.Bytes, prev, res.EmbeddingBytes)
		}
		prev = q.Bytes
		if q.DeltaAUC < -0.02 || q.RMSE <= 0 {
			t.Errorf("%s: delta AUC %v, rmse %v", q.Codec, q.DeltaAUC, q.RMSE)
		}
	}
	// The fp32 rows are restored: a second evaluation path is not needed,
	// the reported fp32 AUC was computed before quantization.
	if _, err := Train(context.Background(), Config{Data: data, Model: "lr", Dim: 8, Batch: 500, EvalCodecs: []string{"int3"}}, Options{}); err == nil {
		t.Error("unknown codec accepted")
	}
}

func TestTableShapeOptions(t *testing.T) {
	data := genData(t, 3000)
	cfgFile := filepath.Join(t.TempDir(), "unified.json")
	os.WriteFile(cfgFile, []byte(`{"method":"unified","chunk_dim":2,"chunks":[4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4],"tables":2}`), 0o644)
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"unified from file", Config{Table: "unified", TableConfig: cfgFile}, true},
		{"unified chunks flag", Config{Table: "unified", Chunks: 4}, true},
		{"multiprobe 3 probes", Config{Table: "multiprobe", Probes: 3}, true},
		{"hybrid head fraction", Config{Table: "hybrid", HeadFraction: 0.8}, true},
		{"file for another method", Config{Table: "multiplex", TableConfig: cfgFile}, false},
		{"chunks not dividing dim", Config{Table: "unified", Chunks: 3}, false},
	}
	for _, tc := range tests {
		c := tc.cfg
		c.Data, c.Model, c.Dim, c.Batch, c.MemoryBudget = data, "lr", 8, 500, 32<<10
		res, err := Train(context.Background(), c, Options{})
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v, want ok=%v", tc.name, err, tc.ok)
			continue
		}
		if err == nil && res.EmbeddingBytes > c.MemoryBudget {
			t.Errorf("%s: %d bytes over the %d budget", tc.name, res.EmbeddingBytes, c.MemoryBudget)
		}
	}
}

// TestDivergedRunsFail: runs whose learning rates blow the model up used
// to hang (a NaN score in metrics.AUC), or finish with AUC 0.5 and write a
// servable model. They must fail with ErrDiverged naming the step and
// write neither the artifact nor result.json.
func TestDivergedRunsFail(t *testing.T) {
	data := genData(t, 3000)
	tests := []struct {
		name      string
		model     string
		lr, embLR float64
		batch     int
		hint      string
	}{
		// one step, then an evaluation of NaN scores: the hang of issue 14
		{"dense lr 1e30 fm one step", "fm", 1e30, 0, 4096, "--lr"},
		{"dense lr 1e30 fm", "fm", 1e30, 0, 500, "--lr"},
		{"emb lr 1e30 dlrm", "dlrm", 0, 1e30, 500, "--emb-lr"},
		{"emb lr 1e38 fm", "fm", 0, 1e38, 500, "--emb-lr"},
		// finishes with finite, saturated scores: AUC 0.5 and a servable model before
		{"emb lr 1e30 lr", "lr", 0, 1e30, 500, "--emb-lr"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			cfg := Config{Data: data, Model: tc.model, LR: tc.lr, EmbLR: tc.embLR, Dim: 4, Batch: tc.batch, Threads: 2, Out: out}
			done := make(chan error, 1)
			go func() {
				_, err := Train(context.Background(), cfg, Options{})
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(60 * time.Second):
				t.Fatal("no answer after 60s (hang)")
			}
			if !errors.Is(err, ErrDiverged) || !strings.Contains(err.Error(), "step") || !strings.Contains(err.Error(), tc.hint) {
				t.Fatalf("err = %v; want ErrDiverged naming the step and %s", err, tc.hint)
			}
			t.Log(err)
			for _, f := range []string{"result.json", ArtifactDir} {
				if _, err := os.Stat(filepath.Join(out, f)); err == nil {
					t.Errorf("diverged run wrote %s", f)
				}
			}
		})
	}
}

// writeAvazu writes rows Avazu lines whose hours are shuffled over ten
// days, so that a time split differs from the file order; it returns the
// path and the rows' Unix timestamps.
func writeAvazu(t *testing.T, rows int) (string, []int64) {
	t.Helper()
	var sb strings.Builder
	sb.WriteString("id,click,hour,C1,banner_pos,site_id,site_domain,site_category,app_id,app_domain,app_category,device_id,device_ip,device_model,device_type,device_conn_type,C14,C15,C16,C17,C18,C19,C20,C21\n")
	ts := make([]int64, rows)
	for i := range rows {
		k := (i * 37) % 240
		day, hour := 21+k/24, k%24
		ts[i] = time.Date(2014, 10, day, hour, 0, 0, 0, time.UTC).Unix()
		fmt.Fprintf(&sb, "%d,%d,1410%02d%02d,1005,%d,site%d,dom%d,cat%d,app%d,adom,acat,dev%d,ip%d,model%d,1,0,%d,320,50,1722,0,35,100084,79\n",
			i, (i*7)%3/2, day, hour, i%2, i%13, i%11, i%5, i%17, i%19, i%23, i%29, 15000+i%31)
	}
	p := filepath.Join(t.TempDir(), "a.csv")
	if err := os.WriteFile(p, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p, ts
}

// TestMaxRowsTimeSplit: with --split time, --max-rows used to be dropped
// for the reads (the whole file was trained and evaluated) while
// train_rows/test_rows reported the capped split. The rows read must be
// the split's: the first MaxRows rows, divided at the time cut.
func TestMaxRowsTimeSplit(t *testing.T) {
	data, ts := writeAvazu(t, 3000)
	const maxRows, batch = 1000, 100
	sorted := slices.Clone(ts[:maxRows])
	slices.Sort(sorted)
	cut := sorted[int(maxRows*0.9)]
	var wantTrain, wantTest int64
	for _, v := range ts[:maxRows] {
		if v < cut {
			wantTrain++
		} else {
			wantTest++
		}
	}
	res, err := Train(context.Background(), Config{Data: data, Format: "avazu", Split: "time", MaxRows: maxRows,
		Model: "lr", Dim: 4, Batch: batch, Threads: 1}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	wantSteps := (wantTrain + batch - 1) / batch
	if res.TrainRows != wantTrain || res.TestRows != wantTest || res.Steps != wantSteps {
		t.Fatalf("train %d rows in %d steps, test %d rows; want %d rows in %d steps, %d rows",
			res.TrainRows, res.Steps, res.TestRows, wantTrain, wantSteps, wantTest)
	}
}

// TestCheckpointStreams: writing a checkpoint used to hold its whole
// state about three times (each part's buffer, the file's buffer, the
// copy), reading it twice. Both must now allocate far less than the state.
func TestCheckpointStreams(t *testing.T) {
	table, err := embedding.NewHashed(embedding.Config{Dim: 16, Rows: []int{1 << 18},
		Optimizer: embedding.Optimizer{Name: embedding.RowwiseAdagrad, LR: 0.1}})
	if err != nil {
		t.Fatal(err)
	}
	net, err := densenet.New(smallConfig(densenet.ModelDCNv2, 16))
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	path := filepath.Join(t.TempDir(), CheckpointFile)
	meta := &ckptMeta{Config: Config{Model: densenet.ModelDCNv2, Dim: 16, Batch: 8, Epochs: 1}, Epoch: 1, Step: 4}
	allocs := func(fn func()) uint64 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		fn()
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	w := allocs(func() {
		if err := writeCheckpoint(path, meta, table, net); err != nil {
			t.Fatal(err)
		}
	})
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	r := allocs(func() {
		ck, err := openCheckpoint(path)
		if err != nil {
			t.Fatal(err)
		}
		defer ck.Close()
		if err := table.Load(ck.table); err != nil {
			t.Fatal(err)
		}
		if err := net.Load(ck.net); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("checkpoint %d bytes: write allocated %d, read %d", fi.Size(), w, r)
	if limit := uint64(fi.Size()) / 4; w > limit || r > limit {
		t.Errorf("checkpoint of %d bytes: write allocated %d bytes, read %d; want < %d", fi.Size(), w, r, limit)
	}
}

// TestEvalProgress: the bar used to be relabelled "eval 1/1" over the
// training counts and loss, the evaluation itself never shown. Each
// evaluation (and each --eval-codecs one) is its own phase counting the
// test rows, ending with its result.
func TestEvalProgress(t *testing.T) {
	data := genData(t, 3000)
	var buf bytes.Buffer
	res, err := Train(context.Background(), Config{Data: data, Model: "lr", Dim: 4, Batch: 500, Epochs: 2, Threads: 2,
		EvalCodecs: []string{"int8"}}, Options{Progress: progress.New(&buf, "train", 0, "samples")})
	if err != nil {
		t.Fatal(err)
	}
	final := map[string]string{} // label -> its final line
	for _, line := range strings.Split(buf.String(), "\n") {
		if label, _, ok := strings.Cut(line, " ["); ok && strings.Contains(line, " in ") {
			final[label] = line
		}
	}
	rows := fmt.Sprintf("%d/%d rows", res.TestRows, res.TestRows)
	for label, want := range map[string][]string{
		"epoch 2/2": {fmt.Sprintf("%d/%d samples", res.TrainRows, res.TrainRows), "loss "},
		"eval 1/2":  {rows, "test AUC "},
		"eval 2/2": {rows, fmt.Sprintf("test AUC %.4f [%.4f, %.4f], logloss %.4f", res.TestAUC, res.TestAUCCI[0],
			res.TestAUCCI[1], res.TestLogLoss)},
		"eval int8": {rows, fmt.Sprintf("test AUC %.4f", res.Quantized[0].TestAUC)},
	} {
		line, ok := final[label]
		if !ok {
			t.Errorf("no final %q line in\n%s", label, buf.String())
			continue
		}
		for _, w := range want {
			if !strings.Contains(line, w) {
				t.Errorf("%q line %q lacks %q", label, line, w)
			}
		}
		if strings.HasPrefix(label, "eval") && (strings.Contains(line, "samples") || strings.Contains(line, " loss ")) {
			t.Errorf("%q line shows the training state: %q", label, line)
		}
	}
}

// TestResumeMismatchNamesFields: a resume mismatch used to print the two
// key structs; it names each setting that differs, as a flag, with the
// checkpoint's value and this run's.
func TestResumeMismatchNamesFields(t *testing.T) {
	base := Config{Data: "a.parquet", Format: "parquet", Model: "dlrm", Table: "full", Dim: 16, Batch: 2048, Seed: 1, LR: 1e-3}
	tests := []struct {
		name   string
		change func(*Config)
		want   []string // "" = compatible
	}{
		{"same", func(*Config) {}, nil},
		{"epochs and threads may change", func(c *Config) { c.Epochs, c.Threads, c.Out = 3, 7, "elsewhere" }, nil},
		{"dim", func(c *Config) { c.Dim = 32 }, []string{"checkpoint was written with --dim 16, this run has --dim 32"}},
		{"two fields", func(c *Config) { c.Model, c.Batch = "fm", 512 },
			[]string{"--model dlrm, this run has --model fm", "--batch 2048, this run has --batch 512"}},
		{"empty string", func(c *Config) { c.TestData = "t.parquet" }, []string{`--test-data "", this run has --test-data t.parquet`}},
		{"float", func(c *Config) { c.LR = 0.01 }, []string{"--lr 0.001, this run has --lr 0.01"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cur := base
			tc.change(&cur)
			err := cur.compatible(&base)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("compatible: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrCheckpointMismatch) {
				t.Fatalf("want ErrCheckpointMismatch, got %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q lacks %q", err, w)
				}
			}
			if strings.ContainsAny(err.Error(), "{}") {
				t.Errorf("%q prints structs", err)
			}
		})
	}
}

// TestMemoryCheck: train --dim 100000 died with Go's "fatal error:
// runtime: out of memory". The table, optimizer, dense-net and step
// memory is estimated before anything is allocated and a run that does
// not fit the available memory (here a fake limit) is refused, naming the
// sizes.
func TestMemoryCheck(t *testing.T) {
	data := genData(t, 2000)
	real := availableMemory
	defer func() { availableMemory = real }()
	tests := []struct {
		name  string
		cfg   Config
		limit int64
		want  []string // nil: trains
	}{
		{"full table over the limit", Config{Model: "lr", Table: "full", Dim: 64}, 1 << 20,
			[]string{"--table full at --dim 64 needs about", "more than the 1.00MiB this machine has available"}},
		{"full table fits", Config{Model: "lr", Table: "full", Dim: 4}, 1 << 30, nil},
		{"the budget is what a hashed table takes", Config{Model: "lr", Table: "hashed", Dim: 64, MemoryBudget: 64 << 10}, 16 << 20, nil},
		{"optimizer state counts", Config{Model: "lr", Table: "hashed", Dim: 64, MemoryBudget: 2 << 20, Optimizer: "lazy_adam", Batch: 8}, 4 << 20,
			[]string{"lazy_adam state 4.0"}},
		{"dense net counts", Config{Model: "dcnv2", Table: "hashed", Dim: 32, MemoryBudget: 64 << 10, Batch: 8}, 8 << 20,
			[]string{"dense net 3"}},
		{"no limit known: no check", Config{Model: "lr", Table: "full", Dim: 4}, -1, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			availableMemory = func() (int64, bool) { return tc.limit, tc.limit >= 0 }
			cfg := tc.cfg
			cfg.Data, cfg.Threads = data, 2
			if cfg.Batch == 0 {
				cfg.Batch = 500
			}
			_, err := Train(context.Background(), cfg, Options{})
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrNotEnoughMemory) {
				t.Fatalf("want ErrNotEnoughMemory, got %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q lacks %q", err, w)
				}
			}
		})
	}
	// The real machine's memory: a table of many terabytes is refused
	// before it is allocated (this test would otherwise die).
	availableMemory = real
	if _, ok := real(); !ok {
		t.Skip("available memory unknown here")
	}
	if _, err := Train(context.Background(), Config{Data: data, Model: "lr", Dim: 100_000_000, Batch: 500}, Options{}); !errors.Is(err, ErrNotEnoughMemory) {
		t.Fatalf("--dim 1e8: want ErrNotEnoughMemory, got %v", err)
	}
}

// TestAvailableMemory reads this machine's available memory (Linux).
func TestAvailableMemory(t *testing.T) {
	n, ok := availableMemory()
	if runtime.GOOS != "linux" {
		t.Skip("not Linux")
	}
	if !ok || n <= 0 {
		t.Fatalf("availableMemory() = %d, %v", n, ok)
	}
}

// TestResumeAtEpochEnd: a run killed after a step checkpoint that falls on
// the epoch's last batch (and before the epoch-end checkpoint) resumed with
// Limit 0, "to the end": it trained the epoch again on the rows after the
// training split, the test rows. Found by cmd/train's TestKill9Resume.
func TestResumeAtEpochEnd(t *testing.T) {
	tests := []struct {
		name        string
		rows        int64 // train rows: 90%
		every, stop int64
	}{
		{"exact batches", 5000, 3, 9},      // 4500 rows: 9 batches of 500
		{"short last batch", 5112, 10, 10}, // 4601 rows: 10 batches, the last of 101
		{"second epoch end", 5000, 3, 18},  // the last batch of epoch 2
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := genData(t, tc.rows)
			cfg := Config{Data: data, Model: "lr", Dim: 4, Batch: 500, Epochs: 2, Threads: 2, CheckpointEvery: tc.every, LogEvery: 1}
			cfg.Out = t.TempDir()
			want, err := Train(context.Background(), cfg, Options{})
			if err != nil {
				t.Fatal(err)
			}
			wantLog := metricSteps(t, cfg.Out)
			cfg.Out = t.TempDir()
			if _, err := Train(context.Background(), cfg, Options{StopAfterSteps: tc.stop}); !errors.Is(err, ErrStopped) {
				t.Fatalf("want ErrStopped, got %v", err)
			}
			got, err := Train(context.Background(), cfg, Options{Resume: true})
			if err != nil {
				t.Fatal(err)
			}
			if !got.Resumed || !sameResult(got, want) {
				t.Errorf("resumed: steps %d, AUC %v, train logloss %v; uninterrupted: steps %d, AUC %v, train logloss %v",
					got.Steps, got.TestAUC, got.TrainLogLoss, want.Steps, want.TestAUC, want.TrainLogLoss)
			}
			if gotLog := metricSteps(t, cfg.Out); !slices.Equal(gotLog, wantLog) {
				t.Errorf("resumed metrics.jsonl logs %v; uninterrupted %v", gotLog, wantLog)
			}
		})
	}
}

// TestValidationSplit: --valid-fraction holds out the rows before the
// test rows (by order, by time, or the last rows of Data when there is
// --test-data), --valid-data reads a file; each epoch is evaluated on
// the validation set and the test set only after the last epoch (the
// metrics file has test figures once), and result and resume keep both.
func TestValidationSplit(t *testing.T) {
	data := genData(t, 3000)
	avazu, ts := writeAvazu(t, 2000)
	sorted := slices.Clone(ts)
	slices.Sort(sorted)
	validCut, testCut := sorted[int(2000*0.7)], sorted[int(2000*0.9)]
	var timeTrain, timeValid, timeTest int64
	for _, v := range ts {
		switch {
		case v < validCut:
			timeTrain++
		case v < testCut:
			timeValid++
		default:
			timeTest++
		}
	}
	for _, tc := range []struct {
		name               string
		cfg                Config
		train, valid, test int64
	}{
		{"order", Config{Data: data, ValidFraction: 0.2}, 2100, 600, 300},
		{"test data", Config{Data: data, TestData: data, MaxRows: 1000, ValidFraction: 0.1}, 900, 100, 3000},
		{"valid data", Config{Data: data, ValidData: data}, 2700, 3000, 300},
		{"time", Config{Data: avazu, Format: "avazu", Split: "time", ValidFraction: 0.2}, timeTrain, timeValid, timeTest},
		{"none", Config{Data: data}, 2700, 0, 300},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Model, cfg.Dim, cfg.Batch, cfg.Threads, cfg.Epochs = "lr", 4, 256, 1, 2
			cfg.Out = t.TempDir()
			res, err := Train(context.Background(), cfg, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if res.TrainRows != tc.train || res.ValidRows != tc.valid || res.TestRows != tc.test {
				t.Fatalf("train/valid/test rows %d/%d/%d, want %d/%d/%d", res.TrainRows, res.ValidRows, res.TestRows,
					tc.train, tc.valid, tc.test)
			}
			if (res.ValidAUC > 0) != (tc.valid > 0) || res.TestAUC <= 0 || res.TestAUCCI[0] > res.TestAUC || res.TestAUCCI[1] < res.TestAUC {
				t.Fatalf("valid AUC %v, test AUC %v %v", res.ValidAUC, res.TestAUC, res.TestAUCCI)
			}
			b, err := os.ReadFile(filepath.Join(cfg.Out, MetricsFile))
			if err != nil {
				t.Fatal(err)
			}
			var evals, tests int
			for _, line := range strings.Split(string(b), "\n") {
				if strings.Contains(line, `"kind":"eval"`) {
					evals++
					if strings.Contains(line, `"test_auc"`) {
						tests++
					}
				}
			}
			wantTests := 1
			if tc.valid == 0 {
				wantTests = 2 // no validation set: the test set after each epoch, as before
			}
			if evals != 2 || tests != wantTests {
				t.Errorf("%d evaluations, %d with test figures; want 2 and %d", evals, tests, wantTests)
			}
			again, err := Train(context.Background(), cfg, Options{Resume: true})
			if err != nil {
				t.Fatal(err)
			}
			if !again.AlreadyComplete || again.ValidAUC != res.ValidAUC || again.ValidRows != res.ValidRows || again.TestAUC != res.TestAUC {
				t.Errorf("resumed result %+v, want the stored one", again)
			}
		})
	}
	for _, bad := range []Config{
		{Data: data, ValidFraction: 0.95},
		{Data: data, ValidFraction: -0.1},
		{Data: data, ValidFraction: 0.1, ValidData: data},
	} {
		bad.Model, bad.Dim = "lr", 4
		if _, err := Train(context.Background(), bad, Options{}); err == nil {
			t.Errorf("%+v: accepted", bad)
		}
	}
}

// TestTrainTextFormats trains on the same learnable data written as a
// categorical CSV (custom label and a dense column), as libsvm mapped by
// field offsets and as libffm: each run must read every row and learn.
func TestTrainTextFormats(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(7, 9))
	const rows = 3000
	var csv, svm, ffm strings.Builder
	csv.WriteString("click,user,item,age\n")
	for i := 0; i < rows; i++ {
		u, it := rng.IntN(50), rng.IntN(40)
		label := 0
		if (u%2 == 0) != (it%3 == 0) { // learnable from the two fields
			label = 1
		}
		if rng.Float64() < 0.05 {
			label = 1 - label
		}
		fmt.Fprintf(&csv, "%d,u%d,%d,%d\n", label, u, it, rng.IntN(90))
		fmt.Fprintf(&svm, "%d %d:1 %d:1\n", label, u, 100+it)
		fmt.Fprintf(&ffm, "%d 1:%d:1 0:%d:1\n", label, it, u)
	}
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	offsets := write("offsets.txt", "user 0\nitem 100\n")
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		// dlrm needs a dense feature: age, noise, read as one.
		{"csv", Config{Data: write("d.csv", csv.String()), Label: "click", DenseColumns: []string{"age"}, Model: "dlrm"}},
		{"csv age categorical", Config{Data: write("d.csv", csv.String()), Label: "click"}},
		// FM's dense vector must not swamp the field interactions (it did,
		// AUC 0.65, with a default-initialised projection).
		{"csv fm dense", Config{Data: write("d.csv", csv.String()), Label: "click", DenseColumns: []string{"age"}}},
		{"csv deepfm dense", Config{Data: write("d.csv", csv.String()), Label: "click", DenseColumns: []string{"age"}, Model: "deepfm"}},
		{"libsvm", Config{Data: write("d.libsvm", svm.String()), FieldOffsets: offsets}},
		{"libffm", Config{Data: write("d.ffm", ffm.String()), Fields: []string{"user", "item"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			if cfg.Model == "" {
				cfg.Model = "fm"
			}
			cfg.Dim, cfg.Batch, cfg.Threads, cfg.Epochs, cfg.EmbLR = 4, 128, 1, 4, 0.1
			cfg.Out = t.TempDir()
			res, err := Train(context.Background(), cfg, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if res.TrainRows+res.TestRows != rows || res.TestAUC < 0.85 {
				t.Fatalf("%d+%d rows (want %d), test AUC %.4f (want >= 0.85)", res.TrainRows, res.TestRows, rows, res.TestAUC)
			}
			if _, err := os.Stat(filepath.Join(cfg.Out, "model")); err != nil {
				t.Fatalf("no served model: %v", err)
			}
		})
	}
	// A label column the file lacks is an error naming the file.
	_, err := Train(context.Background(), Config{Data: filepath.Join(dir, "d.csv"), Model: "lr", Threads: 1}, Options{})
	if err == nil || !strings.Contains(err.Error(), `no label column "label"`) || !strings.Contains(err.Error(), "d.csv") {
		t.Fatalf("missing label: %v", err)
	}
	// dlrm on data without dense features names the models that fit.
	_, err = Train(context.Background(), Config{Data: filepath.Join(dir, "d.libsvm"), FieldOffsets: offsets, Model: "dlrm", Threads: 1}, Options{})
	if err == nil || !strings.Contains(err.Error(), "needs dense features") || !strings.Contains(err.Error(), "--model fm") {
		t.Fatalf("dlrm without dense features: %v", err)
	}
}
