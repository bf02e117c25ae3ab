package datasets

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
)

// scriptedReader returns a fixed sequence of results: nil results deliver a
// record whose Timestamp is the step number.
type scriptedReader struct {
	steps  []error
	i      int
	closed bool
}

func (r *scriptedReader) Schema() *Schema { return criteoSchema() }

func (r *scriptedReader) Read(rec *Record) error {
	if r.i >= len(r.steps) {
		return io.EOF
	}
	err := r.steps[r.i]
	rec.Timestamp = int64(r.i)
	r.i++
	return err
}

func (r *scriptedReader) Close() error { r.closed = true; return nil }

func rowErrAt(line int64) *RowError {
	return &RowError{File: "f", Line: line, Field: "I1", Err: errors.New("bad")}
}

func TestSkipping(t *testing.T) {
	fatal := errors.New("disk on fire")
	steps := []error{nil, rowErrAt(2), nil, rowErrAt(4), fmt.Errorf("wrapped: %w", rowErrAt(5)), rowErrAt(6), nil, fatal, nil}

	t.Run("skip", func(t *testing.T) {
		src := &scriptedReader{steps: steps}
		s := NewSkipping(src, Skip, 2)
		rec := NewRecord(s.Schema())
		var got []int64
		var err error
		for err == nil {
			if err = s.Read(rec); err == nil {
				got = append(got, rec.Timestamp)
			}
		}
		if err != fatal {
			t.Errorf("ended with %v, want the non-row error", err)
		}
		if !slices.Equal(got, []int64{0, 2, 6}) {
			t.Errorf("good rows at steps %v", got)
		}
		if s.Skipped() != 4 || s.Rows() != 3 {
			t.Errorf("Skipped %d Rows %d, want 4 3", s.Skipped(), s.Rows())
		}
		first := s.FirstErrors()
		if len(first) != 2 || first[0].Line != 2 || first[1].Line != 4 {
			t.Errorf("first errors %v", first)
		}
		// Reading goes on after the non-row error if the source does.
		if err := s.Read(rec); err != nil || rec.Timestamp != 8 {
			t.Errorf("after the error: %v", err)
		}
		if err := s.Read(rec); err != io.EOF {
			t.Errorf("at end: %v", err)
		}
		if err := s.Close(); err != nil || !src.closed {
			t.Errorf("close: %v, source closed %v", err, src.closed)
		}
	})

	t.Run("fail", func(t *testing.T) {
		s := NewSkipping(&scriptedReader{steps: steps}, Fail, 2)
		rec := NewRecord(s.Schema())
		var results []string
		for {
			err := s.Read(rec)
			if err == io.EOF {
				break
			}
			var rowErr *RowError
			switch {
			case err == nil:
				results = append(results, "ok")
			case errors.As(err, &rowErr):
				results = append(results, fmt.Sprint(rowErr.Line))
			default:
				results = append(results, err.Error())
			}
		}
		want := []string{"ok", "2", "ok", "4", "5", "6", "ok", "disk on fire", "ok"}
		if !slices.Equal(results, want) {
			t.Errorf("results %v, want %v", results, want)
		}
		if s.Skipped() != 0 || len(s.FirstErrors()) != 0 || s.Rows() != 4 {
			t.Errorf("Skipped %d FirstErrors %v Rows %d", s.Skipped(), s.FirstErrors(), s.Rows())
		}
	})

	t.Run("keep 0", func(t *testing.T) {
		s := NewSkipping(&scriptedReader{steps: steps[:7]}, Skip, 0)
		for s.Read(NewRecord(s.Schema())) == nil {
		}
		if s.Skipped() != 4 || len(s.FirstErrors()) != 0 {
			t.Errorf("Skipped %d FirstErrors %v", s.Skipped(), s.FirstErrors())
		}
	})

	t.Run("max skipped", func(t *testing.T) {
		s := NewSkipping(&scriptedReader{steps: steps}, Skip, 10)
		s.SetMaxSkipped(2)
		rec := NewRecord(s.Schema())
		var err error
		for err == nil {
			err = s.Read(rec)
		}
		if !errors.Is(err, ErrTooManyBadRows) || !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "f:5") {
			t.Errorf("error %v, want ErrTooManyBadRows at the third bad row", err)
		}
		if s.Skipped() != 2 || s.Rows() != 2 {
			t.Errorf("Skipped %d Rows %d", s.Skipped(), s.Rows())
		}
	})
}

func TestSkippingCriteoFile(t *testing.T) {
	good := criteoTestLine(nil)
	content := good + "\n" + "2" + good[1:] + "\n" + good + "\n" + "x\n" + good + "\r\n"
	path := writeRawFile(t, "mixed.tsv", []byte(content))
	r, err := OpenRaw("criteo", path)
	if err != nil {
		t.Fatal(err)
	}
	s := NewSkipping(r, Skip, 5)
	defer s.Close()
	res := readAllRaw(t, s)
	if res.err != nil || len(res.rowErrs) != 0 || len(res.recs) != 3 {
		t.Fatalf("got %d records, %v, %v", len(res.recs), res.rowErrs, res.err)
	}
	first := s.FirstErrors()
	if s.Skipped() != 2 || len(first) != 2 {
		t.Fatalf("skipped %d, first %v", s.Skipped(), first)
	}
	if first[0].File != path || first[0].Line != 2 || first[0].Field != "label" ||
		first[1].Line != 4 || first[1].Field != "" {
		t.Errorf("first errors %v", first)
	}
	// The kept errors stay intact after more reads: they do not alias the
	// line buffer.
	if !strings.Contains(first[0].Error(), `got "2"`) {
		t.Errorf("kept error %q", first[0])
	}

	// A truncated gzip passes through Skip.
	cut := writeRawFile(t, "cut.tsv.gz", truncatedGzipLines(t, 5000))
	r, err = OpenRaw("criteo", cut)
	if err != nil {
		t.Fatal(err)
	}
	s = NewSkipping(r, Skip, 5)
	defer s.Close()
	res = readAllRaw(t, s)
	if res.err == nil || s.Skipped() != 0 || !strings.Contains(res.err.Error(), cut) {
		t.Errorf("truncated gzip under Skip: %v (skipped %d)", res.err, s.Skipped())
	}
}
