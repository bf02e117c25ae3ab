// Package metrics computes the evaluation metrics of CTR models: exact ROC
// AUC (ties averaged, as scikit-learn's roc_auc_score) and binary log loss.
//
// Functions are pure and safe for concurrent use. AUC sorts a copy of the
// scores: O(n log n) time, O(n) memory.
//
// NaN has no place in an order, so a NaN score or probability is an error
// (ErrNaN, naming its index) rather than a silent rank; ±Inf scores are
// ordered as usual.
package metrics

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// Errors of AUC and LogLoss, matched with errors.Is.
var (
	// ErrOneClass is returned by AUC when the labels hold only one class.
	ErrOneClass = errors.New("auc: labels hold only one class")
	// ErrNaN is returned when a score or probability is NaN (a diverged
	// model, typically).
	ErrNaN = errors.New("score is NaN")
	// ErrLength is returned when scores and labels differ in length.
	ErrLength = errors.New("scores and labels differ in length")
)

// AUC returns the area under the ROC curve of scores against 0/1 labels,
// computed exactly with the rank-sum (Mann-Whitney U) statistic; tied scores
// share their average rank. A NaN score is an error (ErrNaN).
func AUC(scores, labels []float32) (float64, error) {
	if len(scores) != len(labels) {
		return 0, fmt.Errorf("auc: %w: %d scores, %d labels", ErrLength, len(scores), len(labels))
	}
	if i := firstNaN(scores); i >= 0 {
		return 0, fmt.Errorf("auc: %w at index %d", ErrNaN, i)
	}
	n := len(scores)
	idx := make([]int32, n)
	for i := range idx {
		idx[i] = int32(i)
	}
	sort.Slice(idx, func(a, b int) bool { return scores[idx[a]] < scores[idx[b]] })
	var pos, neg float64
	var rankSum float64 // sum of ranks of positives, 1-based
	for i := 0; i < n; {
		j := i
		for j < n && scores[idx[j]] == scores[idx[i]] {
			j++
		}
		avg := float64(i+1+j) / 2 // mean of ranks i+1..j
		for k := i; k < j; k++ {
			if labels[idx[k]] > 0.5 {
				pos++
				rankSum += avg
			} else {
				neg++
			}
		}
		i = j
	}
	if pos == 0 || neg == 0 {
		return 0, ErrOneClass
	}
	return (rankSum - pos*(pos+1)/2) / (pos * neg), nil
}

// LogLoss returns the mean binary cross-entropy of probabilities against
// 0/1 labels; probabilities are clipped to [eps, 1-eps] with eps = 1e-7.
// It is 0 for no probabilities; a length mismatch (ErrLength) or a NaN
// probability (ErrNaN) is an error.
func LogLoss(probs, labels []float32) (float64, error) {
	if len(probs) != len(labels) {
		return 0, fmt.Errorf("logloss: %w: %d probabilities, %d labels", ErrLength, len(probs), len(labels))
	}
	if i := firstNaN(probs); i >= 0 {
		return 0, fmt.Errorf("logloss: %w at index %d", ErrNaN, i)
	}
	if len(probs) == 0 {
		return 0, nil
	}
	const eps = 1e-7
	var s float64
	for i, p := range probs {
		q := math.Min(math.Max(float64(p), eps), 1-eps)
		if labels[i] > 0.5 {
			s -= math.Log(q)
		} else {
			s -= math.Log(1 - q)
		}
	}
	return s / float64(len(probs)), nil
}

// firstNaN returns the index of the first NaN in x, or -1.
func firstNaN(x []float32) int {
	for i, v := range x {
		if v != v {
			return i
		}
	}
	return -1
}
