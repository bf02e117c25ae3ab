// Package ann is approximate nearest-neighbour search over embeddings: an
// HNSW graph (Malkov and Yashunin, "Efficient and robust approximate
// nearest neighbor search using Hierarchical Navigable Small World
// graphs", 2016) for inner product or L2, over float32 vectors or int8
// rows in the quant.Int8 format, for retrieving candidate items for a
// user or query embedding.
//
// [New] makes an empty [Index] from a [Config] (dim, metric, M,
// efConstruction, efSearch, seed, quantization); [Index.Add] inserts a
// vector under a uint64 id, [Index.Search] returns the k nearest live
// vectors, [Index.Delete] marks a vector deleted (a tombstone: the graph
// still routes through it, results skip it) and [Index.Rebuild] builds the
// graph again without the tombstones. Insertion is sequential and the
// layers come from a PCG seeded by Config.Seed, so the same config and
// Adds give the same graph and the same file, bit for bit.
//
// Why not a library: the Go HNSW packages keep their graphs as pointers or
// Go maps, which cannot be searched from an mmap'ed file, and cgo bindings
// of hnswlib or FAISS would bring a C++ toolchain into the serving binary
// and its own file format. The graph here is flat arrays that are the file.
//
// # Int8
//
// With Quantization Int8 each vector is stored as a quant.Int8 row
// (dim uint8 codes, then float32 scale and bias; x ≈ code·scale + bias),
// dim+8 bytes instead of 4·dim. Distances are computed from the float32
// query and the codes without decoding: q·x = scale·Σ q_j c_j + bias·Σ q_j,
// and ‖q-x‖² = ‖q‖² - 2 q·x + ‖x‖² with ‖x‖² of the decoded row stored per
// row. With Rerank the float32 vectors are kept as well and the ef
// candidates are re-ranked by their exact distance.
//
// # File format
//
// [Index.Save] writes, and [Load] and [OpenMmap] read, one little-endian
// file laid out so that its arrays are used in place from an mmap'ed
// file. A 128-byte header:
//
//	0   magic "EMBTANN\x00"     8 bytes
//	8   version = 1             uint32
//	12  metric (0 ip, 1 l2)     uint32
//	16  quantization (0 f32, 1 int8) uint32
//	20  flags (bit 0: float32 vectors present) uint32
//	24  dim, M, efConstruction, efSearch, maxLevel, entry  6×uint32
//	48  n (nodes, deleted included) uint64
//	56  upperLen (uint32s of the upper-layer lists) uint64
//	64  seed                    uint64
//	72  length L, then L bytes of the PCG state (math/rand/v2 MarshalBinary); zeros to 128
//
// then nine sections, each starting at a multiple of 64 bytes (zero
// padding between), sized from the header:
//
//	labels    n × uint64         the ids given to Add
//	levels    n × uint8          each node's top layer
//	upperOff  n × uint32         start of node i's lists in upper
//	upper     upperLen × uint32  for each node, layers 1..level, M+1 words each
//	links0    n × (2M+1) uint32  layer-0 lists
//	vectors   n × dim float32    if flag bit 0
//	codes     n × (dim+8) bytes  quant.Int8 rows, if int8
//	norms     n × float32        ‖decoded row‖², if int8
//	deleted   ceil(n/64) × uint64 tombstone bitmap, bit i%64 of word i/64
//
// A list is a count c then c node numbers, in M or 2M slots. The last
// 8 bytes are the CRC-32C (Castagnoli) of everything before them, as a
// uint32, then "ANNX". Readers check magic, then version, then sizes, then
// the checksum, then every link (so a bad graph is [ErrCorrupt], never a
// panic). Big-endian hosts get [ErrUnsupported].
//
// # Concurrency
//
// Search and SearchAppend may run on any number of goroutines at once;
// they hold a read lock, so Add, Delete, Rebuild and Close wait for them
// and block them. Each search borrows a visited set and heaps from a
// per-index pool, so steady-state searches allocate only their result
// slice (none with SearchAppend and a large enough dst).
//
// # Units and non-goals
//
// Dim counts float32 values; Bytes and file sizes are bytes. Distances
// are smaller-is-nearer: -q·x for inner product, ‖q-x‖² for L2. Not
// supported: parallel builds (they would lose determinism), cosine (normalise
// the vectors first), filtered search and updates of a mapped file in
// place (the first Add copies it to memory).
package ann
