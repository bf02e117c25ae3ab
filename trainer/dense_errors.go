package trainer

import "errors"

// ErrGraph is returned (wrapped) by the GoMLXNet methods when GoMLX failed
// (panicked) while building or running a graph; the message carries
// GoMLX's error. The other dense-net errors are densenet's (ErrBatchShape,
// ErrStateMismatch, ...), shared by both implementations.
var ErrGraph = errors.New("trainer: GoMLX graph failure")
