package mmapstore_test

import (
	"testing"

	"github.com/embtab/embtab/lookup"
	"github.com/embtab/embtab/lookup/mmapstore"
	"github.com/embtab/embtab/lookup/storetest"
)

func TestConformance(t *testing.T) {
	for _, codec := range []string{"fp32", "fp16", "int8", "int4"} {
		t.Run(codec, func(t *testing.T) {
			a := storetest.Fixture(t, codec)
			storetest.Run(t, a, func(t *testing.T) lookup.Store { return mmapstore.New(a) })
		})
		t.Run(codec+"/field-dims", func(t *testing.T) {
			a := storetest.FixtureFieldDims(t, codec)
			storetest.Run(t, a, func(t *testing.T) lookup.Store { return mmapstore.New(a) })
		})
	}
}
