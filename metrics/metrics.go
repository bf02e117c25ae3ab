// Package metrics computes the evaluation metrics of CTR models: exact ROC
// AUC (ties averaged, as scikit-learn's roc_auc_score) and binary log loss.
//
// Functions are pure and safe for concurrent use. AUC sorts a copy of the
// scores: O(n log n) time, O(n) memory.
package metrics

import (
	"errors"
	"math"
	"sort"
)

// ErrOneClass is returned by AUC when the labels hold only one class.
var ErrOneClass = errors.New("auc: labels hold only one class")

// AUC returns the area under the ROC curve of scores against 0/1 labels,
// computed exactly with the rank-sum (Mann-Whitney U) statistic; tied scores
// share their average rank.
func AUC(scores, labels []float32) (float64, error) {
	if len(scores) != len(labels) {
		return 0, errors.New("auc: scores and labels differ in length")
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
func LogLoss(probs, labels []float32) float64 {
	if len(probs) == 0 {
		return 0
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
	return s / float64(len(probs))
}
