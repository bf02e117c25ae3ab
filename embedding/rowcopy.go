package embedding

import "fmt"

// CopyRow sets row dst of r to row src of from: its parameters as stored
// (bit-exact, for int8 storage too: the codes, scale and bias are copied)
// and its optimizer state and step count, so that row dst then trains as
// row src would have. from may be r. Methods that move an id to another
// row while training (CAFE promoting a hot id to its own row) use it; so
// do exports that reorder rows. It panics if the stores differ in dim,
// storage or optimizer, or a row is out of range. It needs exclusive
// access to r.
func (r *Rows) CopyRow(dst int, from *Rows, src int) {
	if from.dim != r.dim || (from.codes == nil) != (r.codes == nil) || from.stride != r.stride || (from.steps == nil) != (r.steps == nil) {
		panic(fmt.Sprintf("embedding: CopyRow between unlike stores (dim %d/%d, int8 %v/%v, state %d/%d)",
			r.dim, from.dim, r.codes != nil, from.codes != nil, r.stride, from.stride))
	}
	if dst < 0 || dst >= r.n || src < 0 || src >= from.n {
		panic(fmt.Sprintf("embedding: CopyRow row %d <- %d out of [0, %d) <- [0, %d)", dst, src, r.n, from.n))
	}
	d := r.dim
	if r.codes != nil {
		rb := int8RowBytes(d)
		copy(r.codes[dst*rb:(dst+1)*rb], from.codes[src*rb:(src+1)*rb])
	} else {
		copy(r.params[dst*d:(dst+1)*d], from.params[src*d:(src+1)*d])
	}
	if s := r.stride; s > 0 {
		copy(r.state[dst*s:(dst+1)*s], from.state[src*s:(src+1)*s])
	}
	if r.steps != nil {
		r.steps[dst] = from.steps[src]
	}
}

// NewRowsLike returns a store of n zero rows shaped like r: its dim,
// optimizer and storage (an export that reorders r's rows copies them in
// with CopyRow).
func NewRowsLike(r *Rows, n int) (*Rows, error) {
	return NewRowsWithStorage(n, r.dim, r.opt, r.Storage())
}
