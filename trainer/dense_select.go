package trainer

import (
	"errors"
	"fmt"
	"io"
)

// trainNet is what the training loop needs of a dense net: a step, a
// prediction, checkpoints, and a release of its resources.
type trainNet interface {
	DenseNet
	Save(w io.Writer) error
	Load(r io.Reader) error
	Close()
}

// Dense-net implementations, the values of Config.Dense.
const (
	DenseAuto   = "auto"   // native when the model has a native implementation, else gomlx
	DenseNative = "native" // the fused CPU implementation (kernels/gemm)
	DenseGoMLX  = "gomlx"  // the GoMLX simplego graph (the reference)
)

// gomlxTrainNet adapts GoMLXNet (which holds no resources to release).
type gomlxTrainNet struct{ *GoMLXNet }

func (gomlxTrainNet) Close() {}

// newNet builds the dense net cfg.Dense asks for and names the one built.
// Both implementations start from the same initial weights and write the
// same checkpoint state, so a run may resume under the other one.
func newNet(cfg *Config, mc ModelConfig) (trainNet, string, error) {
	switch cfg.Dense {
	case "", DenseAuto, DenseNative:
		n, err := NewNativeNet(mc)
		if err == nil {
			n.SetThreads(cfg.Threads)
			return n, DenseNative, nil
		}
		if cfg.Dense == DenseNative || !errors.Is(err, ErrNotImplemented) {
			return nil, "", fmt.Errorf("native dense net: %w", err)
		}
		fallthrough
	case DenseGoMLX:
		n, err := NewDenseNet(mc)
		if err != nil {
			return nil, "", err
		}
		return gomlxTrainNet{n}, DenseGoMLX, nil
	}
	return nil, "", fmt.Errorf("--dense %q: want auto, native or gomlx", cfg.Dense)
}
