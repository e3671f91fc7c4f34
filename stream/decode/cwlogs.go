package decode

import (
	"bytes"
	"slices"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/flowhose/flowhose/stream"
)

// cwlDoc is what the fast path found in one document: where its
// messageType, the origin's strings and the messages lie in the payload.
type cwlDoc struct {
	messageType, owner, logGroup, logStream span
	events                                  []span
}

// span is a string's bytes, data[start:end], without the quotes.
type span struct{ start, end int }

func (s span) len() int { return s.end - s.start }

const spanBytes = int64(unsafe.Sizeof(span{}))

// appendSpan appends sp to spans, a scratch slice of the decoder's,
// reserving what its growth allocates first: short envelopes make many
// spans per input byte.
func appendSpan(spans []span, sp span, out *Output) ([]span, bool) {
	if len(spans) == cap(spans) {
		n := max(2*cap(spans), 64)
		if !out.reserve(int64(n-cap(spans)) * spanBytes) {
			return spans, false
		}
		spans = slices.Grow(spans, n-len(spans))
	}
	return append(spans, sp), true
}

// Which top-level keys a document set: a repeated one goes to encoding/json,
// whose rule for repeats (the last one wins) the fast path does not copy.
const (
	seenType = 1 << iota
	seenOwner
	seenGroup
	seenStream
	seenEvents
)

// cloudWatchDocs decodes the CloudWatch Logs subscription documents at the
// front of data in one pass, as long as they have the shape CloudWatch Logs
// writes: DATA_MESSAGE or CONTROL_MESSAGE, compact strings without escapes,
// and no key encoding/json would match to a field by case folding. It
// returns the input from the first document that is anything else (none
// when all were decoded), for jsonEnvelopes to decode from line lineNo on:
// the result is the same as if encoding/json had decoded the whole
// payload, which FuzzPayload and FuzzCloudWatch check.
//
// A document is checked whole before any of it is decoded, so a flaw at its
// end leaves nothing of it behind. Messages are copied once, with the
// origin's strings, into the scratch buffer and from there into a single
// Keep per document, so records point into memory the caller accounts for.
func (d *Decoder) cloudWatchDocs(data []byte, out *Output) (rest []byte, lineNo int) {
	lineNo = 1
	i := 0
	for out.Err == nil {
		i = skipSpace(data, i)
		if i == len(data) {
			return nil, lineNo
		}
		doc, end, ok := scanCloudWatch(data, i, d.spans[:0], out)
		d.spans = doc.events
		if !ok {
			return data[i:], lineNo
		}
		i = end
		if string(data[doc.messageType.start:doc.messageType.end]) == "CONTROL_MESSAGE" {
			out.Skipped++
			continue
		}
		lineNo = d.cloudWatchData(data, &doc, lineNo, out)
	}
	return nil, lineNo
}

// cloudWatchData decodes the log events of a DATA_MESSAGE document. Its
// strings are gathered into the decoder's buffer for one Keep.
func (d *Decoder) cloudWatchData(data []byte, doc *cwlDoc, lineNo int, out *Output) int {
	need := doc.owner.len() + doc.logGroup.len() + doc.logStream.len()
	for _, ev := range doc.events {
		need += ev.len()
	}
	if need > cap(d.buf) {
		if !out.reserve(int64(need)) {
			return lineNo
		}
		d.buf = make([]byte, 0, need)
	}
	buf := append(d.buf[:0], data[doc.owner.start:doc.owner.end]...)
	buf = append(buf, data[doc.logGroup.start:doc.logGroup.end]...)
	buf = append(buf, data[doc.logStream.start:doc.logStream.end]...)
	for k, ev := range doc.events {
		start := len(buf)
		buf = append(buf, data[ev.start:ev.end]...)
		doc.events[k] = span{start, len(buf)}
	}
	s, ok := out.keep(buf)
	if !ok {
		return lineNo
	}
	o1 := doc.owner.len()
	o2 := o1 + doc.logGroup.len()
	o := stream.Origin{Owner: s[:o1], LogGroup: s[o1:o2], LogStream: s[o2 : o2+doc.logStream.len()]}
	for _, ev := range doc.events {
		lineNo = d.lines(s[ev.start:ev.end], lineNo, o, out)
	}
	return lineNo
}

// scanCloudWatch checks that the JSON object at data[i:] is a document the
// fast path decodes exactly as encoding/json would, and says where its
// parts are and where it ends. Events' spans are appended to events.
func scanCloudWatch(data []byte, i int, events []span, out *Output) (doc cwlDoc, end int, ok bool) {
	doc.events = events
	seen := 0
	i, ok = objectStart(data, i)
	for ok {
		var key span
		if key, i, ok = jsonKey(data, i); !ok {
			break
		}
		var bit int
		var field *span
		switch k := string(data[key.start:key.end]); k {
		case "messageType":
			bit, field = seenType, &doc.messageType
		case "owner":
			bit, field = seenOwner, &doc.owner
		case "logGroup":
			bit, field = seenGroup, &doc.logGroup
		case "logStream":
			bit, field = seenStream, &doc.logStream
		case "logEvents":
			doc.events, i, ok = logEvents(data, i, doc.events, out)
			bit = seenEvents
		default:
			if folds(k, "message", "messageType", "owner", "logGroup", "logStream", "logEvents") {
				return doc, 0, false
			}
			i, ok = skipScalars(data, i)
		}
		if field != nil {
			*field, i, ok = plainString(data, i)
		}
		if !ok || seen&bit != 0 {
			return doc, 0, false
		}
		seen |= bit
		i, ok = objectNext(data, i)
		if ok && data[i-1] == '}' {
			switch string(data[doc.messageType.start:doc.messageType.end]) {
			case "DATA_MESSAGE", "CONTROL_MESSAGE":
				return doc, i, true
			}
			return doc, 0, false
		}
	}
	return doc, 0, false
}

// logEvents scans the logEvents array at data[i:], appending each event's
// message to events (an event without one has an empty message).
func logEvents(data []byte, i int, events []span, out *Output) ([]span, int, bool) {
	i = skipSpace(data, i)
	if i == len(data) || data[i] != '[' {
		return events, i, false
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == ']' {
		return events, i + 1, true
	}
	for {
		var msg span
		var ok bool
		if msg, i, ok = logEvent(data, i); !ok {
			return events, i, false
		}
		if events, ok = appendSpan(events, msg, out); !ok {
			return events, i, false
		}
		i = skipSpace(data, i)
		if i == len(data) {
			return events, i, false
		}
		switch data[i] {
		case ']':
			return events, i + 1, true
		case ',':
			i++
		default:
			return events, i, false
		}
	}
}

// logEvent scans one {"id":…,"timestamp":…,"message":…} object.
func logEvent(data []byte, i int) (msg span, end int, ok bool) {
	i, ok = objectStart(data, i)
	seen := false
	for ok {
		var key span
		if key, i, ok = jsonKey(data, i); !ok {
			break
		}
		switch k := string(data[key.start:key.end]); {
		case k == "message":
			if seen {
				return msg, i, false
			}
			seen = true
			msg, i, ok = plainString(data, i)
		case folds(k, "message"):
			return msg, i, false
		default:
			i, ok = skipScalars(data, i)
		}
		if ok {
			i, ok = objectNext(data, i)
			if ok && data[i-1] == '}' {
				return msg, i, true
			}
		}
	}
	return msg, i, false
}

// objectStart expects '{' at data[i:] (after blanks) and the first key.
// An empty object is left to encoding/json.
func objectStart(data []byte, i int) (int, bool) {
	i = skipSpace(data, i)
	return i + 1, i < len(data) && data[i] == '{'
}

// objectNext expects ',' or '}' after a member, and returns the offset
// after it; the caller tells them apart by data[end-1].
func objectNext(data []byte, i int) (int, bool) {
	i = skipSpace(data, i)
	return i + 1, i < len(data) && (data[i] == ',' || data[i] == '}')
}

// jsonKey scans a plain-string key and its colon.
func jsonKey(data []byte, i int) (span, int, bool) {
	key, i, ok := plainString(data, i)
	if !ok {
		return key, i, false
	}
	i = skipSpace(data, i)
	return key, i + 1, i < len(data) && data[i] == ':'
}

// plainString scans a string that encoding/json would decode to its bytes
// as they are: no escapes, no control characters, valid UTF-8. Anything
// else is left to encoding/json, which unescapes and replaces.
func plainString(data []byte, i int) (span, int, bool) {
	i = skipSpace(data, i)
	if i == len(data) || data[i] != '"' {
		return span{}, i, false
	}
	start := i + 1
	ascii := true
	for j := start; j < len(data); j++ {
		switch c := data[j]; {
		case c == '"':
			s := span{start, j}
			return s, j + 1, ascii || utf8.Valid(data[start:j])
		case c < 0x20 || c == '\\':
			return span{}, j, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return span{}, len(data), false
}

// skipScalars skips the value of a key the decoder ignores: a plain
// string, a number, true, false, null, or a flat array of those (the
// subscriptionFilters).
func skipScalars(data []byte, i int) (int, bool) {
	i = skipSpace(data, i)
	if i == len(data) || data[i] != '[' {
		return skipScalar(data, i)
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == ']' {
		return i + 1, true
	}
	for {
		var ok bool
		if i, ok = skipScalar(data, i); !ok {
			return i, false
		}
		i = skipSpace(data, i)
		if i == len(data) {
			return i, false
		}
		switch data[i] {
		case ']':
			return i + 1, true
		case ',':
			i++
		default:
			return i, false
		}
	}
}

// skipScalar skips a plain string, a number or a literal.
func skipScalar(data []byte, i int) (int, bool) {
	i = skipSpace(data, i)
	if i == len(data) {
		return i, false
	}
	switch c := data[i]; {
	case c == '"':
		_, end, ok := plainString(data, i)
		return end, ok
	case c == '-' || '0' <= c && c <= '9':
		return skipNumber(data, i)
	}
	for _, lit := range [...]string{"true", "false", "null"} {
		if bytes.HasPrefix(data[i:], []byte(lit)) {
			return i + len(lit), true
		}
	}
	return i, false
}

// skipNumber skips a number of JSON's grammar:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func skipNumber(data []byte, i int) (int, bool) {
	digits := func(i int) int {
		for i < len(data) && '0' <= data[i] && data[i] <= '9' {
			i++
		}
		return i
	}
	if data[i] == '-' {
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

// folds reports whether key is one of names in another case, which
// encoding/json would take for that field: those keys go to it. Keys that
// are not ASCII count too (it folds "ſ" to "s" and "K" to "k").
func folds(key string, names ...string) bool {
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

// skipSpace returns the offset of the first byte at or after i that is not
// JSON whitespace.
func skipSpace(data []byte, i int) int {
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
