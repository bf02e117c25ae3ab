package trainer

import (
	"context"
	"fmt"
	"slices"

	"github.com/embtab/embtab/datasets"
	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/quant"
)

// QuantResult is the test quality of the trained model after
// post-training quantization of its embedding rows with one codec.
type QuantResult struct {
	Codec       string  `json:"codec"`
	TestAUC     float64 `json:"test_auc"`
	TestLogLoss float64 `json:"test_logloss"`
	// DeltaAUC is TestAUC minus the fp32 model's.
	DeltaAUC float64 `json:"delta_auc"`
	// Bytes is the quantized rows' size (row data with scale and bias).
	Bytes  int64   `json:"bytes"`
	RMSE   float64 `json:"rmse"`
	RelErr float64 `json:"rel_err"`
}

// evalQuantized quantizes every row store of table with each codec in
// turn, evaluates the test split with the dequantized rows (exactly what a
// server reading the quantized rows computes), and restores the fp32 rows.
func evalQuantized(ctx context.Context, cfg *Config, part evalPart, onErr datasets.OnError, st *stepper, table trainTable, baseAUC float64) ([]QuantResult, error) {
	rs, ok := table.(embedding.RowStore)
	if !ok {
		return nil, fmt.Errorf("--eval-codecs: table %s does not expose its rows", cfg.Table)
	}
	sets := rs.RowSets()
	// saved holds the trained rows as float32 (decoded, for int8 storage);
	// int8 stores also keep their stored bytes, the exact undo.
	saved := make([][]float32, len(sets))
	stored := make([][]byte, len(sets))
	for i, r := range sets {
		saved[i] = make([]float32, r.Len()*r.Dim())
		r.ReadRows(0, saved[i])
		stored[i] = slices.Clone(r.Int8Data())
	}
	restore := func() {
		for i, r := range sets {
			if data := r.Int8Data(); data != nil {
				copy(data, stored[i])
			} else {
				r.WriteRows(0, saved[i])
			}
		}
	}
	defer restore()
	var out []QuantResult
	for _, name := range cfg.EvalCodecs {
		c, err := quant.Lookup(name)
		if err != nil {
			return nil, fmt.Errorf("--eval-codecs: %w", err)
		}
		qr := QuantResult{Codec: name}
		var sqErr, sqNorm float64
		var n int64
		for i, r := range sets {
			q, stats, err := quant.Quantize(saved[i], r.Len(), r.Dim(), c)
			if err != nil {
				return nil, fmt.Errorf("quantize %s: %w", name, err)
			}
			qr.Bytes += q.Bytes()
			cnt := int64(r.Len() * r.Dim())
			sqErr += stats.RMSE * stats.RMSE * float64(cnt)
			for _, v := range saved[i] {
				sqNorm += float64(v) * float64(v)
			}
			n += cnt
			idx := make([]int32, 0, 4096)
			buf := make([]float32, 4096*r.Dim())
			for lo := 0; lo < r.Len(); lo += 4096 {
				hi := min(lo+4096, r.Len())
				idx = idx[:0]
				for j := lo; j < hi; j++ {
					idx = append(idx, int32(j))
				}
				dq := buf[:(hi-lo)*r.Dim()]
				if err := q.GatherRows(idx, dq); err != nil {
					return nil, fmt.Errorf("dequantize %s: %w", name, err)
				}
				// int8 storage re-encodes the dequantized rows (to nearest).
				r.WriteRows(lo, dq)
			}
		}
		if n > 0 {
			qr.RMSE = sqrt(sqErr / float64(n))
			if sqNorm > 0 {
				qr.RelErr = sqrt(sqErr / sqNorm)
			}
		}
		ai, ll, _, err := evaluate(ctx, cfg, part, onErr, st)
		if err != nil {
			return nil, err
		}
		auc := ai.AUC
		qr.TestAUC, qr.TestLogLoss, qr.DeltaAUC = auc, ll, auc-baseAUC
		out = append(out, qr)
		restore()
	}
	return out, nil
}
