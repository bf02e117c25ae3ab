package trainer

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/embtab/embtab/densenet"
	"math"
	"strings"

	"github.com/embtab/embtab/embedding"
)

// ErrDiverged is returned, wrapped with the step and a hint, when training
// produced a non-finite loss, gradient or prediction, or parameters so
// large (beyond maxParamAbs) that the model's scores carry no information.
// A diverged run writes no artifact and no result.json.
var ErrDiverged = errors.New("training diverged")

// maxParamAbs bounds the magnitude of a trained parameter (embedding value
// or dense weight) of a healthy run. Trained CTR models keep their values
// within a few units (initialisation is ~0.01-0.1); 1e6 is far beyond
// anything a converging run reaches and far below where float32 products
// of a row pair overflow (~1e19), so a run past it has exploded.
const maxParamAbs = 1e6

// Hints appended to ErrDiverged messages: the dense net's learning rate,
// the embeddings', or either when the loss alone shows it.
const (
	divergeHint      = "lower --lr or --emb-lr"
	denseDivergeHint = "lower --lr"
	embDivergeHint   = "lower --emb-lr"
)

// firstNonFinite returns the index of the first NaN or ±Inf in x, or -1.
func firstNonFinite(x []float32) int {
	for i, v := range x {
		if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) {
			return i
		}
	}
	return -1
}

// firstExploded returns the index and value of the first element of x that
// is NaN, ±Inf or larger in magnitude than maxParamAbs, or -1.
func firstExploded(x []float32) (int, float32) {
	for i, v := range x {
		if f := float64(v); math.IsNaN(f) || math.Abs(f) > maxParamAbs {
			return i, v
		}
	}
	return -1, 0
}

// checkParams reports, as ErrDiverged, the first embedding value or dense
// parameter of table and net that is non-finite or exploded (see
// maxParamAbs). Tables that do not expose their rows (embedding.RowStore)
// are checked through the dense net and the predictions only.
func checkParams(table trainTable, net trainNet) error {
	if rs, ok := table.(embedding.RowStore); ok {
		const chunk = 4096
		var buf []float32
		for s, set := range rs.RowSets() {
			for lo := 0; lo < set.Len(); lo += chunk {
				hi := min(lo+chunk, set.Len())
				buf = growF(buf, (hi-lo)*set.Dim())
				set.ReadRows(lo, buf)
				if i, v := firstExploded(buf); i >= 0 {
					return fmt.Errorf("%w: embedding row set %d, row %d holds %g (%s)", ErrDiverged, s, lo+i/set.Dim(), v, embDivergeHint)
				}
			}
		}
	}
	var state bytes.Buffer
	if err := net.Save(&state); err != nil {
		return fmt.Errorf("check dense net parameters: %w", err)
	}
	st, err := densenet.ReadState(&state)
	if err != nil {
		return fmt.Errorf("check dense net parameters: %w", err)
	}
	for _, t := range st.Tensors {
		if strings.HasPrefix(t.Name, "adam_") { // optimizer moments: only finiteness matters
			if i := firstNonFinite(t.Data); i >= 0 {
				return fmt.Errorf("%w: dense optimizer state %s[%d] holds %g (%s)", ErrDiverged, t.Name, i, t.Data[i], denseDivergeHint)
			}
			continue
		}
		if i, v := firstExploded(t.Data); i >= 0 {
			return fmt.Errorf("%w: dense parameter %s[%d] holds %g (%s)", ErrDiverged, t.Name, i, v, denseDivergeHint)
		}
	}
	return nil
}
