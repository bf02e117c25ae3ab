package trainer

import "github.com/embtab/embtab/densenet"

// DenseNet is the dense part of a CTR model: everything after the embedding
// lookup (feature interaction, MLPs, the logit). densenet.Net implements
// it natively, GoMLXNet as the GoMLX reference graph.
//
// dense holds batch*NumDense() already-transformed dense features
// (log1p(max(x,0))), emb holds batch*Fields*Dim embedding values laid out as
// embedding.Table.Lookup writes them, labels holds batch 0/1 values.
type DenseNet interface {
	// ForwardBackward runs one training step on a batch: it computes the mean
	// binary cross-entropy loss, updates the dense parameters with the net's
	// own optimizer, and writes dL/d(emb) (same layout as emb) into dEmb.
	ForwardBackward(dense, emb, labels []float32, batch int, dEmb []float32) (loss float32, err error)
	// Predict writes batch click probabilities into out.
	Predict(dense, emb []float32, batch int, out []float32) error
}

// ModelConfig is the dense model's configuration, as checkpoints and
// artifacts store it; it is defined by package densenet.
type ModelConfig = densenet.Config
