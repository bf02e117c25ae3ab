package datasets

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
)

// Fold is one fold of a k-fold split: the Parquet files of its training
// rows and of its test rows.
type Fold struct {
	Train, Test string
}

// foldReader passes the rows of r whose index (0-based, counting good rows
// and malformed ones alike) has index%k == fold (test) or != fold (train).
type foldReader struct {
	RecordReader
	k, fold int
	test    bool
	i       int
}

func (f *foldReader) Read(rec *Record) error {
	for {
		err := f.RecordReader.Read(rec)
		var re *RowError
		if err != nil && !errors.As(err, &re) {
			return err
		}
		in := (f.i%f.k == f.fold) == f.test
		f.i++
		if in {
			return err // a row error of a row of this side is reported, as the source would
		}
	}
}

// WriteFolds writes a k-fold split of the rows open returns (called 2k
// times, once per file) as Parquet files dir/name_fold<i>_{train,test}.parquet:
// row j is a test row of fold j mod k (interleaved, so each fold spans the
// whole file, time-ordered or not) and a training row of the others.
// Malformed rows follow opt.OnError. Files that already exist are
// rewritten (each atomically).
func WriteFolds(ctx context.Context, open func() (RecordReader, error), k int, dir, name string, opt ConvertOptions) ([]Fold, error) {
	if k < 2 {
		return nil, fmt.Errorf("folds: want k >= 2, got %d", k)
	}
	folds := make([]Fold, k)
	for i := range folds {
		folds[i] = Fold{
			Train: filepath.Join(dir, fmt.Sprintf("%s_fold%d_train.parquet", name, i)),
			Test:  filepath.Join(dir, fmt.Sprintf("%s_fold%d_test.parquet", name, i)),
		}
		for _, side := range []struct {
			path string
			test bool
		}{{folds[i].Train, false}, {folds[i].Test, true}} {
			r, err := open()
			if err != nil {
				return nil, fmt.Errorf("folds: %w", err)
			}
			_, err = Convert(ctx, &foldReader{RecordReader: r, k: k, fold: i, test: side.test}, side.path, opt)
			r.Close()
			if err != nil {
				return nil, fmt.Errorf("folds: fold %d: %w", i, err)
			}
		}
	}
	return folds, nil
}

// ConcatReaders reads the readers one after the other, as one source; they
// must share a schema (the first one's is returned). Close closes them all.
func ConcatReaders(rs ...RecordReader) (RecordReader, error) {
	if len(rs) == 0 {
		return nil, fmt.Errorf("concat: no readers")
	}
	for _, r := range rs[1:] {
		if MarshalSchema(r.Schema()) != MarshalSchema(rs[0].Schema()) {
			return nil, fmt.Errorf("concat: schemas differ: %s and %s", MarshalSchema(rs[0].Schema()), MarshalSchema(r.Schema()))
		}
	}
	return &concatReader{rs: rs}, nil
}

type concatReader struct {
	rs  []RecordReader
	cur int
}

func (c *concatReader) Schema() *Schema { return c.rs[0].Schema() }

func (c *concatReader) Read(rec *Record) error {
	for c.cur < len(c.rs) {
		err := c.rs[c.cur].Read(rec)
		if errors.Is(err, io.EOF) {
			c.cur++
			continue
		}
		return err
	}
	return io.EOF
}

func (c *concatReader) Close() error {
	var first error
	for _, r := range c.rs {
		if err := r.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
