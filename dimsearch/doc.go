// Package dimsearch searches per-field embedding dimensions (and, for
// OptEmbed, the rows worth keeping) under a memory budget, so a model
// spends its embedding bytes on the fields where they buy accuracy.
//
// It holds the pieces of two published methods, in forms the training
// loop (package trainer) drives batch by batch:
//
//   - OptEmbed (Lyu et al., CIKM 2022): a [Supernet] that, during one
//     training run of the model over a full table, (1) learns a row-pruning
//     threshold per field — a row takes part in the forward pass only when
//     its L1 norm exceeds its field's threshold (a hard step; the backward
//     pass uses the straight-through estimator), with the regulariser
//     α·Σ_f exp(−t_f) pushing thresholds up — and (2) masks every (sample,
//     field) embedding to its first d values, d drawn uniformly from
//     1..D, so the net learns to work with every candidate dimension at
//     once. [Evolve] then searches per-field dimension vectors with a
//     genetic algorithm (mutation, crossover, top-k selection) whose
//     fitness is the trained supernet's validation AUC under the
//     candidate, rejecting candidates over the budget.
//   - DNIS (Cheng et al., 2020): a [SoftSelect] layer, a learnable weight
//     per (field, dimension) that scales the embedding, trained on
//     validation batches while the model trains on training batches (the
//     bi-level scheme); [PruneByWeight] then cuts the (field, dimension)
//     pairs with the smallest weights until the table fits the budget.
//
// Departures from the papers, deliberate and measured where it matters:
//
//   - During OptEmbed's search a pruned row contributes zeros (the
//     official code's default "zero" mode); in the retrained table a
//     pruned value maps to its field's OOV row, which is trained (one row
//     per field, counted in the plan's bytes): a learned "rare value"
//     vector rather than nothing.
//   - The search's vocabulary is the whole training split, hold-out
//     included, so values seen only in held-out rows keep their initial
//     rows during the search and are kept or pruned on their initial
//     norm (about Dim·InitScale/2).
//   - DNIS here learns one weight per (field, dimension) with plain Adam
//     rather than per (frequency block, dimension); it ranks dimensions by
//     |w| as the paper does.
//   - Both searches meet a byte budget (OptEmbed's candidates are rejected
//     over it; DNIS cuts until it fits) instead of the papers' unbudgeted
//     objectives, so that methods compare at equal bytes.
//
// Either search ends in a [Plan]: per-field dimensions, the kept rows and
// the bytes they cost, saved as a JSON file (with the kept ids in a
// checksummed sidecar). Training from scratch with a plan (trainer's
// --dim-plan, which --dim-search runs after the search) builds a full
// table holding only the kept rows of each field at the field's
// dimension, a hashed table whose fields' rows are sized to the budget at
// their dimensions, or a Unified Embedding table whose per-field chunk
// counts come from the dimensions ([Plan.Chunks]); the exported artifact records
// the per-field dimensions.
//
// Mixed dimensions reach the dense nets zero-padded to the base dimension
// D (what OptEmbed's masking does during the search), so every model —
// LR, FM, DeepFM, DLRM, DCN-v2 — takes them unchanged: a field of
// dimension d contributes its d values and D−d zeros to interactions and
// MLPs alike.
package dimsearch
