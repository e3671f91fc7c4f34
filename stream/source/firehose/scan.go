package firehose

import "bytes"

// span is where one record's base64 data lies in the body.
type span struct{ start, end int }

// scan is the fast path of the body parser: it reads a body of exactly the
// shape Firehose sends, {"requestId":"…","timestamp":N,"records":[{"data":
// "<base64>"},…]}, in one pass, appending where each record's data lies to
// spans, whose growth it reserves with grow first (its only error). It
// reports false for anything else: escapes in
// strings, bytes outside printable ASCII (in a data string: CR and LF; any
// other byte there fails base64 decoding as it does on the general path),
// other values than strings and
// integers, duplicate keys, records with other keys, a missing or empty
// requestId, missing records, and every malformed body. parseJSON then
// decides such bodies, so the fast path only has to be right about what it
// accepts (FuzzFastPath checks that it agrees with parseJSON).
func scan(body []byte, spans []span, grow func(int64) error) (requestID string, _ []span, ok bool, err error) {
	s := scanner{b: body, grow: grow}
	requestID, spans, ok = s.body(spans)
	return requestID, spans, ok, s.err
}

func (s *scanner) body(spans []span) (requestID string, _ []span, ok bool) {
	if !s.byte('{') {
		return "", spans, false
	}
	var sawID, sawRecords bool
	for first := true; ; first = false {
		if s.byte('}') {
			break
		}
		if !first && !s.byte(',') {
			return "", spans, false
		}
		key, ok := s.str()
		if !ok || !s.byte(':') {
			return "", spans, false
		}
		switch string(key) {
		case "requestId":
			id, ok := s.str()
			if !ok || sawID {
				return "", spans, false
			}
			requestID, sawID = string(id), true
		case "records":
			if sawRecords {
				return "", spans, false
			}
			if spans, ok = s.records(spans); !ok {
				return "", spans, false
			}
			sawRecords = true
		default:
			// Duplicates of other keys are harmless: their values are
			// ignored either way.
			if !s.scalar() {
				return "", spans, false
			}
		}
	}
	s.space()
	if s.i != len(s.b) || !sawID || requestID == "" || !sawRecords {
		return "", spans, false
	}
	return requestID, spans, true
}

// scanner walks a body for scan. Its methods skip whitespace before what
// they read and report false, consuming nothing useful, when it is not
// there.
type scanner struct {
	b    []byte
	i    int
	grow func(int64) error
	err  error // from grow
}

func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// byte consumes c.
func (s *scanner) byte(c byte) bool {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// str reads a string of printable ASCII without escapes.
func (s *scanner) str() ([]byte, bool) {
	if !s.byte('"') {
		return nil, false
	}
	for j := s.i; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			v := s.b[s.i:j]
			s.i = j + 1
			return v, true
		case c < 0x20 || c > 0x7e || c == '\\':
			return nil, false
		}
	}
	return nil, false
}

// scalar reads a string as str does or an integer, and ends at what must
// follow a value in an object.
func (s *scanner) scalar() bool {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == '"' {
		_, ok := s.str()
		return ok
	}
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	start := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	if s.i == start || s.b[start] == '0' && s.i-start > 1 {
		return false
	}
	// A fraction or exponent is valid JSON, but rare enough to leave to
	// the general path.
	s.space()
	return s.i < len(s.b) && (s.b[s.i] == ',' || s.b[s.i] == '}')
}

// records reads [{"data":"<base64>"},…], appending each data's span.
func (s *scanner) records(spans []span) ([]span, bool) {
	if !s.byte('[') {
		return spans, false
	}
	if s.byte(']') {
		return spans, true
	}
	for {
		if !s.byte('{') || !s.byte('"') || !s.lit(`data"`) || !s.byte(':') || !s.byte('"') {
			return spans, false
		}
		start := s.i
		n := bytes.IndexByte(s.b[start:], '"')
		if n < 0 || !plainBase64(s.b[start:start+n]) {
			return spans, false
		}
		s.i = start + n
		if len(spans) == cap(spans) {
			bigger := max(2*cap(spans), 64)
			if s.err = s.grow(int64(bigger) * spanBytes); s.err != nil {
				return spans, false
			}
			spans = append(make([]span, 0, bigger), spans...)
		}
		spans = append(spans, span{start, s.i})
		s.i++
		if !s.byte('}') {
			return spans, false
		}
		if s.byte(']') {
			return spans, true
		}
		if !s.byte(',') {
			return spans, false
		}
	}
}

// lit consumes lit exactly, with no whitespace before it.
func (s *scanner) lit(lit string) bool {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return false
	}
	s.i += len(lit)
	return true
}

// plainBase64 reports whether data, a JSON string's bytes up to the first
// quote, is what encoding/json would hand to base64 decoding unchanged, or
// else fails the same way as base64 decoding does. Any byte outside the
// alphabet is a base64 error either way (a request answered 400), so only
// three need the general path: a backslash, which JSON unescapes (and
// whose quote may not end the string), and CR and LF, which base64
// decoding skips but a JSON string cannot hold raw. IndexByte finds each
// many bytes at a time, where checking the alphabet byte by byte cost a
// tenth of serve's CPU on bodies of plain lines.
func plainBase64(data []byte) bool {
	return bytes.IndexByte(data, '\\') < 0 && bytes.IndexByte(data, '\n') < 0 && bytes.IndexByte(data, '\r') < 0
}
