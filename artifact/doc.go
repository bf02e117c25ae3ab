// Package artifact writes and reads model artifacts: the versioned
// directories that carry a trained CTR model from training to serving.
//
// An artifact holds everything a server needs to turn raw feature values
// into embeddings and click probabilities, and nothing it does not (no
// optimizer state: the trainer's checkpoint keeps that):
//
//	manifest.json   format version, id, dataset schema and field order,
//	                hash function and seed, table method and config, dims,
//	                codec, dense model config, every file's name, size
//	                and checksum, and a checksum of the manifest itself
//	rows-NNN.emb    one file per row set of the table (embedding.RowStore),
//	                rows quantized with the manifest's codec, packed from a
//	                64-byte-aligned offset, for mmap; sets of tables with
//	                per-field dims have their field's width (Table.SetWidth)
//	vocab.bin       full and hybrid tables: the id→row mapping, sorted for
//	                binary search in place
//	dense.bin       the dense net's state (trainer.GoMLXNet Save format)
//
// The byte layouts are specified in docs/format/artifact.md and next to the
// code that writes them (rowsfile.go, vocabfile.go, layout.go); every file
// name is in filenames.go.
//
// # Writing
//
// [Write] exports a table of package embedding or multiplex with its dense
// net; [Requantize] copies an artifact with its rows in another codec. Both
// build the directory under a temporary name, fsync every file, write the
// manifest last, rename the directory into place and fsync its parent, so
// a crash leaves the old artifact or the complete new one, never a torn
// one (see [Write]).
//
// # Reading
//
// [Open] maps the table files read-only and wraps them as quant tables
// without copying; it verifies the manifest's checksum, sizes, the files'
// checksums (optional for the mapped files, see [OpenOptions]), magic
// numbers and versions, and names the file at fault. Bad artifacts give
// errors wrapping [ErrCorrupt] or [ErrVersion].
//
// Turning ids into rows (the table method's mapping) is package lookup's
// job: this package only stores the method's config and vocabulary.
//
// # Checksums
//
// The manifest records each file's XXH3-64 keyed by the artifact's id,
// and its own checksum (manifest_xxh3, over its canonical encoding
// without that field, keyed by the id): a file copied in from another
// artifact (another run's dense.bin of the same size) is refused naming
// that file, and an edited manifest (a changed hash seed, dim or file
// size) is refused naming manifest.json. The manifest's and dense.bin's
// checksums are always checked, the mapped files' unless
// OpenOptions.SkipChecksums. The table and vocabulary files also carry
// CRC-32C checksums of their header, body and footer, so they can be
// validated alone. See checksum.go for why the manifest does not record
// plain CRC-32Cs.
//
// # Compatibility
//
// Open reads artifacts of format version 1, written before the checksums
// were bound to the id, and checks them as that version did: each file's
// CRC-32C, no checksum of the manifest. They are therefore not protected
// against the two mix-ups above (a dense.bin, which ends with its own
// CRC-32C, has the same whole-file CRC-32C as any other of its size; an
// edited manifest goes unnoticed). Re-export them to get the checks:
// from the training run (`export --run RUN --out NEW --codec C`), or from
// the artifact ([Requantize], `export --from OLD --out NEW --codec C`:
// exact for fp32, a second rounding for other codecs). Their padded row
// strides (see
// rowsfile.go) read as before. [Write] and [Requantize] write version 2
// only; a reader older than version 2 rejects version 2 artifacts with
// ErrVersion.
//
// # Concurrency
//
// An open [Artifact] is immutable and safe for concurrent use until Close.
// Writers of one destination directory must not run concurrently.
//
// # Units
//
// Sizes are bytes, counts are rows, dims count float32 values.
//
// # Caveats
//
// The table and vocabulary files of an open artifact are memory-mapped:
// truncating one in place (`: > rows-000.emb`, `cp other.emb rows-000.emb`,
// `truncate`, a writer that opens it with O_TRUNC) while a process serves
// it kills that process with SIGBUS at the next read of a page past the
// new end; overwriting it in place changes the rows under the server with
// no checksum check. Replace an artifact as a whole instead: write the new
// one to another directory and rename it into place (`export --replace`
// and [Write] do: the old directory is renamed aside or exchanged, its
// files unlinked, never truncated, so a server still mapping them keeps
// reading the old inodes), then reload (SIGHUP or POST /v1/admin/reload).
// No writer of embtab truncates or rewrites an artifact file in place.
//
// # Non-goals
//
// No encryption or signatures (the checksums detect accidents, not
// attacks), no compression of the rows beyond their codec, no in-place
// updates: an artifact is written once and replaced as a whole.
package artifact
