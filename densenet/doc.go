// Package densenet runs the dense part of the CTR models natively: LR,
// FM, DeepFM, DLRM (dlrm-small) and DCN-v2 on float32 slices with the
// GEMM and interaction kernels of package kernels/gemm. It holds what both
// training and serving need of a dense net and nothing else, so that the
// service links it without the trainer or GoMLX:
//
//   - Config, the model description that checkpoints and artifacts store,
//     with its defaults and validation;
//   - Layout, each model's parameters (names, shapes, order,
//     initialisation) and layers, shared with the GoMLX reference graph in
//     package trainer;
//   - State with WriteState and ReadState, the dense-state format of an
//     artifact's dense.bin and of checkpoints (layout in state.go);
//   - Net, the forward pass (Predict), the hand-written backward pass and
//     the Adam update (ForwardBackward, Gradient; package optim).
//
// Non-goals: embedding tables and their sparse optimizers (package
// embedding), the training loop (package trainer), autodiff, and models
// other than the Model* constants.
//
// # Units and layouts
//
// A batch is batch rows: dense holds batch·NumDense transformed dense
// features, emb batch·Fields·Dim embedding values (row-major, field-major
// within a row), labels batch 0/1 values; Predict writes probabilities,
// ForwardBackward returns the mean log loss. Weights are stored [in, out]
// row-major.
//
// # Concurrency
//
// A Net is safe for concurrent use. Predict calls run in parallel, each on
// a pooled worker (a gemm context and buffers of its own); training calls,
// SetState, Load and SetThreads exclude each other and Predict.
package densenet
