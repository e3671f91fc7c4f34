package decode

import (
	"slices"
	"unsafe"

	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/internal/jsonscan"
)

// cwlDoc is what the fast path found in one document: where its
// messageType, the origin's strings and the messages lie in the payload.
type cwlDoc struct {
	messageType, owner, logGroup, logStream span
	events                                  []span
}

// span is a string's bytes in a payload, without the quotes.
type span = jsonscan.Span

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

// docKeys are the keys of a document the fast path reads, and "message",
// a field of the envelope encoding/json decodes documents into: a
// document with one is left to it.
var docKeys = []string{"messageType", "owner", "logGroup", "logStream", "logEvents", "message"}

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
		i = jsonscan.Space(data, i)
		if i == len(data) {
			return nil, lineNo
		}
		doc, end, ok := scanCloudWatch(data, i, d.spans[:0], out)
		d.spans = doc.events
		if !ok {
			return data[i:], lineNo
		}
		i = end
		if string(data[doc.messageType.Start:doc.messageType.End]) == "CONTROL_MESSAGE" {
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
	need := doc.owner.Len() + doc.logGroup.Len() + doc.logStream.Len()
	for _, ev := range doc.events {
		need += ev.Len()
	}
	if need > cap(d.buf) {
		if !out.reserve(int64(need)) {
			return lineNo
		}
		d.buf = make([]byte, 0, need)
	}
	buf := append(d.buf[:0], data[doc.owner.Start:doc.owner.End]...)
	buf = append(buf, data[doc.logGroup.Start:doc.logGroup.End]...)
	buf = append(buf, data[doc.logStream.Start:doc.logStream.End]...)
	for k, ev := range doc.events {
		start := len(buf)
		buf = append(buf, data[ev.Start:ev.End]...)
		doc.events[k] = span{Start: start, End: len(buf)}
	}
	s, ok := out.keep(buf)
	if !ok {
		return lineNo
	}
	o1 := doc.owner.Len()
	o2 := o1 + doc.logGroup.Len()
	o := stream.Origin{Owner: s[:o1], LogGroup: s[o1:o2], LogStream: s[o2 : o2+doc.logStream.Len()]}
	for _, ev := range doc.events {
		lineNo = d.lines(s[ev.Start:ev.End], lineNo, o, out)
	}
	return lineNo
}

// scanCloudWatch checks that the JSON object at data[i:] is a document the
// fast path decodes exactly as encoding/json would, and says where its
// parts are and where it ends. Events' spans are appended to events.
func scanCloudWatch(data []byte, i int, events []span, out *Output) (doc cwlDoc, end int, ok bool) {
	doc.events = events
	end, _, ok = jsonscan.Fields(data, i, docKeys, func(k, i int) (int, bool) {
		fields := [...]*span{&doc.messageType, &doc.owner, &doc.logGroup, &doc.logStream}
		var ok bool
		switch {
		case k >= 0 && k < len(fields):
			*fields[k], i, ok = jsonscan.String(data, i)
		case k == 4:
			doc.events, i, ok = logEvents(data, i, doc.events, out)
		case k < 0:
			i, ok = jsonscan.Scalars(data, i)
		}
		return i, ok
	})
	if !ok {
		return doc, 0, false
	}
	switch string(data[doc.messageType.Start:doc.messageType.End]) {
	case "DATA_MESSAGE", "CONTROL_MESSAGE":
		return doc, end, true
	}
	return doc, 0, false
}

// logEvents scans the logEvents array at data[i:], appending each event's
// message to events (an event without one has an empty message).
func logEvents(data []byte, i int, events []span, out *Output) ([]span, int, bool) {
	i = jsonscan.Space(data, i)
	if i == len(data) || data[i] != '[' {
		return events, i, false
	}
	i = jsonscan.Space(data, i+1)
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
		i = jsonscan.Space(data, i)
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
	end, _, ok = jsonscan.Fields(data, i, eventKeys, func(k, i int) (int, bool) {
		if k < 0 {
			return jsonscan.Scalars(data, i)
		}
		var ok bool
		msg, i, ok = jsonscan.String(data, i)
		return i, ok
	})
	return msg, end, ok
}

// eventKeys are the keys of a log event the fast path reads.
var eventKeys = []string{"message"}
