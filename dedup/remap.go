package dedup

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
)

// Remap maps logical blocks to physical rows. In JSON it is one base64
// string of the indices as little-endian uint32 (about 5.3 bytes a
// block, and no indentation when a manifest is pretty-printed: a JSON
// array of numbers would take up to 17 bytes a block there).
type Remap []uint32

// MarshalJSON encodes the remap as base64 of its little-endian uint32s.
func (m Remap) MarshalJSON() ([]byte, error) {
	if m == nil {
		return []byte("null"), nil
	}
	b := make([]byte, 0, 4*len(m))
	for _, v := range m {
		b = binary.LittleEndian.AppendUint32(b, v)
	}
	return json.Marshal(b) // []byte marshals as base64
}

// UnmarshalJSON decodes what MarshalJSON writes.
func (m *Remap) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		*m = nil
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("remap: %w", err)
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b)%4 != 0 {
		return fmt.Errorf("remap: %d bytes of base64 (%v): not whole uint32s", len(b), err)
	}
	r := make(Remap, len(b)/4)
	for i := range r {
		r[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	*m = r
	return nil
}
