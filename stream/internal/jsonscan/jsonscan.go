// Package jsonscan is what flowhose's one-pass JSON readers share: the
// Firehose request body (stream/source/firehose), CloudWatch Logs
// subscription documents (stream/decode) and the transformation event
// (stream/source/transform). Each reader accepts only the plain shape its
// producer writes and leaves everything else to encoding/json, so these
// functions never decode: they say where a value lies and report false for
// anything a reader should not take on its own (escapes, control
// characters, invalid UTF-8, deep nesting, malformed JSON). Each reader's
// fuzz test checks that it agrees with encoding/json.
//
// Every function takes the input and an offset, skips whitespace before
// what it reads, and returns the offset after it.
package jsonscan

import (
	"bytes"
	"encoding/binary"
	"strings"
	"unicode/utf8"

	"github.com/flowhose/flowhose/stream/jsonenc"
)

// Span is where a string's bytes lie, data[Start:End], without the quotes.
type Span struct{ Start, End int }

// Len is the string's length in bytes.
func (s Span) Len() int { return s.End - s.Start }

// Space returns the offset of the first byte at or after i that is not
// JSON whitespace.
func Space(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}

// Byte expects c, after whitespace.
func Byte(data []byte, i int, c byte) (int, bool) {
	i = Space(data, i)
	if i < len(data) && data[i] == c {
		return i + 1, true
	}
	return i, false
}

// ObjectStart expects '{'. The caller reads the first key next, so an
// empty object is left to encoding/json.
func ObjectStart(data []byte, i int) (int, bool) {
	return Byte(data, i, '{')
}

// Next expects ',' or closing after an object's member or an array's
// element; the caller tells them apart by data[end-1].
func Next(data []byte, i int, closing byte) (end int, ok bool) {
	i = Space(data, i)
	return i + 1, i < len(data) && (data[i] == ',' || data[i] == closing)
}

// Object scans an object member by member: member is called with each
// key and the offset of its value, and returns the offset after the
// value. An empty object is left to encoding/json.
func Object(data []byte, i int, member func(key []byte, value int) (int, bool)) (int, bool) {
	i, ok := ObjectStart(data, i)
	for ok {
		var key Span
		if key, i, ok = Key(data, i); !ok {
			break
		}
		if i, ok = member(data[key.Start:key.End], i); !ok {
			break
		}
		if i, ok = Next(data, i, '}'); ok && data[i-1] == '}' {
			return i, true
		}
	}
	return i, false
}

// Fields scans an object read into a struct, the way encoding/json would
// fill it: value is called with the index in names of each key (-1 for
// any other key) and the offset of its value, and returns the offset
// after the value. A repeated name (encoding/json keeps the last, the
// readers the first) and a key encoding/json would match to one of names
// by case folding are left to encoding/json. seen has bit k set for each
// names[k] found.
func Fields(data []byte, i int, names []string, value func(k, i int) (int, bool)) (end int, seen uint, ok bool) {
	end, ok = Object(data, i, func(key []byte, i int) (int, bool) {
		k := -1
		for n, name := range names {
			if string(key) == name {
				k = n
				break
			}
		}
		switch {
		case k >= 0 && seen&(1<<k) != 0:
			return i, false
		case k >= 0:
			seen |= 1 << k
		case Folds(string(key), names...):
			return i, false
		}
		return value(k, i)
	})
	return end, seen, ok
}

// Key scans a plain string (see String) and the colon after it.
func Key(data []byte, i int) (Span, int, bool) {
	key, i, ok := String(data, i)
	if !ok {
		return key, i, false
	}
	i, ok = Byte(data, i, ':')
	return key, i, ok
}

// String scans a string that encoding/json decodes to its bytes as they
// are: no escapes, no control characters, valid UTF-8. Anything else is
// left to encoding/json, which unescapes and replaces. Eight bytes are
// tested at a time: log messages and ids are mostly plain ASCII.
func String(data []byte, i int) (Span, int, bool) {
	i = Space(data, i)
	if i == len(data) || data[i] != '"' {
		return Span{}, i, false
	}
	start := i + 1
	ascii := true
	j := start
	for {
		for j+8 <= len(data) && jsonenc.Plain8(binary.LittleEndian.Uint64(data[j:])) {
			j += 8
		}
		if j == len(data) {
			return Span{}, j, false
		}
		switch c := data[j]; {
		case c == '"':
			return Span{start, j}, j + 1, ascii || utf8.Valid(data[start:j])
		case c < 0x20 || c == '\\':
			return Span{}, j, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
		j++
	}
}

// Base64 scans a string holding base64, found with IndexByte many bytes
// at a time instead of byte by byte. It does not check the alphabet: a
// byte outside it fails base64 decoding on the reader's fast path as it
// does after encoding/json, with the same status. Only what encoding/json
// would hand to base64 decoding changed is refused: a backslash (an
// escape, whose quote may not even end the string), and CR and LF, which
// base64 decoding skips but a JSON string cannot hold raw.
func Base64(data []byte, i int) (Span, int, bool) {
	i = Space(data, i)
	if i == len(data) || data[i] != '"' {
		return Span{}, i, false
	}
	start := i + 1
	n := bytes.IndexByte(data[start:], '"')
	if n < 0 {
		return Span{}, len(data), false
	}
	s := data[start : start+n]
	if bytes.IndexByte(s, '\\') >= 0 || bytes.IndexByte(s, '\n') >= 0 || bytes.IndexByte(s, '\r') >= 0 {
		return Span{}, start, false
	}
	return Span{start, start + n}, start + n + 1, true
}

// MaxDepth bounds how deeply Value follows arrays and objects; deeper
// values are left to encoding/json.
const MaxDepth = 8

// Value skips a value a reader ignores: a plain string, a number, true,
// false, null, or arrays and objects of those nested at most MaxDepth
// deep. Keys of objects inside it are not checked for repeats: a value
// ignored whole is ignored whatever it holds.
func Value(data []byte, i int) (int, bool) {
	return value(data, i, MaxDepth)
}

func value(data []byte, i, depth int) (int, bool) {
	i = Space(data, i)
	if i == len(data) {
		return i, false
	}
	open := data[i]
	if open != '[' && open != '{' {
		return Scalar(data, i)
	}
	if depth == 0 {
		return i, false
	}
	closing := byte(']')
	if open == '{' {
		closing = '}'
	}
	if end, ok := Byte(data, i+1, closing); ok {
		return end, true
	}
	i++
	for {
		var ok bool
		if open == '{' {
			if _, i, ok = Key(data, i); !ok {
				return i, false
			}
		}
		if i, ok = value(data, i, depth-1); !ok {
			return i, false
		}
		if i, ok = Next(data, i, closing); !ok {
			return i, false
		}
		if data[i-1] == closing {
			return i, true
		}
	}
}

// Scalars skips a scalar (see Scalar) or a flat array of them.
func Scalars(data []byte, i int) (int, bool) {
	i = Space(data, i)
	if i < len(data) && data[i] == '[' {
		return value(data, i, 1)
	}
	return Scalar(data, i)
}

// Scalar skips a plain string, a number or a literal.
func Scalar(data []byte, i int) (int, bool) {
	i = Space(data, i)
	if i == len(data) {
		return i, false
	}
	switch c := data[i]; {
	case c == '"':
		_, end, ok := String(data, i)
		return end, ok
	case c == '-' || '0' <= c && c <= '9':
		return Number(data, i)
	}
	for _, lit := range [...]string{"true", "false", "null"} {
		if bytes.HasPrefix(data[i:], []byte(lit)) {
			return i + len(lit), true
		}
	}
	return i, false
}

// Number skips a number of JSON's grammar:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func Number(data []byte, i int) (int, bool) {
	i = Space(data, i)
	digits := func(i int) int {
		for i < len(data) && '0' <= data[i] && data[i] <= '9' {
			i++
		}
		return i
	}
	if i < len(data) && data[i] == '-' {
		i++
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case i < len(data) && '1' <= data[i] && data[i] <= '9':
		i = digits(i)
	default:
		return i, false
	}
	if i < len(data) && data[i] == '.' {
		j := digits(i + 1)
		if j == i+1 {
			return j, false
		}
		i = j
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		j := digits(i)
		if j == i {
			return j, false
		}
		i = j
	}
	return i, true
}

// Folds reports whether key is one of names in another case, which
// encoding/json takes for that struct field: a reader leaves such keys to
// it. Keys that are not ASCII count too (it folds "ſ" to "s" and "K" to
// "k").
func Folds(key string, names ...string) bool {
	for i := 0; i < len(key); i++ {
		if key[i] >= utf8.RuneSelf {
			return true
		}
	}
	for _, n := range names {
		if strings.EqualFold(key, n) {
			return true
		}
	}
	return false
}
