// Package redisstore is the distributed lookup store: an artifact's rows
// in a Redis Cluster, one binary value per row, read with pipelined
// multi-key reads grouped by hash slot (github.com/redis/go-redis/v9).
// Registered as "redis". It is for tables too large for one machine's
// memory or disk, or shared by many servers; the mmap store is faster on
// one machine.
//
// # Keys
//
// Row (set, row) of artifact ID is the string key
// "<prefix>:<ID>:<set>:<row>" (prefix "embtab" by default), its value the
// row encoded with the artifact's codec. Rows spread over every slot of
// the cluster (the keys have no hash tag). A read of a batch groups its
// keys by slot (CRC16 mod 16384, as the cluster does), sends one MGET per
// slot, all in one pipeline, which the client splits per node and sends
// in parallel. "<prefix>:<ID>:meta" holds a JSON record of the artifact,
// written after every row: a store without it has not been loaded.
//
// # Loading
//
// Open loads the artifact's rows when its meta key is missing (unless
// Options.NoLoad), in pipelined SETs of LoadBatch rows. Several servers
// may load the same artifact at once: the writes are identical. Rows of
// old artifacts are not deleted: remove them with the prefix (or give
// keys a TTL by policy).
//
// # Online updates across artifacts
//
// Rows, updated ones included, are keyed by the artifact ID, so updates
// belong to one artifact, as in the badger store: a server that reloads
// the same artifact (or another server opening it) reads the updated
// rows, and a new artifact starts from its own trained rows (the server
// logs how many updated rows it leaves behind). Carrying updates to a new
// artifact would apply rows trained for other keys: the online trainer's
// deltas target an artifact ID.
//
// # Durability
//
// Put writes rows with SET in one pipeline; they are as durable as the
// cluster's persistence configuration makes them.
package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/embtab/embtab/artifact"
	"github.com/embtab/embtab/lookup"
	"github.com/embtab/embtab/quant"
)

// Name is the store's registered name.
const Name = "redis"

// DefaultPrefix is the key prefix when none is configured.
const DefaultPrefix = "embtab"

// LoadBatch is the number of rows per pipeline when loading an artifact.
const LoadBatch = 1024

func init() {
	lookup.Register(Name, func(ctx context.Context, a *artifact.Artifact, cfg lookup.Config) (lookup.Store, error) {
		return Open(ctx, a, Options{Addrs: cfg.Addrs, Prefix: cfg.Prefix, Logger: cfg.Logger})
	})
}

// Options configure Open.
type Options struct {
	// Addrs are seed addresses of the cluster (host:port; required).
	Addrs []string
	// Prefix namespaces the keys; empty means DefaultPrefix.
	Prefix string
	// NoLoad makes Open fail instead of loading an artifact the cluster
	// does not hold.
	NoLoad bool
	// Logger receives load progress; nil discards it.
	Logger *slog.Logger
	// Client overrides the cluster client options (Addrs is set from
	// Addrs); nil uses go-redis's defaults.
	Client *redis.ClusterOptions
}

// meta is the record under the meta key.
type meta struct {
	ID    string `json:"id"`
	Codec string `json:"codec"`
	Width int    `json:"width"`
	Rows  []int  `json:"rows"`
}

// Store is a Redis Cluster lookup.Store and lookup.Writer.
type Store struct {
	c      *redis.ClusterClient
	codec  quant.Codec
	width  int
	widths []int // floats per row of each set (lookup.SetWidths)
	rows   []int
	base   string // "<prefix>:<id>:"
	closed atomic.Bool
}

// Open connects to the cluster and, unless it holds the artifact already,
// loads a's rows into it.
func Open(ctx context.Context, a *artifact.Artifact, opt Options) (*Store, error) {
	if len(opt.Addrs) == 0 {
		return nil, errors.New("redis store: no cluster addresses")
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	prefix := opt.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	co := &redis.ClusterOptions{}
	if opt.Client != nil {
		*co = *opt.Client
	}
	co.Addrs = opt.Addrs
	m := a.Manifest()
	s := &Store{c: redis.NewClusterClient(co), codec: a.Codec(), width: m.Table.Width, widths: lookup.SetWidths(m),
		base: prefix + ":" + m.ID + ":"}
	for _, t := range a.RowSets() {
		s.rows = append(s.rows, t.Len())
	}
	want := meta{ID: m.ID, Codec: m.Codec, Width: m.Table.Width, Rows: s.rows}
	raw, err := s.c.Get(ctx, s.base+"meta").Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		if opt.NoLoad {
			s.c.Close()
			return nil, fmt.Errorf("redis store: artifact %s is not loaded (%s): %w", m.ID, s.base+"meta", lookup.ErrNotFound)
		}
		start := time.Now()
		if err := s.load(ctx, a, want); err != nil {
			s.c.Close()
			return nil, fmt.Errorf("redis store: load artifact %s: %w", m.ID, err)
		}
		log.Info("redis store loaded", "id", m.ID, "rows", total(s.rows), "seconds", time.Since(start).Seconds())
	case err != nil:
		s.c.Close()
		return nil, fmt.Errorf("redis store: %w", err)
	default:
		var have meta
		if err := json.Unmarshal(raw, &have); err != nil || !sameMeta(have, want) {
			s.c.Close()
			return nil, fmt.Errorf("redis store: %s holds %s, want %+v: %w", s.base+"meta", raw, want, artifact.ErrCorrupt)
		}
		log.Info("redis store attached", "id", m.ID, "rows", total(s.rows))
	}
	return s, nil
}

func total(rows []int) (n int) {
	for _, r := range rows {
		n += r
	}
	return n
}

func sameMeta(a, b meta) bool {
	if a.ID != b.ID || a.Codec != b.Codec || a.Width != b.Width || len(a.Rows) != len(b.Rows) {
		return false
	}
	for i := range a.Rows {
		if a.Rows[i] != b.Rows[i] {
			return false
		}
	}
	return true
}

// key returns the Redis key of k.
func (s *Store) key(k lookup.Key) string {
	b := make([]byte, 0, len(s.base)+22)
	b = append(b, s.base...)
	b = strconv.AppendUint(b, uint64(k.Set), 10)
	b = append(b, ':')
	b = strconv.AppendUint(b, uint64(k.Row), 10)
	return string(b)
}

// load writes every row, then the meta record.
func (s *Store) load(ctx context.Context, a *artifact.Artifact, m meta) error {
	for set, t := range a.RowSets() {
		for lo := 0; lo < t.Len(); lo += LoadBatch {
			pipe := s.c.Pipeline()
			for r := lo; r < min(lo+LoadBatch, t.Len()); r++ {
				pipe.Set(ctx, s.key(lookup.Key{Set: uint32(set), Row: uint32(r)}), t.Row(r), 0)
			}
			if _, err := pipe.Exec(ctx); err != nil {
				return fmt.Errorf("rows %d/[%d, %d): %w", set, lo, min(lo+LoadBatch, t.Len()), err)
			}
		}
	}
	js, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return s.c.Set(ctx, s.base+"meta", js, 0).Err()
}

// Get implements lookup.Store.
func (s *Store) Get(ctx context.Context, keys []lookup.Key, out []float32) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return lookup.ErrClosed
	}
	if err := lookup.CheckGet(keys, out, s.width); err != nil {
		return err
	}
	if len(keys) == 0 {
		return nil
	}
	// Group the keys by slot, in first-seen order of the slots.
	names := make([]string, len(keys))
	bySlot := make(map[uint16][]int, len(keys))
	var order []uint16
	for i, k := range keys {
		names[i] = s.key(k)
		sl := Slot(names[i])
		if _, ok := bySlot[sl]; !ok {
			order = append(order, sl)
		}
		bySlot[sl] = append(bySlot[sl], i)
	}
	pipe := s.c.Pipeline()
	cmds := make([]*redis.SliceCmd, len(order))
	args := make([]string, 0, len(keys))
	for j, sl := range order {
		idx := bySlot[sl]
		args = args[:0]
		for _, i := range idx {
			args = append(args, names[i])
		}
		cmds[j] = pipe.MGet(ctx, args...)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("redis store: read %d rows: %w", len(keys), err)
	}
	w := s.width
	for j, sl := range order {
		vals := cmds[j].Val()
		idx := bySlot[sl]
		if len(vals) != len(idx) {
			return fmt.Errorf("redis store: MGET of %d keys returned %d values", len(idx), len(vals))
		}
		for n, v := range vals {
			i := idx[n]
			str, ok := v.(string)
			if !ok {
				return fmt.Errorf("redis store: key %v (%s): %w", keys[i], names[i], lookup.ErrNotFound)
			}
			o := out[i*w : (i+1)*w]
			sw := w
			if k := keys[i]; int(k.Set) < len(s.widths) {
				sw = s.widths[k.Set]
			}
			if err := s.codec.DecodeRow(o[:sw], []byte(str)); err != nil {
				return fmt.Errorf("redis store: key %v (%s): %w", keys[i], names[i], err)
			}
			clear(o[sw:]) // a set narrower than the table (per-field dims)
		}
	}
	return nil
}

// Put implements lookup.Writer. Keys outside the artifact's table give
// ErrNotFound and nothing is written.
func (s *Store) Put(ctx context.Context, keys []lookup.Key, rows []float32) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return lookup.ErrClosed
	}
	if err := lookup.CheckPut(keys, rows, s.width, s.widths); err != nil {
		return err
	}
	w := s.width
	vals := make([][]byte, len(keys))
	for i, k := range keys {
		if int(k.Set) >= len(s.rows) || int(k.Row) >= s.rows[k.Set] {
			return fmt.Errorf("redis store: put key %v: %w", k, lookup.ErrNotFound)
		}
		sw := s.widths[k.Set]
		vals[i] = make([]byte, s.codec.RowBytes(sw))
		if err := s.codec.EncodeRow(vals[i], rows[i*w:i*w+sw]); err != nil {
			return fmt.Errorf("redis store: put key %v: %w", k, err)
		}
	}
	pipe := s.c.Pipeline()
	for i, k := range keys {
		pipe.Set(ctx, s.key(k), vals[i], 0)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("redis store: put %d rows: %w", len(keys), err)
	}
	return nil
}

// Close closes the client's connections.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return s.c.Close()
}

var (
	_ lookup.Store  = (*Store)(nil)
	_ lookup.Writer = (*Store)(nil)
)
