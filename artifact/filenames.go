package artifact

import "fmt"

// Every name an artifact uses on disk, in one place (as VictoriaMetrics'
// lib/storage/filenames.go). Names inside an artifact directory are plain
// file names: no separators, no "..".
const (
	// ManifestFile describes the artifact; it is written last, so a
	// directory without it is not an artifact.
	ManifestFile = "manifest.json"
	// DenseFile holds the dense network's state in the trainer's
	// GoMLXNet Save format.
	DenseFile = "dense.bin"
	// VocabFile maps the ids of full and hybrid tables to their rows.
	VocabFile = "vocab.bin"
	// rowsFilePattern names row set i's file: rows-000.emb, rows-001.emb...
	rowsFilePattern = "rows-%03d.emb"

	// TmpSuffix is appended to the artifact directory while it is built
	// (the tsdb convention); a directory with this suffix is an
	// unfinished write and may be deleted.
	TmpSuffix = ".tmp-for-creation"
	// oldSuffix names the replaced artifact between the swap and its
	// removal when Write replaces an existing directory.
	oldSuffix = ".tmp-for-deletion"
	// manifestTmp is the manifest's name before its rename.
	manifestTmp = ManifestFile + ".tmp"
)

// RowsFile returns the name of row set i's table file.
func RowsFile(i int) string { return fmt.Sprintf(rowsFilePattern, i) }
