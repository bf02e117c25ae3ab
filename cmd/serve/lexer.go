package main

// A JSON token reader for request bodies already checked by json.Valid:
// it walks the bytes once without allocating per token, where
// encoding/json's Decoder re-scans every value and builds an error value
// at the end of each one (80% of /v1/score's CPU with 200 candidates per
// request, BENCHMARKS.md). It gives the tokens json.Decoder would for the
// same valid input, so the request decoder runs on either: invalid bodies
// still go through json.Decoder, which reports where they break.

import (
	"bytes"
	"encoding/json"
	"io"
	"strconv"
	"unicode/utf8"
	"unsafe"
)

// tokenSource is what the request decoder reads: *json.Decoder or
// *validLexer.
type tokenSource interface {
	Token() (json.Token, error)
	More() bool
	Decode(v any) error
}

// validLexer reads tokens from valid JSON.
type validLexer struct {
	data []byte
	pos  int
}

// skip passes white space and the separators between tokens (valid JSON
// puts them only where they belong).
func (l *validLexer) skip() {
	for l.pos < len(l.data) {
		switch l.data[l.pos] {
		case ' ', '\t', '\n', '\r', ',', ':':
			l.pos++
		default:
			return
		}
	}
}

func (l *validLexer) Token() (json.Token, error) {
	l.skip()
	if l.pos == len(l.data) {
		return nil, io.EOF
	}
	switch c := l.data[l.pos]; c {
	case '{', '}', '[', ']':
		l.pos++
		return json.Delim(c), nil
	case '"':
		end := stringEnd(l.data, l.pos)
		s, err := unquote(l.data[l.pos:end])
		l.pos = end
		return s, err
	case 'n':
		l.pos += 4
		return nil, nil
	case 't':
		l.pos += 4
		return true, nil
	case 'f':
		l.pos += 5
		return false, nil
	}
	// a number: float64, as json.Decoder gives it
	end := scalarEnd(l.data, l.pos)
	v, err := strconv.ParseFloat(string(l.data[l.pos:end]), 64)
	l.pos = end
	if err != nil {
		return nil, err
	}
	return v, nil
}

func (l *validLexer) More() bool {
	l.skip()
	return l.pos < len(l.data) && l.data[l.pos] != ']' && l.data[l.pos] != '}'
}

// Decode stores the next value: its bytes in a *json.RawMessage (no copy),
// anything else through json.Unmarshal.
func (l *validLexer) Decode(v any) error {
	l.skip()
	end := valueEnd(l.data, l.pos)
	raw := l.data[l.pos:end]
	l.pos = end
	if rm, ok := v.(*json.RawMessage); ok {
		*rm = raw
		return nil
	}
	return json.Unmarshal(raw, v)
}

// stringEnd returns the index after the string starting at data[i] ('"').
func stringEnd(data []byte, i int) int {
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(data)
}

// scalarEnd returns the index after the number or literal at data[i].
func scalarEnd(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
		i++
	}
	return i
}

// valueEnd returns the index after the value starting at data[i].
func valueEnd(data []byte, i int) int {
	switch data[i] {
	case '"':
		return stringEnd(data, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(data); j++ {
			switch data[j] {
			case '"':
				j = stringEnd(data, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return len(data)
	}
	return scalarEnd(data, i)
}

// unquote returns the string of a JSON string literal (quotes included),
// as encoding/json decodes it: without escapes and in valid UTF-8 it is
// the bytes between the quotes, aliased, not copied (a request's strings
// live no longer than its body, which is never written to).
func unquote(lit []byte) (string, error) {
	in := lit[1 : len(lit)-1]
	if bytes.IndexByte(in, '\\') < 0 && utf8.Valid(in) {
		if len(in) == 0 {
			return "", nil
		}
		return unsafe.String(&in[0], len(in)), nil
	}
	var s string
	err := json.Unmarshal(lit, &s)
	return s, err
}
