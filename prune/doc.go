// Package prune holds the embedding tables that prune single values of
// a full table, and the sparse form in which their artifacts serve:
//
//   - DeepLight (Deng et al., WSDM'21): magnitude pruning during
//     training. Every PruneEvery steps the smallest values (by |v|, over
//     the whole table) are set to zero and masked for good, the pruned
//     share rising on Zhu and Gupta's cubic schedule until, at Ramp of
//     the run's steps, the sparse form fits the byte budget. Hetu's
//     benchmark raises it as 1-0.99^(step/100), which assumes tens of
//     thousands of steps; the cubic ramp reaches the target in any run.
//   - PEP (Liu et al., ICLR'21): a learnable soft threshold per value and
//     dimension (feature-dimension granularity, as Hetu runs it): the
//     vector is sign(v)·max(|v|−sigmoid(s), 0), values and thresholds
//     trained together by the row optimizer. When the vectors' nonzeros
//     fit the budget (checked every PruneEvery steps), or at Ramp of the
//     run at the latest, the thresholded values are kept, the zeros
//     masked, any excess cut by magnitude, and training goes on under the
//     mask. The paper retrains from the initial values under the mask (a
//     lottery ticket); this table fine-tunes instead, in the same run, and
//     the second stage is a second run: the setting retrain names the first
//     run's artifact, whose mask the new table trains under from its init.
//
// Training holds a full table (one row per training id and one per
// field for unseen ids, fp32 only) and a bit per value. An artifact holds
// the sparse form ([Sparse], combine [embedding.SparseRow]): the rows
// grouped by their count K of nonzero values into row sets of MaskWords
// + K floats (the mask's bits, then the values), a set with the one
// all-zero row for ids whose rows were pruned whole, and the vocabulary
// of the ids that kept a value (12 bytes an id). A row of K values costs
// 4·(1+K) + 12 bytes at dims up to 24, against 4·dim + 12 for the full
// table: the budget is met with ids pruned whole as well as with values.
//
//   - AutoSrh (the VLDB'24 benchmark's): ids in frequency groups, a weight
//     in [0, 1] per group and dimension under L1 (see srhSearch); at Ramp
//     the weights are baked into the rows, the smallest values cut to the
//     budget, and training goes on under the mask.
//
// All three register as table methods (train --table deeplight, --table
// pep, --table autosrh; settings in --table-config: prune_every, ramp,
// threshold_init, groups, l1, alpha_lr, retrain).
package prune
