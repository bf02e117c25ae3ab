// Package dhe is Deep Hash Embedding (Kang et al., "Learning to Embed
// Categorical Features without Embedding Tables for Recommendation",
// KDD'21) as an embtab table method, registered as "dhe": no embedding
// table at all. Each id is encoded by k universal hashes into m buckets,
// mapped to [-1, 1] (the paper's "uniform" encoding), and a deep MLP
// turns that dense k-vector into the field's vector.
//
// # The method
//
// Field f's vector of id is
//
//	x_i = 2·h_i(id)/(m-1) - 1,  h_i(id) = ((a_i·id + b_i) mod p)·m / p,  i < k
//	v   = W_L·Mish(… Mish(W_1·x + b_1) …) + b_L
//
// with p = 2⁶¹-1, (a_i, b_i) drawn from the table's seed and the field
// (so the manifest's seed reproduces them), L-1 hidden layers of width h
// with Mish activations (the paper's choice over ReLU) and a linear output
// layer of Dim units.
//
// # Our choices
//
//   - One network per field, all fields the same shape. A shared network
//     would cost every id the whole budget in multiply-adds; a network per
//     field costs each id only its field's share (26 times less on
//     Criteo), which is what makes training on a CPU practical, and keeps
//     each field's ids apart as the paper's per-feature DHE does.
//   - Hidden width fixed (default [DefaultHidden], [DefaultLayers] hidden
//     layers), k derived from the budget: the first layer (k+1)·h is the
//     part that grows. Fixing k at the paper's 1024 and deriving the width
//     (as the Hetu benchmark does) leaves a width below 10 at the budgets
//     that matter here (1 MiB over 26 fields is about 10k floats a field).
//     Small budgets halve the width (down to 4) to keep at least
//     [MinHashes] hashes; once k reaches the paper's [MaxHashes] the width
//     grows instead, up to [MaxHidden]: past it the multiply-adds of every
//     lookup (k·h per id and field) make CPU training impractical, so a
//     larger budget is left unused (the sweep reports the bytes used).
//   - m = 10⁶ buckets ([DefaultBuckets]) as the paper. The bucket is the
//     multiply-shift range reduction of the mod-p hash, not a second mod m:
//     the same uniform spread, no division.
//   - Training: the weights live in [embedding.Rows] stores (row set l is
//     layer l of every field: row f·width_l+j holds output unit j's
//     weights and, last, its bias), stepped by dense Adam
//     (densenet/optim, lr [DefaultLR]) once per Apply with the gradient
//     summed over the batch; the sparse row optimizer of the spec is not
//     used. Lookup and Apply are batched per field: the batch's distinct
//     ids (their output gradients summed in batch order) go through the
//     network in chunks of up to 512 as float32 matrix products on the
//     gemm kernels (package kernels/gemm, one context per goroutine, the
//     bias as a trailing 1 of each layer's input), Mish and its
//     derivative in float64 from one exponential. Fields are split among
//     threads; each field's gradient is one goroutine's, so results do
//     not depend on the thread count. The kernels compute each output row
//     from its own input row in the same order whatever the batch, so an
//     id's vector is the same alone (serving's Compute) as in a batch.
//   - Serving: the weights travel in the artifact as its row sets, so the
//     artifact's codec applies to them; the method implements
//     [embedding.RowBinder], and serving decodes the sets to fp32 once at
//     load and binds the plan's computers to them. Keys: none (a computed
//     field with NumKeys 0), so stores are never asked for a row.
//
// # Where we differ from the paper and the reference code
//
//   - No batch normalisation: serving computes one id at a time, and the
//     paper's BN would need batch statistics there (or folded running
//     statistics). Xavier-uniform initialisation instead, biases zero.
//   - Fewer, narrower layers than the paper's (k = 1024, several layers of
//     width ~1800): they are sized to the budget.
//   - Fields of a few ids get the same network as large ones (Hetu's
//     benchmark keeps fields under a threshold as full tables); per-field
//     dims (dimension plans) and int8 training storage are refused.
//
// # Bytes
//
// Serving bytes are the networks' fp32 parameters (no index): the hash
// constants follow from the seed. A served artifact decodes its row sets
// to fp32 at load, so a server holds the fp32 weights whatever the codec.
//
// # Concurrency
//
// Lookup is safe for concurrent use; Apply, Load and SetThreads need
// exclusive access, as for every embtab table.
package dhe
