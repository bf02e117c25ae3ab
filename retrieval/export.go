package retrieval

import (
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"

	"github.com/parquet-go/parquet-go"

	"github.com/embtab/embtab/ann"
	"github.com/embtab/embtab/ann/vecfile"
	"github.com/embtab/embtab/artifact"
	"github.com/embtab/embtab/atomicfile"
)

// VectorRow is one row of an exported Parquet vector file: the entity's
// position (the row of the .fvecs/.npy files), its raw key and its vector.
type VectorRow struct {
	ID     int64     `parquet:"id"`
	Key    string    `parquet:"key"`
	Vector []float32 `parquet:"vector,list"`
}

// ExportedFile is a file written by ExportVectors: name, size, CRC-32C.
type ExportedFile struct {
	Name   string `json:"name"`
	Bytes  int64  `json:"bytes"`
	CRC32C uint32 `json:"crc32c"`
}

// VectorsManifest describes the files of ExportVectors; it is written as
// vectors.json beside them.
type VectorsManifest struct {
	Dim   int            `json:"dim"`
	Users int            `json:"users"`
	Items int            `json:"items"`
	Files []ExportedFile `json:"files"`
}

// VectorsManifestFile names the description ExportVectors writes.
const VectorsManifestFile = "vectors.json"

// ExportVectors writes the user and item vectors (rows of dim values, in
// the order of users and items) to dir as users.fvecs, users.npy,
// users.parquet, items.fvecs, items.npy and items.parquet, each
// atomically (temporary file, fsync, rename), and vectors.json listing
// them with their sizes and CRC-32C.
func ExportVectors(dir string, users, items []Entity, uv, iv []float32, dim int) (*VectorsManifest, error) {
	if len(uv) != len(users)*dim || len(iv) != len(items)*dim {
		return nil, fmt.Errorf("export vectors: %d user and %d item values for %d users and %d items of dim %d",
			len(uv), len(iv), len(users), len(items), dim)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("export vectors: %w", err)
	}
	vm := &VectorsManifest{Dim: dim, Users: len(users), Items: len(items)}
	for _, set := range []struct {
		name string
		list []Entity
		vecs []float32
	}{{"users", users, uv}, {"items", items, iv}} {
		writers := []struct {
			ext string
			w   func(io.Writer) error
		}{
			{".fvecs", func(w io.Writer) error { return vecfile.WriteFvecs(w, set.vecs, dim) }},
			{".npy", func(w io.Writer) error { return vecfile.WriteNpy(w, set.vecs, dim) }},
			{".parquet", func(w io.Writer) error { return writeVectorParquet(w, set.list, set.vecs, dim) }},
		}
		for _, x := range writers {
			f, err := writeChecked(filepath.Join(dir, set.name+x.ext), x.w)
			if err != nil {
				return nil, fmt.Errorf("export vectors: %w", err)
			}
			vm.Files = append(vm.Files, f)
		}
	}
	js, err := json.MarshalIndent(vm, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("export vectors: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(dir, VectorsManifestFile), func(w io.Writer) error {
		_, err := w.Write(append(js, '\n'))
		return err
	}); err != nil {
		return nil, fmt.Errorf("export vectors: %w", err)
	}
	return vm, nil
}

// writeChecked writes path atomically and returns its size and CRC-32C.
func writeChecked(path string, write func(io.Writer) error) (ExportedFile, error) {
	h := crc32.New(castagnoli)
	var n int64
	err := atomicfile.Write(path, func(w io.Writer) error {
		cw := &countingWriter{w: io.MultiWriter(w, h), n: &n}
		return write(cw)
	})
	if err != nil {
		return ExportedFile{}, err
	}
	return ExportedFile{Name: filepath.Base(path), Bytes: n, CRC32C: h.Sum32()}, nil
}

type countingWriter struct {
	w io.Writer
	n *int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	k, err := c.w.Write(p)
	*c.n += int64(k)
	return k, err
}

// writeVectorParquet writes one VectorRow per entity.
func writeVectorParquet(w io.Writer, list []Entity, vecs []float32, dim int) error {
	pw := parquet.NewGenericWriter[VectorRow](w)
	const chunk = 1024
	rows := make([]VectorRow, 0, chunk)
	for i, e := range list {
		rows = append(rows, VectorRow{ID: int64(i), Key: e.Key, Vector: vecs[i*dim : (i+1)*dim]})
		if len(rows) == chunk || i == len(list)-1 {
			if _, err := pw.Write(rows); err != nil {
				return fmt.Errorf("parquet: %w", err)
			}
			rows = rows[:0]
		}
	}
	if err := pw.Close(); err != nil {
		return fmt.Errorf("parquet: %w", err)
	}
	return nil
}

// The extra files of a two-tower artifact.
const (
	// IndexFile is the HNSW index of the item vectors (ann file format),
	// item i under id i, opened with ann.OpenMmap.
	IndexFile = "items.ann"
	// CatalogFile is the JSON Catalog: items with their field values,
	// and the keys of the known users.
	CatalogFile = "catalog.json"
	// ItemVectorsFile and UserVectorsFile hold the vectors (.fvecs), in
	// catalog order.
	ItemVectorsFile = "item_vectors.fvecs"
	UserVectorsFile = "user_vectors.fvecs"
)

// Catalog lists a two-tower artifact's items (with the values of the item
// fields, for filters) and its known users.
type Catalog struct {
	// ItemFields names the item tower's fields (Values order).
	ItemFields []string `json:"item_fields"`
	Items      []Entity `json:"items"`
	// Users are the keys of the users whose vectors are stored.
	Users []string `json:"users"`
	// Seen[u] lists the catalog positions of the items user Users[u]
	// interacted with in training (sorted), which retrieval for a known
	// user leaves out by default. Optional: artifacts written before it
	// have none (nothing to leave out); else one list per user.
	Seen [][]int32 `json:"seen,omitempty"`
}

// ExportArtifact writes m as a serving artifact at dir (replacing one
// there): m's table, the towers as the dense state, m.Towers' config as
// the model config, and as extra files the item index, the catalog and
// the user and item vectors (uv, iv: all users and items, in order).
// training is the run's configuration, kept for the record.
func ExportArtifact(dir string, m *Model, index *ann.Index, uv, iv []float32, training json.RawMessage) (*artifact.Manifest, error) {
	in := m.in
	model, err := json.Marshal(m.Towers.cfg)
	if err != nil {
		return nil, fmt.Errorf("export two-tower artifact: %w", err)
	}
	cat := Catalog{Items: in.Items, Users: make([]string, len(in.Users))}
	for _, f := range in.ItemFields {
		cat.ItemFields = append(cat.ItemFields, in.Schema.Categorical[f])
	}
	for i, u := range in.Users {
		cat.Users[i] = u.Key
	}
	if m.sp != nil {
		cat.Seen = make([][]int32, len(in.Users))
		for u := range cat.Seen {
			cat.Seen[u] = []int32{}
			if u < len(m.sp.Seen) && m.sp.Seen[u] != nil {
				cat.Seen[u] = m.sp.Seen[u]
			}
		}
	}
	catJSON, err := json.Marshal(cat)
	if err != nil {
		return nil, fmt.Errorf("export two-tower artifact: catalog: %w", err)
	}
	out := m.Config.Out
	man, err := artifact.Write(dir, artifact.Contents{
		Schema: in.Schema, HashSeed: m.Hasher.Seed(), Table: m.Table, Model: model, Training: training,
		Dense: m.Towers.Save,
		Extra: map[string]func(io.Writer) error{
			IndexFile:       index.Save,
			CatalogFile:     func(w io.Writer) error { _, err := w.Write(catJSON); return err },
			ItemVectorsFile: func(w io.Writer) error { return vecfile.WriteFvecs(w, iv, out) },
			UserVectorsFile: func(w io.Writer) error { return vecfile.WriteFvecs(w, uv, out) },
		},
	}, artifact.WriteOptions{Replace: true})
	if err != nil {
		return nil, fmt.Errorf("export two-tower artifact: %w", err)
	}
	return man, nil
}
