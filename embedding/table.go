package embedding

// Table maps the categorical ids of a batch to embedding vectors.
//
// ids holds one hashed id per (example, field), row-major: ids[b*Fields()+f]
// is field f of example b (ids come from hashing.Hasher, already salted per
// field). out receives Dim() floats per id in the same order, so
// len(out) == len(ids)*Dim(). Fields whose searched dimension is smaller
// than Dim() are zero-padded.
//
// Lookup is safe for concurrent use with other Lookups; it must not run
// concurrently with Apply.
type Table interface {
	Fields() int
	Dim() int
	Lookup(ids []uint64, out []float32)
	// Bytes reports the memory really used: parameters and optimizer state.
	Bytes() Bytes
}

// Bytes is a table's memory use in bytes.
type Bytes struct {
	Params    int64 // embedding parameters as stored
	Optimizer int64 // optimizer state (accumulators, moments)
	Index     int64 // vocabularies, hash maps and other lookup structures
}

// Total is the sum of all parts.
func (b Bytes) Total() int64 { return b.Params + b.Optimizer + b.Index }

// Trainable is a Table that learns. Apply takes the ids of a batch and the
// gradient of the loss with respect to Lookup's output (same layout as out)
// and updates only the rows those ids touched, with the table's optimizer.
// Gradients of ids that share a row are summed before the update (as FBGEMM
// does), so an update is independent of the order of ids.
type Trainable interface {
	Table
	Apply(ids []uint64, grads []float32)
}

// FieldTrainable is a Trainable that also looks up and trains ids of any
// fields in any order, several of a field per example: the values of bag
// fields, pooled by the caller. LookupFields(ids, fields, out) writes the
// vector of ids[i] in field fields[i] to out[i*Dim():(i+1)*Dim()];
// ApplyFields is Apply for such a list, so one call trains a batch's
// one-hot and bag values together, each row once. For fields listing
// whole examples in order (0, 1, ..., F-1, 0, ...) they equal Lookup and
// Apply bit for bit (embtest checks it).
type FieldTrainable interface {
	Trainable
	LookupFields(ids []uint64, fields []int, out []float32)
	ApplyFields(ids []uint64, fields []int, grads []float32)
}

// Scheduled is implemented by tables whose training follows the run's
// progress (DeepLight's pruning schedule, PEP's search phase): the
// trainer calls SetStep before each training step's lookups with the
// step (from 0) and the run's total steps. A table restored from a
// checkpoint gets the step it resumes at.
type Scheduled interface {
	SetStep(step, total int64)
}
