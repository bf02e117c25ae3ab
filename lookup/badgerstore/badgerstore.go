// Package badgerstore is the embedded persistent lookup store: the rows of
// an artifact in a BadgerDB (github.com/dgraph-io/badger/v4) directory,
// one key per row, with online row updates. Registered as "badger".
//
// # Layout
//
// Each artifact gets its own database in <Config.Path>/<artifact ID>, so
// reloading a new artifact never mixes rows of two models. Row (set, row)
// is stored under the 9-byte key 'r' + set (uint32 big-endian) + row
// (uint32 big-endian), its value the row encoded with the artifact's codec
// (the bytes of the table file, without padding). The key "m/artifact"
// holds a JSON record of the artifact written after every row has been
// loaded and synced: a database without it is an interrupted load and is
// loaded again.
//
// # Durability
//
// Put writes its rows in one transaction and syncs the value log before
// it returns, so updates survive a crash or restart; reopening the same
// artifact keeps them. Reads see committed rows only.
//
// # Reloads and online updates
//
// Within a process, Open of an artifact whose database is already open
// (a reload of the same artifact, while the old model still serves its
// last requests) shares the open database instead of opening it again,
// which badger's directory lock forbids; the database closes when its
// last Store does. Online updates belong to one artifact id: a reload of
// the same artifact keeps serving them, a new artifact (another id) gets
// its own database loaded from its own rows, and the old artifact's
// updates are not carried over (they stay in the old artifact's
// database, served again if that artifact is). Updates that must outlive
// an artifact go into the training data and the next artifact.
//
// # Caveats
//
// Databases of artifacts no longer served are not removed: delete their
// directories. One process at a time may open a database (badger's
// directory lock).
package badgerstore

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"github.com/embtab/embtab/artifact"
	"github.com/embtab/embtab/lookup"
	"github.com/embtab/embtab/quant"
)

// Name is the store's registered name.
const Name = "badger"

func init() {
	lookup.Register(Name, func(ctx context.Context, a *artifact.Artifact, cfg lookup.Config) (lookup.Store, error) {
		return Open(ctx, a, Options{Dir: cfg.Path, Logger: cfg.Logger})
	})
}

// metaKey holds the record of a completely loaded artifact.
var metaKey = []byte("m/artifact")

// meta is the record under metaKey.
type meta struct {
	ID    string `json:"id"`
	Codec string `json:"codec"`
	Width int    `json:"width"`
	Rows  []int  `json:"rows"`
}

// Options configure Open.
type Options struct {
	// Dir is the parent directory of the per-artifact databases
	// (required).
	Dir string
	// Logger receives badger's messages (its info lines at debug level);
	// nil discards them.
	Logger *slog.Logger
	// MemTableSize and BlockCacheSize override badger's defaults (bytes);
	// 0 keeps this package's defaults, 16 MiB and 64 MiB.
	MemTableSize, BlockCacheSize int64
}

// shared holds the databases this process has open, by directory, with
// the number of Stores using each: a second Open of the same directory
// shares the database (badger's directory lock refuses a second open).
var shared = struct {
	sync.Mutex
	dbs map[string]*sharedDB
}{dbs: map[string]*sharedDB{}}

type sharedDB struct {
	db   *badger.DB
	refs int
}

// release drops the Store's reference to the database in dir and closes it
// with the last one.
func release(dir string) error {
	shared.Lock()
	defer shared.Unlock()
	sd := shared.dbs[dir]
	if sd == nil {
		return nil
	}
	if sd.refs--; sd.refs > 0 {
		return nil
	}
	delete(shared.dbs, dir)
	return sd.db.Close()
}

// Store is a badger-backed lookup.Store and lookup.Writer.
type Store struct {
	dir    string
	db     *badger.DB
	codec  quant.Codec
	width  int
	widths []int // floats per row of each set (lookup.SetWidths)
	rows   []int
	mu     sync.RWMutex // Close waits for reads and writes in flight
	done   bool
}

// Open opens (creating and loading it if needed) the database of artifact
// a under opt.Dir.
func Open(ctx context.Context, a *artifact.Artifact, opt Options) (*Store, error) {
	if opt.Dir == "" {
		return nil, errors.New("badger store: no directory (set the store path)")
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := a.Manifest()
	dir := filepath.Join(opt.Dir, m.ID)
	bo := badger.DefaultOptions(dir).
		WithLogger(badgerLogger{log}).
		WithMemTableSize(16 << 20).
		WithNumMemtables(2).
		WithBlockCacheSize(64 << 20).
		WithNumCompactors(2).
		WithNumGoroutines(2).
		WithCompression(options.None). // float rows do not compress
		WithMetricsEnabled(false).
		WithDetectConflicts(false)
	if opt.MemTableSize > 0 {
		bo = bo.WithMemTableSize(opt.MemTableSize)
	}
	if opt.BlockCacheSize > 0 {
		bo = bo.WithBlockCacheSize(opt.BlockCacheSize)
	}
	// The registry stays locked until the database is loaded, so that a
	// second Open of the same directory finds it complete.
	shared.Lock()
	defer shared.Unlock()
	sd := shared.dbs[dir]
	reused := sd != nil
	if !reused {
		db, err := badger.Open(bo)
		if err != nil {
			return nil, fmt.Errorf("badger store %s: %w", dir, err)
		}
		sd = &sharedDB{db: db}
	}
	db := sd.db
	closeDB := func() {
		if !reused {
			db.Close()
		}
	}
	s := &Store{dir: dir, db: db, codec: a.Codec(), width: m.Table.Width, widths: lookup.SetWidths(m)}
	for _, t := range a.RowSets() {
		s.rows = append(s.rows, t.Len())
	}
	want := meta{ID: m.ID, Codec: m.Codec, Width: m.Table.Width, Rows: s.rows}
	have, err := s.meta()
	switch {
	case err == nil && !sameMeta(have, want):
		closeDB()
		return nil, fmt.Errorf("badger store %s holds artifact %+v, want %+v: %w", dir, have, want, artifact.ErrCorrupt)
	case errors.Is(err, badger.ErrKeyNotFound):
		start := time.Now()
		if err := s.load(ctx, a, want); err != nil {
			closeDB()
			return nil, fmt.Errorf("badger store %s: load artifact: %w", dir, err)
		}
		log.Info("badger store loaded", "dir", dir, "rows", total(s.rows), "seconds", time.Since(start).Seconds())
	case err != nil:
		closeDB()
		return nil, fmt.Errorf("badger store %s: %w", dir, err)
	case reused:
		log.Info("badger store shared with the open database of the same artifact", "dir", dir, "rows", total(s.rows))
	default:
		log.Info("badger store reopened", "dir", dir, "rows", total(s.rows))
	}
	sd.refs++
	shared.dbs[dir] = sd
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

func (s *Store) meta() (meta, error) {
	var m meta
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(metaKey)
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error { return json.Unmarshal(v, &m) })
	})
	return m, err
}

// load copies every row of a (its encoded bytes) into the database, syncs
// it, and then writes the meta record.
func (s *Store) load(ctx context.Context, a *artifact.Artifact, m meta) error {
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	for set, t := range a.RowSets() {
		for r := range t.Len() {
			if r%4096 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			// Set keeps the slices until the batch is flushed: copy the
			// row out of the mapped file.
			v := append([]byte(nil), t.Row(r)...)
			if err := wb.Set(key(lookup.Key{Set: uint32(set), Row: uint32(r)}), v); err != nil {
				return err
			}
		}
	}
	if err := wb.Flush(); err != nil {
		return err
	}
	js, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := s.db.Sync(); err != nil {
		return err
	}
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(metaKey, js) }); err != nil {
		return err
	}
	return s.db.Sync()
}

// key returns k's database key.
func key(k lookup.Key) []byte {
	b := make([]byte, 9)
	b[0] = 'r'
	binary.BigEndian.PutUint32(b[1:], k.Set)
	binary.BigEndian.PutUint32(b[5:], k.Row)
	return b
}

// Get implements lookup.Store: one read transaction for the batch.
func (s *Store) Get(ctx context.Context, keys []lookup.Key, out []float32) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := lookup.CheckGet(keys, out, s.width); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.done {
		return lookup.ErrClosed
	}
	w := s.width
	kb := make([]byte, 9)
	return s.db.View(func(txn *badger.Txn) error {
		for i, k := range keys {
			if i%64 == 63 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			kb[0] = 'r'
			binary.BigEndian.PutUint32(kb[1:], k.Set)
			binary.BigEndian.PutUint32(kb[5:], k.Row)
			item, err := txn.Get(kb)
			if errors.Is(err, badger.ErrKeyNotFound) {
				return fmt.Errorf("badger store: key %v: %w", k, lookup.ErrNotFound)
			}
			if err != nil {
				return fmt.Errorf("badger store: key %v: %w", k, err)
			}
			o := out[i*w : (i+1)*w]
			sw := w
			if int(k.Set) < len(s.widths) {
				sw = s.widths[k.Set]
			}
			err = item.Value(func(v []byte) error {
				return s.codec.DecodeRow(o[:sw], v)
			})
			clear(o[sw:]) // a set narrower than the table (per-field dims)
			if err != nil {
				return fmt.Errorf("badger store: key %v: %w", k, err)
			}
		}
		return nil
	})
}

// Put implements lookup.Writer: the rows are written in one transaction
// and synced. Keys outside the artifact's table give ErrNotFound and
// nothing is written.
func (s *Store) Put(ctx context.Context, keys []lookup.Key, rows []float32) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := lookup.CheckPut(keys, rows, s.width, s.widths); err != nil {
		return err
	}
	w := s.width
	vals := make([][]byte, len(keys))
	for i, k := range keys {
		if int(k.Set) >= len(s.rows) || int(k.Row) >= s.rows[k.Set] {
			return fmt.Errorf("badger store: put key %v: %w", k, lookup.ErrNotFound)
		}
		sw := s.widths[k.Set]
		vals[i] = make([]byte, s.codec.RowBytes(sw))
		if err := s.codec.EncodeRow(vals[i], rows[i*w:i*w+sw]); err != nil {
			return fmt.Errorf("badger store: put key %v: %w", k, err)
		}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.done {
		return lookup.ErrClosed
	}
	err := s.db.Update(func(txn *badger.Txn) error {
		for i, k := range keys {
			if err := txn.Set(key(k), vals[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("badger store: put %d rows: %w", len(keys), err)
	}
	if err := s.db.Sync(); err != nil {
		return fmt.Errorf("badger store: sync: %w", err)
	}
	return nil
}

// Close waits for the reads and writes in flight and releases the
// database, which closes when no other Store of this process shares it.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return nil
	}
	s.done = true
	return release(s.dir)
}

// badgerLogger sends badger's log lines to slog; its chatty info lines go
// to debug.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any) {
	b.l.Error(trim(fmt.Sprintf(f, a...)), "component", "badger")
}
func (b badgerLogger) Warningf(f string, a ...any) {
	b.l.Warn(trim(fmt.Sprintf(f, a...)), "component", "badger")
}
func (b badgerLogger) Infof(f string, a ...any) {
	b.l.Debug(trim(fmt.Sprintf(f, a...)), "component", "badger")
}
func (b badgerLogger) Debugf(f string, a ...any) {
	b.l.Debug(trim(fmt.Sprintf(f, a...)), "component", "badger")
}

func trim(s string) string {
	for len(s) > 0 && s[len(s)-1] == '\n' {
		s = s[:len(s)-1]
	}
	return s
}

var (
	_ lookup.Store  = (*Store)(nil)
	_ lookup.Writer = (*Store)(nil)
)
