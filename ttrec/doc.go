// Package ttrec is the TT-Rec table method: each large field's embedding
// table is a tensor train of three small cores, registered with package
// embedding as "ttrec" (`train --table ttrec`).
//
// Reference: Chunxing Yin, Bilge Acun, Xing Liu, Carole-Jean Wu, "TT-Rec:
// Tensor Train Compression for Deep Learning Recommendation Model
// Embeddings", MLSys 2021; and the VLDB'24 benchmark's implementation
// (Hsword/Hetu, tools/EmbeddingMemoryCompression, methods/layers and
// methods/scheduler tensortrain.py), which this package was written after
// reading. No code is taken from either.
//
// # The method
//
// A field of n ids at dim floats would be an n x dim matrix. TT-Rec views
// it as a tensor of shape (n1·d1) x (n2·d2) x (n3·d3), with n1·n2·n3 >= n
// and d1·d2·d3 = dim, and stores it as three cores of TT-rank r:
//
//	G1: n1 x d1 x r     G2: n2 x r x d2 x r     G3: n3 x r x d3
//
// Id i has mixed-radix digits (i1, i2, i3), and its vector, as a d1 x d2 x
// d3 tensor, is the chained product
//
//	E[a, b, c] = Σ_p Σ_q G1[i1][a, p] · G2[i2][p, b, q] · G3[i3][q, c]
//
// stored at float (a·d2 + b)·d3 + c. The cores cost 4·(n1·d1·r +
// n2·d2·r² + n3·d3·r) bytes instead of 4·n·dim.
//
// # Our choices (and where we differ from the reference)
//
//   - No vocabulary: an id is hashed to [0, n1·n2·n3) with
//     hashing.Bucket, then split into digits, i1 = h mod n1, i2 = (h / n1)
//     mod n2, i3 = h / (n1·n2) (the reference's order). The paper and the
//     benchmark index the cores with the id's row in a vocabulary, which
//     our budgets would charge 12 bytes an id ([embedding.IndexBytesPerID]):
//     more than the whole budget at 10x compression. Hashing makes some ids
//     share all three digits (about 1 - 1/e of them when n1·n2·n3 ≈ n),
//     mostly rare ids.
//   - Shapes: n1, n2, n3 are the balanced factorization of the benchmark
//     (about n^(1/3) each, the product the least >= n), the smallest on
//     the middle core, whose slices cost r² rather than r. The dims are
//     (s, dim/s², s) for the largest s with s² dividing dim: (4, 1, 4) at
//     dim 16, (2, 2, 2) at 8, (4, 2, 4) at 32. The benchmark uses (2, 2,
//     4) at 16; ours makes the middle slice r x r, so a budget buys a
//     larger rank, and the chained product costs fewer flops.
//   - Sizing: the budget (serving bytes, [embedding.Spec.SizingBudget]) pays
//     first one plain row for every field; the rest is split over the
//     fields in proportion to what their full tables would cost
//     (parameters and vocabulary). A field whose share buys a plain row for
//     each of its ids (a hashed table of at least n+1 rows) keeps plain
//     hashed rows, as many as its share buys ([embedding.CopyRow]); the
//     benchmark's "threshold" plays this part. Every other field is a
//     tensor train at the largest rank whose cores fit its share, up to
//     [DefaultMaxRank] (8; the max_rank setting, up to [MaxRank]) and to
//     min(n1·d1, n3·d3), where more rank adds nothing; or, when not even
//     rank 1 fits, the plain rows its share buys. A share that buys more
//     than the largest rank buys more slices: n1, n2, n3 grow by the same
//     factor until the cores fill it (each at most n), which widens the
//     hashed space and thins the sharing of each slice at no extra
//     compute. The benchmark instead searches the rank alone (up to 1000),
//     whose cost grows as r² an id. A budget below one row a field is
//     [embedding.ErrBudgetTooSmall]. The index is a hash function: it
//     costs nothing, so serving bytes are the rows' bytes.
//   - Rows: the key plan stores each tensor-train field's three cores in
//     one row set of Width floats per row, Width being the largest divisor
//     of the three slice sizes (d1·r, d2·r², d3·r) that is at most dim
//     (artifacts cap a row at dim floats); a core slice is then Width-float
//     rows in a row, and an id reads k1 + k2 + k3 rows, its three slices.
//     A rank a little under what fits is taken when it gives wider rows
//     (fewer keys; at most 1/8 less rank). Plain fields share one row set
//     of dim floats. Every row set is an [embedding.Rows], so the rows are
//     trained with the table's sparse optimizer (row-wise: each Width-float
//     row of a core has its own accumulator), stored in fp32 or int8, and
//     quantized by the artifact's codec like any rows.
//   - Combine: [embedding.ComputeVector]; the field's computer does the
//     chained product forward and its exact backward into the three
//     slices. Training and serving call the same code.
//   - Init: each core entry is uniform in [-a, a] with a = √3 · (s² /
//     (3r²))^(1/6), s = [embedding.DefaultInitScale]: a product entry is a
//     sum of r² products of three independent entries, so its variance is
//     r²·(a²/3)³ = s²/3, that of U(-s, s), the other methods' init. Its
//     distribution is bell-shaped rather than uniform and is not bounded
//     by s. (The reference draws the cores from a truncated normal whose
//     spread is set from the table size.)
//
// # Concurrency and units
//
// Lookups may run concurrently with each other; Apply, Load and SetThreads
// need exclusive access (as [embedding.Planned]). Budgets and sizes are in
// bytes; shapes in rows and floats.
package ttrec
