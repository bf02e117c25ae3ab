package densenet

import "errors"

// Errors returned by the dense nets and the state codec. Match them with
// errors.Is; the returned errors wrap them with details.
var (
	// ErrUnknownModel: Config.Name is not a known model.
	ErrUnknownModel = errors.New("densenet: unknown dense model")
	// ErrInvalidConfig: a Config cannot be built (sizes, widths, Adam
	// hyperparameters).
	ErrInvalidConfig = errors.New("densenet: invalid dense model config")
	// ErrBatchShape: a batch argument has the wrong length for the net's
	// NumDense, Fields and Dim, or the batch size is not positive.
	ErrBatchShape = errors.New("densenet: batch does not match the dense net's shape")
	// ErrStateMismatch: a State or checkpoint does not have the tensors
	// (names and shapes) this net expects.
	ErrStateMismatch = errors.New("densenet: dense state does not match the net")
	// ErrCorruptState: a serialised dense state is malformed or fails its
	// checksum.
	ErrCorruptState = errors.New("densenet: corrupt dense state")
)
