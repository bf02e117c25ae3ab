package hotsketch

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// The state stream, little-endian:
//
//	magic "HOTSKT01"
//	config: buckets u32, capacity u32, threshold f32, decay f32,
//	        decay_every f64, seed u64
//	cursor: head u32, free u32, total f64, decays u64
//	slots:  buckets·4 × (key u64, score f32, handle u32)
//	ring:   capacity × u32
//	owners: capacity × (key u64, in use u8)
var magic = [8]byte{'H', 'O', 'T', 'S', 'K', 'T', '0', '1'}

const headerBytes = 8 + 4 + 4 + 4 + 4 + 8 + 8 + 4 + 4 + 8 + 8

func (s *Sketch) bodyBytes() int {
	return len(s.slots)*16 + s.cfg.Capacity*(4+9)
}

// Save writes the sketch's state: Load into a sketch of the same Config
// restores it exactly (the same answers and the same future).
func (s *Sketch) Save(w io.Writer) error {
	b := make([]byte, 0, headerBytes+s.bodyBytes())
	le := binary.LittleEndian
	b = append(b, magic[:]...)
	b = le.AppendUint32(b, uint32(s.cfg.Buckets))
	b = le.AppendUint32(b, uint32(s.cfg.Capacity))
	b = le.AppendUint32(b, math.Float32bits(s.cfg.Threshold))
	b = le.AppendUint32(b, math.Float32bits(s.cfg.Decay))
	b = le.AppendUint64(b, math.Float64bits(s.cfg.DecayEvery))
	b = le.AppendUint64(b, s.cfg.Seed)
	b = le.AppendUint32(b, uint32(s.head))
	b = le.AppendUint32(b, uint32(s.nfree))
	b = le.AppendUint64(b, math.Float64bits(s.total))
	b = le.AppendUint64(b, s.decays)
	for _, sl := range s.slots {
		b = le.AppendUint64(b, sl.key)
		b = le.AppendUint32(b, math.Float32bits(sl.score))
		b = le.AppendUint32(b, sl.handle)
	}
	for _, h := range s.ring {
		b = le.AppendUint32(b, h)
	}
	for h := range s.owner {
		b = le.AppendUint64(b, s.owner[h])
		u := byte(0)
		if s.inUse[h] {
			u = 1
		}
		b = append(b, u)
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("hotsketch: save: %w", err)
	}
	return nil
}

// Load restores a state that Save wrote from a sketch of the same Config.
// The errors wrap ErrCorrupt (a stream of another config, a truncated or
// inconsistent one) or the reader's error; on error the sketch is
// unchanged.
func (s *Sketch) Load(r io.Reader) error {
	b := make([]byte, headerBytes+s.bodyBytes())
	if _, err := io.ReadFull(r, b[:headerBytes]); err != nil {
		return fmt.Errorf("hotsketch: load header: %w: %w", ErrCorrupt, err)
	}
	if [8]byte(b[:8]) != magic {
		return fmt.Errorf("hotsketch: load: bad magic %q: %w", b[:8], ErrCorrupt)
	}
	le := binary.LittleEndian
	got := Config{Buckets: int(le.Uint32(b[8:])), Capacity: int(le.Uint32(b[12:])),
		Threshold: math.Float32frombits(le.Uint32(b[16:])), Decay: math.Float32frombits(le.Uint32(b[20:])),
		DecayEvery: math.Float64frombits(le.Uint64(b[24:])), Seed: le.Uint64(b[32:])}
	if got != s.cfg {
		return fmt.Errorf("hotsketch: load: saved config %+v, sketch %+v: %w", got, s.cfg, ErrCorrupt)
	}
	head, nfree := int(le.Uint32(b[40:])), int(le.Uint32(b[44:]))
	total, decays := math.Float64frombits(le.Uint64(b[48:])), le.Uint64(b[56:])
	if nfree > s.cfg.Capacity || (s.cfg.Capacity > 0 && head >= s.cfg.Capacity) || (s.cfg.Capacity == 0 && head != 0) ||
		!(total >= 0) {
		return fmt.Errorf("hotsketch: load: free queue %d at %d of %d, total %v: %w", nfree, head, s.cfg.Capacity, total, ErrCorrupt)
	}
	if _, err := io.ReadFull(r, b[headerBytes:]); err != nil {
		return fmt.Errorf("hotsketch: load state: %w: %w", ErrCorrupt, err)
	}
	p := b[headerBytes:]
	slots := make([]slot, len(s.slots))
	seen := make([]bool, s.cfg.Capacity)
	hot := 0
	for i := range slots {
		sl := slot{key: le.Uint64(p), score: math.Float32frombits(le.Uint32(p[8:])), handle: le.Uint32(p[12:])}
		p = p[16:]
		if !(sl.score >= 0) || (sl.handle != noHandle && (int(sl.handle) >= s.cfg.Capacity || seen[sl.handle] || sl.score == 0)) {
			return fmt.Errorf("hotsketch: load: slot %d %+v: %w", i, sl, ErrCorrupt)
		}
		if sl.handle != noHandle {
			seen[sl.handle] = true
			hot++
		}
		slots[i] = sl
	}
	if hot != s.cfg.Capacity-nfree {
		return fmt.Errorf("hotsketch: load: %d hot slots, %d handles in use: %w", hot, s.cfg.Capacity-nfree, ErrCorrupt)
	}
	ring := make([]uint32, s.cfg.Capacity)
	for i := range ring {
		ring[i] = le.Uint32(p)
		p = p[4:]
	}
	for k := range nfree {
		h := ring[(head+k)%len(ring)]
		if int(h) >= s.cfg.Capacity || seen[h] {
			return fmt.Errorf("hotsketch: load: free handle %d is in use or out of range: %w", h, ErrCorrupt)
		}
		seen[h] = true
	}
	owner, inUse := make([]uint64, s.cfg.Capacity), make([]bool, s.cfg.Capacity)
	for h := range owner {
		owner[h], inUse[h] = le.Uint64(p), p[8] == 1
		if p[8] > 1 {
			return fmt.Errorf("hotsketch: load: handle %d in-use byte %d: %w", h, p[8], ErrCorrupt)
		}
		p = p[9:]
	}
	used := 0
	for _, u := range inUse {
		if u {
			used++
		}
	}
	if used != hot {
		return fmt.Errorf("hotsketch: load: %d handles marked in use, %d hot slots: %w", used, hot, ErrCorrupt)
	}
	for i, sl := range slots {
		if sl.handle != noHandle && (!inUse[sl.handle] || owner[sl.handle] != sl.key) {
			return fmt.Errorf("hotsketch: load: slot %d holds handle %d that its owner table does not give it: %w", i, sl.handle, ErrCorrupt)
		}
	}
	copy(s.slots, slots)
	copy(s.ring, ring)
	copy(s.owner, owner)
	copy(s.inUse, inUse)
	s.head, s.nfree, s.total, s.decays = head, nfree, total, decays
	return nil
}
