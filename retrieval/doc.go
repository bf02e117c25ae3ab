// Package retrieval trains and evaluates two-tower retrieval models on
// user–item interactions (MovieLens), with their embeddings in the
// project's compressed tables, and exports what serving needs: user and
// item vectors, an HNSW item index and an artifact.
//
// # Data
//
// [LoadInteractions] reads a MovieLens-format source (package datasets:
// "movielens1m", "movielens100k" or their Parquet conversion) and keeps
// the positive ratings (label 1: rating >= 4) as interactions. Only
// positives, because retrieval is asked for items the user will like: a
// 1-star rating is a sign of what not to retrieve, and treating it as a
// positive would teach the model to retrieve it. A user's repeated
// positives of one movie count once (the earliest), so the held-out item
// is never also a training item. Every movie that appears
// in any rating (positive or not) is a candidate item. The split is
// leave-last-out by timestamp per user ([Split]): the user's positives
// sorted by time (ties by item key, so the split is deterministic), the
// last is the test item, the one before it the validation item, the rest
// are training. Users with fewer than three positives only train.
//
// # Model
//
// One embedding table holds the fields of both towers (the schema's
// categorical fields, in schema order: a single table, so every table
// method and memory budget of package trainer applies to the whole model
// and one artifact table serves it). The user tower reads user_id,
// gender, age, occupation and zip, the item tower movie_id, genres,
// first_genre and year (those of them the data has: [TowerFields], or any
// fields given to [LoadInteractionsOf]); with Config.History the user
// tower also reads the mean of the item-key vectors (the rows of the item
// tower's first field) of the user's last History positives: strictly
// before the interaction in training, all known ones when evaluating (the
// validation item too for the test) and in the exported user vectors, as
// YouTube's candidate model. Each tower concatenates its inputs and applies
// an MLP (one hidden ReLU layer, then a linear output of Out values), and
// its output is L2-normalised. The score of a (user, item) pair is the
// dot product of the two vectors (their cosine similarity over all dims;
// a prefix score is the dot product of the prefixes, which are not
// renormalised), and nearest neighbour search is maximum inner product
// search over the item vectors.
//
// Training ([Train]) is in-batch sampled softmax: each user's positive
// item against the other items of the batch, logits u·v/τ minus log Q of
// the item's in-batch sampling probability (its share of the training
// interactions; Yi et al., "Sampling-bias-corrected neural modeling for
// large corpus item recommendations", 2019), repeats of the positive item
// masked out. With nested dimensions (Matryoshka representation
// learning, Kusupati et al. 2022) the loss is the sum of the softmax
// losses of the prefixes u[:p]·v[:p] of the normalised vectors, so a
// prefix is itself a usable (coarser) embedding. The backward pass is
// written out by hand; matrix products run on kernels/gemm, the dense
// weights learn with Adam and the table rows with the table's sparse
// optimizer. A run is deterministic for a seed and thread count.
//
// # Evaluation
//
// [Evaluate] ranks all items for every test user by exact dot product,
// excluding the user's training and validation items (they are known
// positives, not retrieval targets), and reports recall@10, recall@50 and
// NDCG@10 of the held-out item; ties count against it ([Metrics]), and
// [RankMetrics] leaves out users and items without vectors ([Absent]).
// [EvaluateANN] measures both the HNSW index of package ann against
// exact search and the adaptive search (AdANNS): an index over the first
// p dimensions gives k' candidates that are re-ranked with all
// dimensions.
//
// # Serving
//
// [ExportArtifact] writes a serving artifact (docs/format/artifact.md):
// the table, the towers, the item index, the catalog (items with their
// field values, users with their training items) and the stored vectors.
// [OpenRetriever] opens its retrieval part and [Retriever.Retrieve]
// answers top-k queries with filters and exclusions ([Options]).
//
// # Units
//
// Dims count float32 values; memory budgets and sizes are bytes.
package retrieval
