// Package vecfile reads and writes dense float32 vector files: TEXMEX
// .fvecs (read and write) and NumPy .npy (write, 2-D float32).
//
// # Formats
//
// An .fvecs file is a sequence of records, one per vector: the dimension
// as a little-endian int32, then that many little-endian float32 values.
// Every record of a file must have the same dimension.
//
// An .npy file (format version 1.0) is the magic "\x93NUMPY", the version
// bytes 1 and 0, a little-endian uint16 header length, a Python dict
// literal header padded with spaces to a multiple of 64 bytes and ended by
// a newline, then the rows·dim float32 values in C order ('<f4').
//
// # Concurrency
//
// The functions keep no state; they may be called from any goroutine.
package vecfile

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

// Errors of the readers. They are wrapped with the record at fault; match
// them with [errors.Is].
var (
	// ErrFormat reports a malformed file: a non-positive or inconsistent
	// dimension, or a truncated record.
	ErrFormat = errors.New("vecfile: malformed vector file")
	// ErrShape reports data whose length is not rows·dim, or dim < 1.
	ErrShape = errors.New("vecfile: inconsistent shape")
)

// maxDim bounds the dimension a reader accepts, so that a corrupt header
// cannot make it allocate gigabytes for one record.
const maxDim = 1 << 20

// ReadFvecs reads every vector of an .fvecs stream. It returns the values
// row after row and the dimension; an empty stream gives (nil, 0, nil).
func ReadFvecs(r io.Reader) ([]float32, int, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	var (
		out []float32
		dim int
		hdr [4]byte
		buf []byte
	)
	for row := 0; ; row++ {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			if err == io.EOF {
				return out, dim, nil
			}
			return nil, 0, fmt.Errorf("%w: record %d header: %v", ErrFormat, row, err)
		}
		d := int(int32(binary.LittleEndian.Uint32(hdr[:])))
		if d < 1 || d > maxDim || (dim != 0 && d != dim) {
			return nil, 0, fmt.Errorf("%w: record %d has dimension %d (want %d)", ErrFormat, row, d, dim)
		}
		if dim == 0 {
			dim = d
			buf = make([]byte, 4*d)
		}
		if _, err := io.ReadFull(br, buf); err != nil {
			return nil, 0, fmt.Errorf("%w: record %d truncated: %v", ErrFormat, row, err)
		}
		for j := 0; j < d; j++ {
			out = append(out, math.Float32frombits(binary.LittleEndian.Uint32(buf[4*j:])))
		}
	}
}

// ReadFvecsFile reads the .fvecs file at path.
func ReadFvecsFile(path string) ([]float32, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	data, dim, err := ReadFvecs(f)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", path, err)
	}
	return data, dim, nil
}

func checkShape(data []float32, dim int) (int, error) {
	if dim < 1 || len(data)%dim != 0 {
		return 0, fmt.Errorf("%w: %d values, dim %d", ErrShape, len(data), dim)
	}
	return len(data) / dim, nil
}

// WriteFvecs writes data, rows of dim values, as .fvecs records.
func WriteFvecs(w io.Writer, data []float32, dim int) error {
	rows, err := checkShape(data, dim)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	rec := make([]byte, 0, 4+4*dim)
	for i := 0; i < rows; i++ {
		rec = binary.LittleEndian.AppendUint32(rec[:0], uint32(dim))
		for _, v := range data[i*dim : (i+1)*dim] {
			rec = binary.LittleEndian.AppendUint32(rec, math.Float32bits(v))
		}
		if _, err := bw.Write(rec); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// WriteNpy writes data, rows of dim values, as a 2-D float32 .npy array of
// shape (rows, dim).
func WriteNpy(w io.Writer, data []float32, dim int) error {
	rows, err := checkShape(data, dim)
	if err != nil {
		return err
	}
	dict := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }", rows, dim)
	// magic(6) + version(2) + len(2) + dict + padding + '\n' ≡ 0 mod 64.
	total := 10 + len(dict) + 1
	pad := (64 - total%64) % 64
	hdr := make([]byte, 0, total+pad)
	hdr = append(hdr, "\x93NUMPY\x01\x00"...)
	hdr = binary.LittleEndian.AppendUint16(hdr, uint16(len(dict)+pad+1))
	hdr = append(hdr, dict...)
	for i := 0; i < pad; i++ {
		hdr = append(hdr, ' ')
	}
	hdr = append(hdr, '\n')
	bw := bufio.NewWriterSize(w, 1<<20)
	if _, err := bw.Write(hdr); err != nil {
		return err
	}
	var b [4]byte
	for _, v := range data {
		binary.LittleEndian.PutUint32(b[:], math.Float32bits(v))
		if _, err := bw.Write(b[:]); err != nil {
			return err
		}
	}
	return bw.Flush()
}
