// Package metrics computes the evaluation metrics of CTR models: exact ROC
// AUC (ties averaged, as scikit-learn's roc_auc_score), its DeLong
// standard error and 95% interval (AUCDeLong), and binary log loss.
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

// AUCInterval is an AUC with DeLong's variance estimate and the 95%
// normal interval it gives.
type AUCInterval struct {
	AUC float64
	// SE is the standard error: the square root of DeLong's variance
	// (DeLong, DeLong & Clarke-Pearson, Biometrics 1988), computed from
	// midranks (Sun & Xu, IEEE SPL 2014).
	SE float64
	// Low and High are AUC ∓ 1.96·SE, clipped to [0, 1].
	Low, High float64
}

// AUCDeLong returns the AUC of scores against 0/1 labels (the value AUC
// returns) with its DeLong standard error and 95% interval. It needs at
// least two positives and two negatives for a variance; with fewer the
// error is ErrOneClass (one class) or the SE is +Inf (one of a class).
func AUCDeLong(scores, labels []float32) (AUCInterval, error) {
	if len(scores) != len(labels) {
		return AUCInterval{}, fmt.Errorf("auc: %w: %d scores, %d labels", ErrLength, len(scores), len(labels))
	}
	if i := firstNaN(scores); i >= 0 {
		return AUCInterval{}, fmt.Errorf("auc: %w at index %d", ErrNaN, i)
	}
	var pos, neg []float32
	for i, s := range scores {
		if labels[i] > 0.5 {
			pos = append(pos, s)
		} else {
			neg = append(neg, s)
		}
	}
	m, n := len(pos), len(neg)
	if m == 0 || n == 0 {
		return AUCInterval{}, ErrOneClass
	}
	// The midrank of a positive among all scores minus its midrank among
	// the positives counts the negatives below it (ties half): its
	// placement V10; likewise for a negative and the positives above it.
	all := midranks(scores)
	rp, rn := midranks(pos), midranks(neg)
	v10 := make([]float64, 0, m)
	v01 := make([]float64, 0, n)
	ip, in := 0, 0
	for i := range scores {
		if labels[i] > 0.5 {
			v10 = append(v10, (all[i]-rp[ip])/float64(n))
			ip++
		} else {
			v01 = append(v01, 1-(all[i]-rn[in])/float64(m))
			in++
		}
	}
	var auc float64
	for _, v := range v10 {
		auc += v
	}
	auc /= float64(m)
	r := AUCInterval{AUC: auc, SE: math.Inf(1), Low: 0, High: 1}
	if m < 2 || n < 2 {
		return r, nil
	}
	variance := sampleVar(v10, auc)/float64(m) + sampleVar(v01, auc)/float64(n)
	r.SE = math.Sqrt(variance)
	r.Low, r.High = max(0, auc-1.96*r.SE), min(1, auc+1.96*r.SE)
	return r, nil
}

// midranks returns the 1-based rank of each score in x, ties sharing the
// mean of their ranks.
func midranks(x []float32) []float64 {
	idx := make([]int32, len(x))
	for i := range idx {
		idx[i] = int32(i)
	}
	sort.Slice(idx, func(a, b int) bool { return x[idx[a]] < x[idx[b]] })
	r := make([]float64, len(x))
	for i := 0; i < len(x); {
		j := i
		for j < len(x) && x[idx[j]] == x[idx[i]] {
			j++
		}
		avg := float64(i+1+j) / 2
		for k := i; k < j; k++ {
			r[idx[k]] = avg
		}
		i = j
	}
	return r
}

// sampleVar is the sample variance of x about mean.
func sampleVar(x []float64, mean float64) float64 {
	var ss float64
	for _, v := range x {
		ss += (v - mean) * (v - mean)
	}
	return ss / float64(len(x)-1)
}
