package slots

import (
	"errors"
	"slices"
	"testing"

	"github.com/embtab/embtab/datasets"
)

// Two one-hot fields a, b; bag "own" (its own field 2) and bag "hist"
// sharing field b (1).
var testSchema = &datasets.Schema{Label: "y", Categorical: []string{"a", "b"},
	Bags: []datasets.Bag{{Name: "own"}, {Name: "hist", Of: "b"}}}

func testBatch() (ids []uint64, bags []datasets.BagColumn) {
	return []uint64{10, 20, 30, 40}, []datasets.BagColumn{
		{Offsets: []int32{0, 2, 2}, IDs: []uint64{100, 200}},   // example 0: two values; example 1: empty
		{Offsets: []int32{0, 1, 4}, IDs: []uint64{5, 6, 7, 8}}, // one; three
	}
}

// lookup fills p.Vals as a table whose vector of (id, field) is id+field
// in every float.
func lookup(p *Pass, dim int) {
	for i, id := range p.IDs {
		for x := range dim {
			p.Vals[i*dim+x] = float32(id) + float32(p.Fields[i])
		}
	}
}

func TestPooled(t *testing.T) {
	for _, pooling := range []string{Mean, Sum} {
		l, err := New(testSchema, pooling, -1, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Validate(3); err != nil {
			t.Fatal(err)
		}
		p := l.NewPass()
		ids, bags := testBatch()
		if err := p.Pairs(2, ids, bags, 2); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(p.Fields, []int{0, 1, 0, 1, 2, 2, 1, 1, 1, 1}) || !slices.Equal(p.IDs, []uint64{10, 20, 30, 40, 100, 200, 5, 6, 7, 8}) {
			t.Fatalf("%s: pairs %v fields %v", pooling, p.IDs, p.Fields)
		}
		lookup(p, 2)
		emb := make([]float32, 2*4*2)
		p.Pool(emb, 2)
		mean := pooling == Mean
		pool := func(sum float32, n int) float32 {
			if mean && n > 0 {
				return sum / float32(n)
			}
			return sum
		}
		want := []float32{ // per example and slot: a, b, own, hist
			10, 20 + 1, pool(100+2+200+2, 2), pool(5+1, 1),
			30, 40 + 1, 0, pool(6+1+7+1+8+1, 3),
		}
		for i, w := range want {
			if emb[2*i] != w || emb[2*i+1] != w {
				t.Errorf("%s: slot %d = %v, want %v", pooling, i, emb[2*i:2*i+2], w)
			}
		}
		dEmb := make([]float32, len(emb))
		for i := range dEmb {
			dEmb[i] = float32(i + 1)
		}
		grads := p.Unpool(dEmb, 2)
		w := func(n int) float32 {
			if mean {
				return 1 / float32(n)
			}
			return 1
		}
		g := func(i, slot int) float32 { return float32(2*(4*i+slot) + 1) } // first float of slot's dEmb
		wantGrad := []float32{g(0, 0), g(0, 1), g(1, 0), g(1, 1), w(2) * g(0, 2), w(2) * g(0, 2), g(0, 3), w(3) * g(1, 3), w(3) * g(1, 3), w(3) * g(1, 3)}
		for i, wg := range wantGrad {
			if grads[2*i] != wg {
				t.Errorf("%s: pair %d gradient %v, want %v", pooling, i, grads[2*i:2*i+2], wg)
			}
		}
	}
}

// "hist" as a sequence of 2 slots (after "own"'s pooled slot): example 0
// holds [5] and a padding slot, example 1 the last two of [6, 7, 8].
func TestSequence(t *testing.T) {
	l, err := New(testSchema, Sum, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if l.Slots != 5 || l.Bags[1].Slot != 3 || l.Bags[0].Slot != 2 || l.Bags[1].SeqLen != 2 {
		t.Fatalf("layout %+v", l)
	}
	if err := l.Validate(3); err != nil {
		t.Fatal(err)
	}
	p := l.NewPass()
	ids, bags := testBatch()
	if err := p.Pairs(2, ids, bags, 1); err != nil {
		t.Fatal(err)
	}
	lookup(p, 1)
	emb := make([]float32, 2*5)
	p.Pool(emb, 1)
	if want := []float32{10, 21, 304, 6, 0, 30, 41, 0, 8, 9}; !slices.Equal(emb, want) {
		t.Fatalf("sequence layout %v, want %v", emb, want)
	}
	grads := p.Unpool([]float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 1)
	if !slices.Equal(p.IDs, []uint64{10, 20, 30, 40, 100, 200, 5, 7, 8}) || !slices.Equal(grads, []float32{1, 2, 6, 7, 3, 3, 4, 9, 10}) {
		t.Fatalf("sequence pairs %v grads %v", p.IDs, grads)
	}
}

func TestLayoutErrors(t *testing.T) {
	if _, err := New(testSchema, "max", -1, 0); !errors.Is(err, ErrLayout) {
		t.Errorf("pooling max: %v", err)
	}
	if _, err := New(testSchema, Sum, 2, 3); !errors.Is(err, ErrLayout) {
		t.Errorf("sequence bag out of range: %v", err)
	}
	good, _ := New(testSchema, Sum, 1, 2)
	for name, mut := range map[string]func(l *Layout){
		"field out of range": func(l *Layout) { l.Bags[0].Field = 3 },
		"slot twice":         func(l *Layout) { l.Bags[0].Slot = 3 },
		"slot past the end":  func(l *Layout) { l.Bags[1].SeqLen = 3 },
		"unfilled slot":      func(l *Layout) { l.Slots = 6 },
		"no pooling":         func(l *Layout) { l.Bags[0].Pooling = "" },
		"too many fields":    func(l *Layout) { l.Cat = 4 },
	} {
		l := *good
		l.Bags = slices.Clone(good.Bags)
		mut(&l)
		if err := l.Validate(3); !errors.Is(err, ErrLayout) {
			t.Errorf("%s: %v", name, err)
		}
	}
	p := good.NewPass()
	ids, bags := testBatch()
	if err := p.Pairs(3, ids, bags, 1); !errors.Is(err, ErrLayout) {
		t.Errorf("rows mismatch: %v", err)
	}
}
