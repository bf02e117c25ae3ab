package multiplex

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/embtab/embtab/embedding"
)

// Table methods, the values of Config.Method.
const (
	// MethodMultiplex is feature multiplexing: one table of Dim-float
	// rows shared by every field, one salted lookup per id.
	MethodMultiplex = "multiplex"
	// MethodUnified is Unified Embedding: field f concatenates Chunks[f]
	// salted lookups of ChunkDim floats from a pool of Tables shared
	// tables.
	MethodUnified = "unified"
	// MethodMultiProbe sums Probes salted lookups of Dim floats from one
	// shared table.
	MethodMultiProbe = "multiprobe"
)

// DefaultProbes is the number of probes of a multiprobe table when the
// Config gives none.
const DefaultProbes = 2

// Config describes a multiplexed table completely enough to rebuild it: a
// manifest stores it as JSON, and [New] (or, with the saved rows, [Load])
// turns it back into a table. [Table.Config] returns it with every default
// filled in.
//
// A config file ([LoadConfig]) usually gives only the shape — method,
// chunks, chunk_dim, tables, probes — and [ForBudget] fills in fields,
// dim and rows:
//
//	{"method": "unified", "chunk_dim": 8, "chunks": [4, 1, 2, 2], "tables": 2}
type Config struct {
	// Method is MethodMultiplex, MethodUnified or MethodMultiProbe.
	Method string `json:"method"`
	// Fields is the number of fields. For unified tables with Chunks it
	// may be 0 (it is then len(Chunks)).
	Fields int `json:"fields"`
	// Dim is the number of floats per id, [embedding.Table.Dim]. Unified:
	// at least max(Chunks)*ChunkDim (fields with fewer floats are
	// zero-padded); 0 means exactly that.
	Dim int `json:"dim"`
	// Rows is the number of rows of each table of the pool (one entry per
	// table: multiplex and multiprobe tables have one).
	Rows []int `json:"rows"`
	// Tables is the number of tables in the pool (unified only; 0 means
	// len(Rows), or 1). Chunks are placed on them round-robin.
	Tables int `json:"tables,omitempty"`
	// ChunkDim is the number of floats per chunk, the width of the pool's
	// rows (unified only; 0 means Dim/max(Chunks), or Dim/2 when Chunks
	// is empty and Dim is even, else Dim).
	ChunkDim int `json:"chunk_dim,omitempty"`
	// Chunks is the number of chunks (lookups) per field (unified only;
	// empty means Dim/ChunkDim for every field).
	Chunks []int `json:"chunks,omitempty"`
	// Probes is the number of summed probes per id (multiprobe only; 0
	// means DefaultProbes).
	Probes int `json:"probes,omitempty"`
	// Optimizer is the sparse row optimizer.
	Optimizer embedding.Optimizer `json:"optimizer"`
	// InitScale is the half-width of the uniform init; 0 means
	// embedding.DefaultInitScale. Every initial output value lies in
	// [-InitScale, InitScale] (multiprobe rows draw from a k-th of it).
	InitScale float32 `json:"init_scale,omitempty"`
	// Seed seeds the init: table p of the pool draws init stream 0 under
	// seed hashing.FieldSalt(Seed, p) (see [embedding.Rows.InitUniform]).
	Seed uint64 `json:"seed"`
	// Storage is the precision of the pool's rows during training, as
	// embedding.Config.Storage: embedding.StorageInt8, or "" (also for
	// embedding.StorageFP32) for float32.
	Storage string `json:"storage,omitempty"`
}

// WithDefaults validates c and returns a copy (sharing no slices with c)
// with its defaults filled in. The errors wrap [ErrConfig],
// [ErrUnknownMethod], [embedding.ErrTooManyRows] or
// [embedding.ErrUnknownOptimizer].
func (c Config) WithDefaults() (Config, error) {
	c, err := c.resolve()
	if err != nil {
		return c, err
	}
	opt, err := c.Optimizer.WithDefaults()
	if err != nil {
		return c, fmt.Errorf("%s table: %w", c.Method, err)
	}
	c.Optimizer = opt
	switch c.Storage {
	case "", embedding.StorageFP32:
		c.Storage = ""
	case embedding.StorageInt8, embedding.StorageALPT, embedding.StorageALPT4:
	default:
		return c, fmt.Errorf("%s table: storage %q: %w", c.Method, c.Storage, ErrConfig)
	}
	if c.InitScale == 0 {
		c.InitScale = embedding.DefaultInitScale
	}
	if !(c.InitScale > 0) || math.IsInf(float64(c.InitScale), 0) {
		return c, fmt.Errorf("%s table: init scale %v: %w", c.Method, c.InitScale, ErrConfig)
	}
	return c, nil
}

// resolve is WithDefaults without the optimizer and the init scale: it
// validates and fills in the shape (fields, dim, tables, chunks, probes)
// and checks the rows.
func (c Config) resolve() (Config, error) {
	c = c.clone()
	if err := c.checkShape(); err != nil {
		return c, err
	}
	m := c.Method
	if c.Fields == 0 && len(c.Chunks) > 0 {
		c.Fields = len(c.Chunks)
	}
	if c.Fields < 1 {
		return c, fmt.Errorf("%s table: %d fields: %w", m, c.Fields, ErrConfig)
	}
	switch m {
	case MethodMultiplex:
		c.Tables = max(c.Tables, 1)
	case MethodMultiProbe:
		c.Tables = max(c.Tables, 1)
		if c.Probes == 0 {
			c.Probes = DefaultProbes
		}
	case MethodUnified:
		if c.Tables == 0 {
			c.Tables = max(len(c.Rows), 1)
		}
		if err := c.resolveChunks(); err != nil {
			return c, err
		}
	}
	if c.Dim < 1 {
		return c, fmt.Errorf("%s table: dim %d: %w", m, c.Dim, ErrConfig)
	}
	if len(c.Rows) != c.Tables {
		return c, fmt.Errorf("%s table: %d row counts for %d tables: %w", m, len(c.Rows), c.Tables, ErrConfig)
	}
	var total int64
	for _, n := range c.Rows {
		if total += int64(n); n > embedding.MaxRows || total > embedding.MaxRows {
			return c, fmt.Errorf("%s table: more than %d rows: %w", m, embedding.MaxRows, embedding.ErrTooManyRows)
		}
	}
	return c, nil
}

// checkShape checks what can be checked of a config that may lack its
// fields, dim and rows: the method, signs, and settings that belong to
// another method.
func (c *Config) checkShape() error {
	m := c.Method
	switch m {
	case MethodMultiplex, MethodUnified, MethodMultiProbe:
	default:
		return fmt.Errorf("method %q: %w", m, ErrUnknownMethod)
	}
	if c.Fields < 0 || c.Dim < 0 || c.Tables < 0 || c.ChunkDim < 0 || c.Probes < 0 {
		return fmt.Errorf("%s table: fields %d, dim %d, tables %d, chunk_dim %d, probes %d must not be negative: %w",
			m, c.Fields, c.Dim, c.Tables, c.ChunkDim, c.Probes, ErrConfig)
	}
	for i, n := range c.Rows {
		if n < 1 {
			return fmt.Errorf("%s table: table %d has %d rows: %w", m, i, n, ErrConfig)
		}
	}
	for f, n := range c.Chunks {
		if n < 1 {
			return fmt.Errorf("%s table: field %d has %d chunks: %w", m, f, n, ErrConfig)
		}
	}
	if m != MethodUnified && (c.ChunkDim != 0 || c.Chunks != nil || c.Tables > 1) {
		return fmt.Errorf("%s table: chunk_dim, chunks and tables are for unified tables: %w", m, ErrConfig)
	}
	if m != MethodMultiProbe && c.Probes != 0 {
		return fmt.Errorf("%s table: probes are for multiprobe tables: %w", m, ErrConfig)
	}
	if len(c.Chunks) > 0 && c.Fields > 0 && len(c.Chunks) != c.Fields {
		return fmt.Errorf("%s table: %d chunk counts for %d fields: %w", m, len(c.Chunks), c.Fields, ErrConfig)
	}
	return nil
}

// resolveChunks fills a unified config's Chunks, ChunkDim and Dim.
func (c *Config) resolveChunks() error {
	if len(c.Chunks) == 0 {
		switch {
		case c.Dim < 1:
			return fmt.Errorf("unified table: dim %d: %w", c.Dim, ErrConfig)
		case c.ChunkDim == 0 && c.Dim%2 == 0:
			c.ChunkDim = c.Dim / 2
		case c.ChunkDim == 0:
			c.ChunkDim = c.Dim
		case c.Dim%c.ChunkDim != 0:
			return fmt.Errorf("unified table: dim %d is not a multiple of chunk_dim %d: %w", c.Dim, c.ChunkDim, ErrConfig)
		}
		c.Chunks = make([]int, c.Fields)
		for f := range c.Chunks {
			c.Chunks[f] = c.Dim / c.ChunkDim
		}
	}
	most := slices.Max(c.Chunks)
	if c.ChunkDim == 0 {
		if c.Dim < 1 || c.Dim%most != 0 {
			return fmt.Errorf("unified table: dim %d is not a multiple of the %d chunks of the widest field: %w",
				c.Dim, most, ErrConfig)
		}
		c.ChunkDim = c.Dim / most
	}
	if c.Dim == 0 {
		c.Dim = most * c.ChunkDim
	}
	if most*c.ChunkDim > c.Dim {
		return fmt.Errorf("unified table: %d chunks of %d floats exceed dim %d: %w", most, c.ChunkDim, c.Dim, ErrConfig)
	}
	slots := 0
	for _, n := range c.Chunks {
		slots += n
	}
	if c.Tables > slots {
		return fmt.Errorf("unified table: %d tables for %d chunks: %w", c.Tables, slots, ErrConfig)
	}
	return nil
}

// width returns the floats per row of the pool's tables (c with defaults).
func (c *Config) width() int {
	if c.Method == MethodUnified {
		return c.ChunkDim
	}
	return c.Dim
}

// ParamBytes returns the fp32 parameter bytes of the table c describes.
func (c Config) ParamBytes() int64 {
	var rows int64
	for _, n := range c.Rows {
		rows += int64(n)
	}
	w := c.Dim
	if c.Method == MethodUnified {
		w = c.ChunkDim
	}
	return rows * int64(w) * 4
}

func (c Config) clone() Config {
	c.Rows = slices.Clone(c.Rows)
	c.Chunks = slices.Clone(c.Chunks)
	return c
}

func (c Config) equal(o Config) bool {
	return c.Method == o.Method && c.Fields == o.Fields && c.Dim == o.Dim &&
		slices.Equal(c.Rows, o.Rows) && c.Tables == o.Tables && c.ChunkDim == o.ChunkDim &&
		slices.Equal(c.Chunks, o.Chunks) && c.Probes == o.Probes && c.Optimizer == o.Optimizer &&
		c.InitScale == o.InitScale && c.Seed == o.Seed && c.Storage == o.Storage
}

// ForBudget returns shape (a Config giving the method and, as it needs,
// chunks, chunk_dim, tables and probes) completed for fields fields of
// dimension dim, with the rows that fit budgetBytes of fp32 parameters,
// and defaults filled in. Shape's Fields and Dim may be 0; if set they
// must equal fields and dim. Its Rows are replaced. The optimizer and init
// scale are left as they are (New checks them and fills their defaults).
//
// The budget buys R = budget / (w*4) rows of w floats (w = ChunkDim for
// unified tables, else Dim), split evenly over the pool's tables (the
// first R mod Tables tables get one row more); each table needs one row,
// else the error wraps [embedding.ErrBudgetTooSmall]. The parameters thus
// never exceed the budget. Nothing is capped by cardinality: the shared
// table serves every field.
func ForBudget(budgetBytes int64, fields, dim int, shape Config) (Config, error) {
	c := shape.clone()
	if c.Fields != 0 && c.Fields != fields || c.Dim != 0 && c.Dim != dim {
		return c, fmt.Errorf("size %s table: shape has %d fields of dim %d, want %d of dim %d: %w",
			c.Method, c.Fields, c.Dim, fields, dim, ErrConfig)
	}
	if budgetBytes < 0 {
		return c, fmt.Errorf("size %s table: budget %d: %w", c.Method, budgetBytes, ErrConfig)
	}
	c.Fields, c.Dim = fields, dim
	tables := max(c.Tables, 1)
	c.Rows = make([]int, tables) // placeholders, to validate the shape
	for i := range c.Rows {
		c.Rows[i] = 1
	}
	c, err := c.resolve()
	if err != nil {
		return c, fmt.Errorf("size table: %w", err)
	}
	rows := budgetBytes / (int64(c.width()) * 4)
	if rows < int64(tables) {
		return c, fmt.Errorf("size %s table to %d bytes: %d rows of %d floats for %d tables: %w",
			c.Method, budgetBytes, rows, c.width(), tables, embedding.ErrBudgetTooSmall)
	}
	if rows > embedding.MaxRows {
		return c, fmt.Errorf("size %s table to %d bytes: %d rows: %w", c.Method, budgetBytes, rows, embedding.ErrTooManyRows)
	}
	for i := range c.Rows {
		c.Rows[i] = int(rows / int64(tables))
		if int64(i) < rows%int64(tables) {
			c.Rows[i]++
		}
	}
	return c, nil
}

// LoadConfig reads a Config from the JSON file at path. Unknown keys are
// errors. The config is checked as far as it goes (method, signs,
// settings of another method); fields, dim and rows may be missing, to be
// filled by [ForBudget]. The errors wrap [ErrConfig] or
// [ErrUnknownMethod], or the file's I/O error.
func LoadConfig(path string) (Config, error) {
	var c Config
	data, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("load multiplex config: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("load multiplex config %s: %w: %w", path, ErrConfig, err)
	}
	if dec.More() {
		return c, fmt.Errorf("load multiplex config %s: data after the object: %w", path, ErrConfig)
	}
	if err := c.checkShape(); err != nil {
		return c, fmt.Errorf("load multiplex config %s: %w", path, err)
	}
	return c, nil
}

// RegisterFlags defines flags on fs that set c's shape: prefix+"config"
// (a JSON file for [LoadConfig], which replaces c: give it first),
// prefix+"method", prefix+"chunks" (comma-separated), prefix+"chunk-dim",
// prefix+"tables" and prefix+"probes". Their defaults are c's values. A
// pflag.FlagSet takes them with AddGoFlagSet.
func (c *Config) RegisterFlags(fs *flag.FlagSet, prefix string) {
	fs.Func(prefix+"config", "JSON file with the multiplexed table's shape (method, chunks, chunk_dim, tables, probes); later flags override it",
		func(path string) error {
			lc, err := LoadConfig(path)
			if err != nil {
				return err
			}
			*c = lc
			return nil
		})
	fs.StringVar(&c.Method, prefix+"method", c.Method, "multiplexed table: multiplex (one shared table), unified (chunks from a pool of shared tables), multiprobe (summed probes)")
	fs.Var((*intList)(&c.Chunks), prefix+"chunks", "unified: chunks per field, comma-separated (default: dim/chunk_dim each)")
	fs.IntVar(&c.ChunkDim, prefix+"chunk-dim", c.ChunkDim, "unified: floats per chunk (default: dim/max(chunks), or dim/2)")
	fs.IntVar(&c.Tables, prefix+"tables", c.Tables, "unified: tables in the shared pool (default 1)")
	fs.IntVar(&c.Probes, prefix+"probes", c.Probes, "multiprobe: summed probes per id (default 2)")
}

// intList is a flag.Value of comma-separated ints.
type intList []int

func (l *intList) String() string {
	if l == nil {
		return ""
	}
	s := make([]string, len(*l))
	for i, n := range *l {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

func (l *intList) Set(v string) error {
	var out []int
	for _, s := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("chunks %q: %w", v, err)
		}
		out = append(out, n)
	}
	*l = out
	return nil
}
