package trainer

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"

	"github.com/embtab/embtab/atomicfile"
)

// Checkpoint file layout (little-endian):
//
//	offset  size  field
//	0       8     magic "EMBTCKPT"
//	8       4     format version (1)
//	12      4     n = length of the JSON metadata
//	16      n     JSON ckptMeta (config, position in the data, counters)
//	        8     t = length of the embedding table state
//	        t     table state (embedding.Table Save format)
//	        8     d = length of the dense net state
//	        d     dense net state (DenseNet Save format)
//	        4     CRC-32C (Castagnoli) of every preceding byte
//
// Load checks the magic, then the version, then the checksum, and only then
// parses the contents, so a torn or foreign file is reported as such.
const (
	ckptMagic   = "EMBTCKPT"
	ckptVersion = 1
	// CheckpointFile is the checkpoint's name inside the output directory.
	CheckpointFile = "checkpoint.bin"
	// ResultFile is the run's result (Result and Config as JSON) inside the
	// output directory, and MetricsFile its JSON-lines training log.
	ResultFile  = "result.json"
	MetricsFile = "metrics.jsonl"
)

// Errors reported when loading a checkpoint, matched with errors.Is.
var (
	ErrCheckpointCorrupt  = errors.New("checkpoint is corrupt")
	ErrCheckpointVersion  = errors.New("checkpoint format version not supported")
	ErrCheckpointMismatch = errors.New("checkpoint does not match this run")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ckptMeta is the JSON part of a checkpoint.
type ckptMeta struct {
	Config Config `json:"config"`
	// Epoch is the 0-based epoch in progress and Batches the number of its
	// batches already trained; Step counts all batches trained.
	Epoch   int   `json:"epoch"`
	Batches int64 `json:"batches"`
	Step    int64 `json:"step"`
	Samples int64 `json:"samples"`
	// LossSum and LossN accumulate the epoch's training loss.
	LossSum float64 `json:"loss_sum"`
	LossN   int64   `json:"loss_n"`
	// TrainSeconds is the training time spent before this checkpoint.
	TrainSeconds float64 `json:"train_seconds"`
	// MetricsBytes is the length of metrics.jsonl when the checkpoint was
	// written: a resume truncates the file to it, so the steps it replays
	// are not logged twice (nil in older checkpoints: append).
	MetricsBytes *int64 `json:"metrics_bytes,omitempty"`
	// Eval is the last evaluation (after epoch Epoch, 1-based), so that a
	// resume of a finished run reports it instead of zeros.
	Eval *evalRecord `json:"eval,omitempty"`
}

// evalRecord is one epoch's evaluation as a checkpoint keeps it.
type evalRecord struct {
	TrainLogLoss float64    `json:"train_logloss"`
	TestAUC      float64    `json:"test_auc"`
	TestLogLoss  float64    `json:"test_logloss"`
	TestRows     int64      `json:"test_rows"`
	TestAUCSE    float64    `json:"test_auc_se,omitempty"`
	TestAUCCI    [2]float64 `json:"test_auc_ci"`
	ValidAUC     float64    `json:"valid_auc,omitempty"`
	ValidAUCSE   float64    `json:"valid_auc_se,omitempty"`
	ValidAUCCI   [2]float64 `json:"valid_auc_ci"`
	ValidLogLoss float64    `json:"valid_logloss,omitempty"`
	ValidRows    int64      `json:"valid_rows,omitempty"`
}

// stateSaver is implemented by tables and dense nets that can be
// checkpointed.
type stateSaver interface {
	Save(w io.Writer) error
	Load(r io.Reader) error
}

// countWriter counts the bytes written through it to w (nil: discarded).
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	if c.w == nil {
		c.n += int64(len(p))
		return len(p), nil
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// writeCheckpoint writes meta and the states of table and net to path,
// streaming: each state is saved once to count its length (the layout puts
// the length first) and once into the file, through the CRC, so memory
// stays at the writer's buffers whatever the table's size. The file is
// written atomically (atomicfile: temporary file, fsync, rename, directory
// fsync).
func writeCheckpoint(path string, meta *ckptMeta, table, net stateSaver) error {
	mj, err := json.Marshal(meta)
	if err != nil {
		return fmt.Errorf("checkpoint metadata: %w", err)
	}
	parts := []struct {
		name string
		s    stateSaver
		n    int64
	}{{name: "embedding table", s: table}, {name: "dense net", s: net}}
	for i := range parts {
		var c countWriter
		if err := parts[i].s.Save(&c); err != nil {
			return fmt.Errorf("checkpoint %s: %w", parts[i].name, err)
		}
		parts[i].n = c.n
	}
	return atomicfile.Write(path, func(w io.Writer) error {
		h := crc32.New(castagnoli)
		mw := io.MultiWriter(w, h)
		hdr := append([]byte(ckptMagic), 0, 0, 0, 0, 0, 0, 0, 0)
		binary.LittleEndian.PutUint32(hdr[8:], ckptVersion)
		binary.LittleEndian.PutUint32(hdr[12:], uint32(len(mj)))
		if _, err := mw.Write(append(hdr, mj...)); err != nil {
			return fmt.Errorf("write checkpoint %s: %w", path, err)
		}
		for _, part := range parts {
			if _, err := mw.Write(binary.LittleEndian.AppendUint64(nil, uint64(part.n))); err != nil {
				return fmt.Errorf("write checkpoint %s: %w", path, err)
			}
			c := countWriter{w: mw}
			if err := part.s.Save(&c); err != nil {
				return fmt.Errorf("checkpoint %s: %w", part.name, err)
			}
			if c.n != part.n {
				return fmt.Errorf("checkpoint %s: saved %d bytes, then %d: the state changed while it was written", part.name, part.n, c.n)
			}
		}
		if _, err := w.Write(binary.LittleEndian.AppendUint32(nil, h.Sum32())); err != nil {
			return fmt.Errorf("write checkpoint %s: %w", path, err)
		}
		return nil
	})
}

// ckptFile is an open checkpoint whose magic, version and checksum have
// been checked: its metadata and readers of its two state sections, read
// from the file as they are consumed. Close it when done.
type ckptFile struct {
	f    *os.File
	meta *ckptMeta
	// table and net read the embedding table's and the dense net's states;
	// both are io.Seekers, so loaders know the bytes left.
	table, net *io.SectionReader
}

// Close closes the checkpoint file.
func (c *ckptFile) Close() error { return c.f.Close() }

// openCheckpoint opens and validates the checkpoint at path: the magic,
// then the version, then the CRC-32C of the whole body (one streaming pass
// over the file), and then the metadata and the section lengths. Nothing
// is held in memory but the metadata; the states are read from the file
// by whoever loads them.
func openCheckpoint(path string) (_ *ckptFile, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read checkpoint: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read checkpoint: %w", err)
	}
	size := fi.Size()
	corrupt := func(what string) error {
		return fmt.Errorf("%s: %w: %s", path, ErrCheckpointCorrupt, what)
	}
	var hdr [16]byte
	if size < 8+4+4+4 {
		return nil, corrupt("bad magic (not an embtab checkpoint)")
	}
	if _, err := f.ReadAt(hdr[:], 0); err != nil {
		return nil, fmt.Errorf("read checkpoint %s: %w", path, err)
	}
	if string(hdr[:8]) != ckptMagic {
		return nil, corrupt("bad magic (not an embtab checkpoint)")
	}
	if v := binary.LittleEndian.Uint32(hdr[8:]); v != ckptVersion {
		return nil, fmt.Errorf("%s: %w: version %d, this build reads %d", path, ErrCheckpointVersion, v, ckptVersion)
	}
	body := size - 4
	h := crc32.New(castagnoli)
	if _, err := io.CopyBuffer(h, io.NewSectionReader(f, 0, body), make([]byte, 1<<20)); err != nil {
		return nil, fmt.Errorf("read checkpoint %s: %w", path, err)
	}
	var sum [4]byte
	if _, err := f.ReadAt(sum[:], body); err != nil {
		return nil, fmt.Errorf("read checkpoint %s: %w", path, err)
	}
	if got, want := h.Sum32(), binary.LittleEndian.Uint32(sum[:]); got != want {
		return nil, corrupt(fmt.Sprintf("checksum %08x, stored %08x", got, want))
	}
	n := int64(binary.LittleEndian.Uint32(hdr[12:]))
	off := int64(16)
	if n > body-off {
		return nil, corrupt("metadata length out of range")
	}
	mj := make([]byte, n)
	if _, err := f.ReadAt(mj, off); err != nil {
		return nil, fmt.Errorf("read checkpoint %s: %w", path, err)
	}
	meta := new(ckptMeta)
	if err := json.Unmarshal(mj, meta); err != nil {
		return nil, corrupt("metadata: " + err.Error())
	}
	off += n
	var parts [2]*io.SectionReader
	for i := range parts {
		var l [8]byte
		if body-off < 8 {
			return nil, corrupt("truncated section")
		}
		if _, err := f.ReadAt(l[:], off); err != nil {
			return nil, fmt.Errorf("read checkpoint %s: %w", path, err)
		}
		off += 8
		ln := binary.LittleEndian.Uint64(l[:])
		if ln > uint64(body-off) {
			return nil, corrupt("section length out of range")
		}
		parts[i] = io.NewSectionReader(f, off, int64(ln))
		off += int64(ln)
	}
	if off != body {
		return nil, corrupt("trailing bytes")
	}
	return &ckptFile{f: f, meta: meta, table: parts[0], net: parts[1]}, nil
}

// removeStaleTemps removes the temporary files a crash (kill -9) can leave
// in dir while checkpoint.bin, result.json or dimplan.json are written
// (atomicfile's ".<name>.tmp-*", removed by atomicfile.CleanStale). Train
// calls it, resumed or not, when it opens the output directory: before
// any checkpoint or result, after a dimension search has written its plan
// (completely: what is left then is stale). A run directory has one
// writer at a time. (The artifact directory cleans its own leftovers when
// it is written.)
func removeStaleTemps(dir string) error {
	for _, name := range []string{CheckpointFile, ResultFile, PlanFile} {
		if _, err := atomicfile.CleanStale(filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	return nil
}
