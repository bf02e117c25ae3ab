// Package mde is Mixed Dimension Embeddings (Ginart, Naumov, Mudigere,
// Yang, Zou, "Mixed Dimension Embeddings with Application to
// Memory-Efficient Recommendation Systems", ISIT 2021) as an embtab table
// method, registered as "mde" (`train --table mde`).
//
// # The method
//
// Each field f gets its own embedding width d_f from a power law of its
// cardinality n_f: the smallest field keeps the full Dim, larger ones
// fewer floats,
//
//	d_f = clamp(round(Dim · (n_f / n_min)^(-α)), 1, Dim)
//
// (the rule of the paper's and the DLRM repository's md_solver with d0 =
// Dim, which the VLDB'24 benchmark also uses), and a field narrower than
// Dim has a learned projection P_f (Dim x d_f) to the common width the
// dense network takes: v = P_f · e_f(id). α is searched to the budget: the
// smallest α ≥ 0 whose table fits it (bisection), or fixed by the "alpha"
// setting.
//
// # Our choices
//
//   - Rows are hashed, not a vocabulary: field f has n_f + 1 rows and an
//     id reads row Bucket(id, n_f + 1), so the table has no index to pay
//     for (a vocabulary costs [embedding.IndexBytesPerID] an id, which
//     would put a floor of about a sixth of the full table under every
//     MDE budget). This is the hashed table at 1x with mixed widths.
//   - The projection is part of the key plan, so training and serving
//     share it: a projected field's keys are its embedding row and the
//     Dim rows of Pᵀ (row k holds output k's d_f weights), all d_f floats
//     wide in one row set per field, and the vector is a computed combine
//     (out_k = P_k · e). Pᵀ's rows train with the table's sparse row
//     optimizer like any row, and they travel in the artifact as rows, so
//     the artifact's codec applies to them.
//   - P starts as the identity on the first d_f outputs (zero elsewhere):
//     an untrained MDE table equals the same widths zero-padded (the
//     dimension-search tables), and training moves from there.
//   - A field at full width is a plain hashed field (no projection).
//
// # Bytes and limits
//
// Serving bytes are the fp32 rows: Σ_f (n_f + 1)·d_f + Dim·d_f for each
// projected field, times 4. The method bottoms out at one float per value
// (every field but the smallest at d_f = 1): a budget below that is
// [embedding.ErrBudgetTooSmall]; hashing or sharing rows goes further.
//
// A Table's Lookup is safe for concurrent use with other Lookups; Apply
// needs exclusive access, as for every embtab table.
package mde
