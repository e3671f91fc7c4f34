package firehose

import "github.com/flowhose/flowhose/stream/internal/jsonscan"

// span is where one record's base64 data lies in the body.
type span = jsonscan.Span

// scan is the fast path of the body parser: it reads a body of exactly the
// shape Firehose sends, {"requestId":"…","timestamp":N,"records":[{"data":
// "<base64>"},…]}, in one pass, appending where each record's data lies to
// spans, whose growth it reserves with grow first (its only error). It
// reports false for anything else: strings with escapes, control
// characters or invalid UTF-8 (in a data string: a backslash, CR or LF;
// any other byte there fails base64 decoding as it does on the general
// path), unknown keys with other values than scalars and flat arrays of
// them, duplicate keys, records with other keys, a missing or empty
// requestId, missing records, and every malformed body. parseJSON then
// decides such bodies, so the fast path only has to be right about what it
// accepts (FuzzFastPath checks that it agrees with parseJSON).
func scan(body []byte, spans []span, grow func(int64) error) (requestID string, _ []span, ok bool, err error) {
	s := scanner{b: body, grow: grow}
	requestID, spans, ok = s.body(spans)
	return requestID, spans, ok, s.err
}

func (s *scanner) body(spans []span) (requestID string, _ []span, ok bool) {
	var sawID, sawRecords bool
	end, ok := jsonscan.Object(s.b, 0, func(key []byte, i int) (int, bool) {
		s.i = i
		ok := true
		switch string(key) {
		case "requestId":
			var id span
			id, s.i, ok = jsonscan.String(s.b, s.i)
			ok = ok && !sawID
			requestID, sawID = string(s.b[id.Start:id.End]), true
		case "records":
			ok = !sawRecords
			if ok {
				spans, ok = s.records(spans)
			}
			sawRecords = true
		default:
			// Duplicates of other keys are harmless: their values are
			// ignored either way.
			s.i, ok = jsonscan.Scalars(s.b, s.i)
		}
		return s.i, ok
	})
	if !ok || jsonscan.Space(s.b, end) != len(s.b) || requestID == "" || !sawRecords {
		return "", spans, false
	}
	return requestID, spans, true
}

// scanner walks a body for scan.
type scanner struct {
	b    []byte
	i    int
	grow func(int64) error
	err  error // from grow
}

// records reads [{"data":"<base64>"},…], appending each data's span.
func (s *scanner) records(spans []span) ([]span, bool) {
	var ok bool
	if s.i, ok = jsonscan.Byte(s.b, s.i, '['); !ok {
		return spans, false
	}
	if i, empty := jsonscan.Byte(s.b, s.i, ']'); empty {
		s.i = i
		return spans, true
	}
	for {
		var key, data span
		if s.i, ok = jsonscan.ObjectStart(s.b, s.i); !ok {
			return spans, false
		}
		if key, s.i, ok = jsonscan.Key(s.b, s.i); !ok || string(s.b[key.Start:key.End]) != "data" {
			return spans, false
		}
		if data, s.i, ok = jsonscan.Base64(s.b, s.i); !ok {
			return spans, false
		}
		if len(spans) == cap(spans) {
			bigger := max(2*cap(spans), 64)
			if s.err = s.grow(int64(bigger) * spanBytes); s.err != nil {
				return spans, false
			}
			spans = append(make([]span, 0, bigger), spans...)
		}
		spans = append(spans, data)
		if s.i, ok = jsonscan.Byte(s.b, s.i, '}'); !ok {
			return spans, false
		}
		if s.i, ok = jsonscan.Next(s.b, s.i, ']'); !ok || s.b[s.i-1] == ']' {
			return spans, ok
		}
	}
}
