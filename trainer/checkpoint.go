package trainer

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"

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
)

// Errors reported when loading a checkpoint, matched with errors.Is.
var (
	ErrCheckpointCorrupt  = errors.New("checkpoint is corrupt")
	ErrCheckpointVersion  = errors.New("checkpoint format version not supported")
	ErrCheckpointMismatch = errors.New("checkpoint was written by a different configuration")
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
}

// stateSaver is implemented by tables and dense nets that can be
// checkpointed.
type stateSaver interface {
	Save(w io.Writer) error
	Load(r io.Reader) error
}

// writeCheckpoint writes meta and the states of table and net to path.
func writeCheckpoint(path string, meta *ckptMeta, table, net stateSaver) error {
	var buf bytes.Buffer
	buf.WriteString(ckptMagic)
	binary.Write(&buf, binary.LittleEndian, uint32(ckptVersion))
	mj, err := json.Marshal(meta)
	if err != nil {
		return fmt.Errorf("checkpoint metadata: %w", err)
	}
	binary.Write(&buf, binary.LittleEndian, uint32(len(mj)))
	buf.Write(mj)
	for _, part := range []struct {
		name string
		s    stateSaver
	}{{"embedding table", table}, {"dense net", net}} {
		var pb bytes.Buffer
		if err := part.s.Save(&pb); err != nil {
			return fmt.Errorf("checkpoint %s: %w", part.name, err)
		}
		binary.Write(&buf, binary.LittleEndian, uint64(pb.Len()))
		buf.Write(pb.Bytes())
	}
	binary.Write(&buf, binary.LittleEndian, crc32.Checksum(buf.Bytes(), castagnoli))
	return atomicfile.Write(path, func(w io.Writer) error {
		_, err := w.Write(buf.Bytes())
		return err
	})
}

// readCheckpoint validates the checkpoint at path and returns its metadata
// and the raw table and net states.
func readCheckpoint(path string) (meta *ckptMeta, table, net []byte, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("read checkpoint: %w", err)
	}
	corrupt := func(what string) error {
		return fmt.Errorf("%s: %w: %s", path, ErrCheckpointCorrupt, what)
	}
	if len(data) < 8+4+4+4 || string(data[:8]) != ckptMagic {
		return nil, nil, nil, corrupt("bad magic (not an embtab checkpoint)")
	}
	if v := binary.LittleEndian.Uint32(data[8:]); v != ckptVersion {
		return nil, nil, nil, fmt.Errorf("%s: %w: version %d, this build reads %d", path, ErrCheckpointVersion, v, ckptVersion)
	}
	body := data[:len(data)-4]
	if got, want := crc32.Checksum(body, castagnoli), binary.LittleEndian.Uint32(data[len(data)-4:]); got != want {
		return nil, nil, nil, corrupt(fmt.Sprintf("checksum %08x, stored %08x", got, want))
	}
	rest := body[12:]
	n := int(binary.LittleEndian.Uint32(rest))
	rest = rest[4:]
	if n > len(rest) {
		return nil, nil, nil, corrupt("metadata length out of range")
	}
	meta = new(ckptMeta)
	if err := json.Unmarshal(rest[:n], meta); err != nil {
		return nil, nil, nil, corrupt("metadata: " + err.Error())
	}
	rest = rest[n:]
	var parts [2][]byte
	for i := range parts {
		if len(rest) < 8 {
			return nil, nil, nil, corrupt("truncated section")
		}
		l := binary.LittleEndian.Uint64(rest)
		rest = rest[8:]
		if l > uint64(len(rest)) {
			return nil, nil, nil, corrupt("section length out of range")
		}
		parts[i], rest = rest[:l], rest[l:]
	}
	if len(rest) != 0 {
		return nil, nil, nil, corrupt("trailing bytes")
	}
	return meta, parts[0], parts[1], nil
}
