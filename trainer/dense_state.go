package trainer

// GoMLXNet's training state: snapshots in densenet's State format, so
// checkpoints and artifacts move between GoMLXNet and densenet.Net.

import (
	"fmt"
	"io"
	"slices"

	"github.com/embtab/embtab/densenet"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// State returns a deep copy of the net's training state.
func (n *GoMLXNet) State() (s densenet.State, err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	defer recoverGraphPanic("State", &err)
	s = densenet.State{Config: n.Config(), Step: n.step}
	for _, group := range n.stateGroups() {
		for i, v := range group.vars {
			t, err := v.Value()
			if err != nil {
				return densenet.State{}, fmt.Errorf("%w: reading %q: %w", ErrGraph, n.specs[i].Name, err)
			}
			data, err := tensors.CopyFlatData[float32](t)
			if err != nil {
				return densenet.State{}, fmt.Errorf("%w: reading %q: %w", ErrGraph, n.specs[i].Name, err)
			}
			s.Tensors = append(s.Tensors, densenet.NamedTensor{
				Name: group.prefix + n.specs[i].Name,
				Dims: slices.Clone(n.specs[i].Dims),
				Data: data,
			})
		}
	}
	return s, nil
}

// SetState replaces the net's parameters, Adam moments and step with those
// of s (copied). The tensors must match the net's by name, order and shape
// (errors wrap densenet.ErrStateMismatch); s.Config is not consulted, so the
// receiver's hyperparameters stay in force. Nothing changes on error.
func (n *GoMLXNet) SetState(s densenet.State) (err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	defer recoverGraphPanic("SetState", &err)
	groups := n.stateGroups()
	if err := densenet.CheckState(s, n.specs); err != nil {
		return err
	}
	k := 0
	for _, group := range groups {
		for i, v := range group.vars {
			t := s.Tensors[k]
			k++
			if err := v.SetValue(tensors.FromFlatDataAndDimensions(t.Data, n.specs[i].Dims...)); err != nil {
				return fmt.Errorf("%w: setting %q: %w", ErrGraph, t.Name, err)
			}
		}
	}
	n.step = s.Step
	return nil
}

type stateGroup struct {
	prefix string
	vars   []*context.Variable
}

// stateGroups lists the variables in densenet.State order.
func (n *GoMLXNet) stateGroups() []stateGroup {
	p := densenet.StatePrefixes
	return []stateGroup{{p[0], n.params}, {p[1], n.adamM}, {p[2], n.adamV}}
}

// Save writes the net's state (densenet.WriteState's encoding) to w.
func (n *GoMLXNet) Save(w io.Writer) error {
	s, err := n.State()
	if err != nil {
		return err
	}
	return densenet.WriteState(w, s)
}

// Load reads a state written by Save and restores it with SetState.
func (n *GoMLXNet) Load(r io.Reader) error {
	s, err := densenet.ReadState(r)
	if err != nil {
		return err
	}
	return n.SetState(s)
}

// LoadDenseNet builds a net from the config stored in a state written by
// Save and restores that state into it.
func LoadDenseNet(r io.Reader) (*GoMLXNet, error) {
	s, err := densenet.ReadState(r)
	if err != nil {
		return nil, err
	}
	n, err := NewDenseNet(s.Config)
	if err != nil {
		return nil, err
	}
	if err := n.SetState(s); err != nil {
		return nil, err
	}
	return n, nil
}
