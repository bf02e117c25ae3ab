package trainer

import "errors"

// Errors returned by the dense nets (NewDenseNet, GoMLXNet methods). Match
// them with errors.Is; the returned errors wrap them with details.
var (
	// ErrUnknownModel: ModelConfig.Name is not a known model.
	ErrUnknownModel = errors.New("trainer: unknown dense model")
	// ErrInvalidConfig: a ModelConfig cannot be built (sizes, widths, Adam
	// hyperparameters).
	ErrInvalidConfig = errors.New("trainer: invalid dense model config")
	// ErrBatchShape: a batch argument has the wrong length for the net's
	// NumDense, Fields and Dim, or the batch size is not positive.
	ErrBatchShape = errors.New("trainer: batch does not match the dense net's shape")
	// ErrStateMismatch: a DenseState or checkpoint does not have the tensors
	// (names and shapes) this net expects.
	ErrStateMismatch = errors.New("trainer: dense state does not match the net")
	// ErrCorruptState: a serialised dense state is malformed or fails its
	// checksum.
	ErrCorruptState = errors.New("trainer: corrupt dense state")
	// ErrGraph: GoMLX failed (panicked) while building or running a graph;
	// the message carries GoMLX's error.
	ErrGraph = errors.New("trainer: GoMLX graph failure")
)
