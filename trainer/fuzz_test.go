package trainer

import (
	"bytes"
	"encoding/binary"
	"errors"
	"github.com/embtab/embtab/densenet"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/multiplex"
)

// fuzzDenseState returns the saved dense state of a small native net.
func fuzzDenseState(tb testing.TB) []byte {
	tb.Helper()
	n, err := densenet.New(smallConfig(densenet.ModelDCNv2, 3))
	if err != nil {
		tb.Fatal(err)
	}
	defer n.Close()
	var b bytes.Buffer
	if err := n.Save(&b); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// addMutations adds s, two truncations of it and a few bit flips to f's
// seed corpus.
func addMutations(f *testing.F, s []byte) {
	f.Add(s)
	f.Add(s[:len(s)/2])
	f.Add(s[:len(s)-1])
	for _, at := range []int{9, 13, 17, len(s) / 3, len(s) - 5} {
		b := bytes.Clone(s)
		b[at] ^= 0x40
		f.Add(b)
	}
}

// FuzzReadDenseState feeds corrupt dense states to readDenseState: each
// must read or fail with densenet.ErrCorruptState, without panicking or allocating
// for lengths the input does not hold.
func FuzzReadDenseState(f *testing.F) {
	addMutations(f, fuzzDenseState(f))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := densenet.ReadState(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, densenet.ErrCorruptState) {
				t.Fatalf("error does not wrap densenet.ErrCorruptState: %v", err)
			}
			return
		}
		var b bytes.Buffer
		if err := densenet.WriteState(&b, s); err != nil {
			t.Fatalf("write back a state read: %v", err)
		}
		if _, err := densenet.ReadState(&b); err != nil {
			t.Fatalf("read back a state written: %v", err)
		}
	})
}

// fuzzCheckpoint returns the bytes of a checkpoint of a hashed table (or,
// with mux, a multiplexed one) and a native net.
func fuzzCheckpoint(tb testing.TB, mux bool) []byte {
	tb.Helper()
	var table stateSaver
	var err error
	if mux {
		table, err = multiplex.New(multiplex.Config{Method: multiplex.MethodMultiplex, Fields: 2, Dim: 3, Rows: []int{7},
			Optimizer: embedding.Optimizer{Name: embedding.RowwiseAdagrad, LR: 0.1}})
	} else {
		table, err = embedding.NewHashed(embedding.Config{Dim: 3, Rows: []int{5, 4},
			Optimizer: embedding.Optimizer{Name: embedding.LazyAdam, LR: 0.01}})
	}
	if err != nil {
		tb.Fatal(err)
	}
	net, err := densenet.New(smallConfig(densenet.ModelDCNv2, 3))
	if err != nil {
		tb.Fatal(err)
	}
	defer net.Close()
	path := filepath.Join(tb.TempDir(), CheckpointFile)
	meta := &ckptMeta{Config: Config{Model: densenet.ModelDCNv2, Dim: 3, Batch: 8, Epochs: 1}, Epoch: 1, Step: 4}
	if err := writeCheckpoint(path, meta, table, net); err != nil {
		tb.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// FuzzReadCheckpoint feeds corrupt checkpoint files to openCheckpoint
// and, when they pass it, the table state to loadAnyTable and the dense
// state to readDenseState. If fixCRC, the input's last 4 bytes are first
// replaced by its checksum, so that the fuzzer reaches the parsing behind
// it. Every failure must wrap the reader's corruption error.
func FuzzReadCheckpoint(f *testing.F) {
	for _, mux := range []bool{false, true} {
		s := fuzzCheckpoint(f, mux)
		for _, fix := range []bool{false, true} {
			f.Add(s, fix)
			f.Add(s[:len(s)/2], fix)
			for _, at := range []int{13, 16, 30, len(s) / 3, len(s) / 2, len(s) - 9} {
				b := bytes.Clone(s)
				b[at] ^= 0x40
				f.Add(b, fix)
			}
		}
	}
	path := filepath.Join(f.TempDir(), CheckpointFile)
	f.Fuzz(func(t *testing.T, data []byte, fixCRC bool) {
		if fixCRC && len(data) >= 4 {
			data = bytes.Clone(data)
			body := data[:len(data)-4]
			binary.LittleEndian.PutUint32(data[len(data)-4:], crc32.Checksum(body, castagnoli))
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		ck, err := openCheckpoint(path)
		if err != nil {
			if !errors.Is(err, ErrCheckpointCorrupt) && !errors.Is(err, ErrCheckpointVersion) {
				t.Fatalf("error wraps neither ErrCheckpointCorrupt nor ErrCheckpointVersion: %v", err)
			}
			return
		}
		defer ck.Close()
		if _, err := loadTable(ck.meta.Config.Table, ck.table); err != nil && !errors.Is(err, embedding.ErrCorrupt) &&
			!errors.Is(err, embedding.ErrBadMagic) && !errors.Is(err, embedding.ErrVersion) && !errors.Is(err, ErrCheckpointCorrupt) &&
			!errors.Is(err, embedding.ErrConfigMismatch) && !errors.Is(err, embedding.ErrUnknownMethod) {
			t.Fatalf("table state: error wraps no corruption error: %v", err)
		}
		if _, err := densenet.ReadState(io.NewSectionReader(ck.net, 0, ck.net.Size())); err != nil && !errors.Is(err, densenet.ErrCorruptState) {
			t.Fatalf("dense state: error does not wrap densenet.ErrCorruptState: %v", err)
		}
	})
}

// TestDenseStateHugeTensor checks that a state whose tensor claims 2^28
// floats it does not hold fails with densenet.ErrCorruptState having allocated
// little (it used to allocate the claimed gigabyte before reading).
func TestDenseStateHugeTensor(t *testing.T) {
	b := []byte("EMBTDNS\x00")
	b = binary.LittleEndian.AppendUint32(b, 1) // version
	b = binary.LittleEndian.AppendUint32(b, 2)
	b = append(b, "{}"...)
	b = binary.LittleEndian.AppendUint64(b, 0) // step
	b = binary.LittleEndian.AppendUint32(b, 1) // tensors
	b = binary.LittleEndian.AppendUint16(b, 1)
	b = append(b, 'w', 2) // name, rank
	b = binary.LittleEndian.AppendUint32(b, 1<<14)
	b = binary.LittleEndian.AppendUint32(b, 1<<14)
	b = append(b, make([]byte, 1000)...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := densenet.ReadState(bytes.NewReader(b))
	runtime.ReadMemStats(&after)
	if !errors.Is(err, densenet.ErrCorruptState) {
		t.Fatalf("got %v, want densenet.ErrCorruptState", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 16<<20 {
		t.Errorf("allocated %d bytes for a %d-byte state", n, len(b))
	}
}
