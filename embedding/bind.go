package embedding

import "encoding/json"

// RowBinder is an optional interface of a [Method] whose plan computes
// field vectors from parameters that the table stores as row sets but that
// no key names: DHE's MLP weights, say, which travel in the artifact as
// its row sets (so its codec and stores apply to them) and which the
// plan's computers read whole. [Method.Plan] cannot build such a plan from
// the config alone; serving finds RowBinder by type assertion and calls
// PlanWithRows with the artifact's row sets decoded to fp32 once, at
// load.
type RowBinder interface {
	// PlanWithRows is Plan with the table's row sets: rows[s] holds row
	// set s, row-major, Sets[s].Rows × Sets[s].Width floats, decoded from
	// the artifact's codec. The plan may keep and read them: they must
	// outlive it and not change. The errors wrap [ErrCorrupt].
	PlanWithRows(config json.RawMessage, index Index, rows [][]float32) (*Plan, error)
}
