package trainer

import (
	"fmt"
	"io"
	"runtime"

	"github.com/embtab/embtab/densenet"
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
	DenseAuto   = "auto"   // native (every model has a native implementation)
	DenseNative = "native" // densenet.Net, the fused CPU implementation (kernels/gemm)
	DenseGoMLX  = "gomlx"  // the GoMLX simplego graph (the reference)
)

// gomlxTrainNet adapts GoMLXNet to trainNet. simplego sizes its worker
// pool from GOMAXPROCS and takes no thread count
// (shared/docs/gomlx-notes.md: go:parallelism=1 deadlocks), so the GoMLX
// path alone sets the process-wide GOMAXPROCS to Config.Threads while the
// net is open, and Close restores it. The native path passes thread counts
// explicitly and leaves GOMAXPROCS alone.
type gomlxTrainNet struct {
	*GoMLXNet
	prevProcs int
}

func (n gomlxTrainNet) Close() { runtime.GOMAXPROCS(n.prevProcs) }

// newNet builds the dense net cfg.Dense asks for and names the one built.
// Both implementations start from the same initial weights and write the
// same checkpoint state, so a run may resume under the other one.
func newNet(cfg *Config, mc ModelConfig) (trainNet, string, error) {
	switch cfg.Dense {
	case "", DenseAuto, DenseNative:
		n, err := densenet.New(mc)
		if err != nil {
			return nil, "", fmt.Errorf("native dense net: %w", err)
		}
		n.SetThreads(cfg.Threads)
		return n, DenseNative, nil
	case DenseGoMLX:
		n, err := NewDenseNet(mc)
		if err != nil {
			return nil, "", err
		}
		return gomlxTrainNet{GoMLXNet: n, prevProcs: runtime.GOMAXPROCS(cfg.Threads)}, DenseGoMLX, nil
	}
	return nil, "", fmt.Errorf("--dense %q: want auto, native or gomlx", cfg.Dense)
}
