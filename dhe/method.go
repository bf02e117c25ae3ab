package dhe

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/embtab/embtab/embedding"
)

func init() { embedding.RegisterMethod(Method, dheMethod{}) }

// dheMethod is the registered method. It is an [embedding.RowBinder]: its
// plan computes from the weights, which serving hands it as decoded row
// sets.
type dheMethod struct{}

// New sizes a DHE table to the spec's budget in serving bytes (the
// networks' fp32 parameters; no index), split evenly over the fields. Spec
// settings (none is a train flag; the defaults are the package's):
// hidden (width of the hidden layers), hashes (k), layers (hidden
// layers), buckets (m), lr (Adam's).
func (dheMethod) New(s embedding.Spec) (embedding.Trainable, error) {
	c, err := configFor(s)
	if err != nil {
		return nil, err
	}
	return New(c)
}

// Plan refuses: a DHE plan computes from the networks' weights, which the
// config alone does not give ([dheMethod.PlanWithRows] takes them).
func (dheMethod) Plan(raw json.RawMessage, _ embedding.Index) (*embedding.Plan, error) {
	if _, err := decodeConfig(raw); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("dhe table: the plan computes from the networks' weights: it needs the table's row sets (embedding.RowBinder): %w", embedding.ErrConfig)
}

// PlanWithRows returns the plan of a table of the config over its row
// sets decoded to fp32 (rows[l]: layer l's weights, row-major), which the
// plan reads and which must outlive it. The errors wrap
// embedding.ErrCorrupt.
func (dheMethod) PlanWithRows(raw json.RawMessage, _ embedding.Index, rows [][]float32) (*embedding.Plan, error) {
	c, err := decodeConfig(raw)
	if err != nil {
		return nil, err
	}
	net, err := newNetwork(c, rows)
	if err != nil {
		return nil, err
	}
	return c.plan(net, nil), nil
}

func decodeConfig(raw json.RawMessage) (Config, error) {
	var c Config
	if err := embedding.DecodeConfig(raw, &c); err != nil {
		return c, fmt.Errorf("dhe table: %w", err)
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("%w: %w", embedding.ErrCorrupt, err)
	}
	return c, nil
}

// Load restores a table that [Table.Save] wrote.
func (dheMethod) Load(r io.Reader) (embedding.Trainable, error) { return load(r) }

var _ embedding.RowBinder = dheMethod{}
