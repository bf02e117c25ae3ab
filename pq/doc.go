// Package pq holds the product-quantized embedding tables of the VLDB'24
// benchmark: DPQ (Chen et al., ICML'20, its VQ form) and MGQE (Kang et
// al., WWW'20, DPQ with more codewords for frequent ids).
//
// A vector of Dim floats is cut into Parts parts; each field has, per
// part, a codebook of High codewords of Dim/Parts floats. An id's vector
// is, per part, one codeword: its code. Training holds a full "query"
// table (a row per training id, fp32) and the codebooks: an id's code for
// a part is the codeword nearest its query's part (squared distance; the
// frequent ids, the top TopFraction of each field by training count,
// choose among all High codewords, the others among the first Low), the
// lookup returns the codewords, and the gradient passes straight through
// to the query rows. The codewords learn from the benchmark's
// regulariser, the mean squared distance from each chosen codeword to its
// query (Hetu's code; it has no commitment term), through the row
// optimizer. The BatchNorm Hetu applies to the distances before the
// argmax is left out: it does not move an argmax over one id's
// candidates.
//
// An artifact holds no query rows: per id its codes (packed, 24 bits a
// float as exact integers: frequent ids log2(High) bits a part, the
// others log2(Low)), the codebooks, and the vocabulary (12 bytes an id).
// Serving gathers an id's code row and its field's codebook rows through
// the kernels and reads the codewords out (a computed combine, the
// codebook rows as the field's shared rows). The table sizes Parts to the
// budget: the most parts (dividing Dim) whose codes fit, so a budget can
// buy down to one code per id and no further.
//
// Both register as table methods (train --table mgqe, --table dpq;
// settings in --table-config: parts, high, low, top_fraction).
package pq
