package transform

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"unsafe"

	"github.com/flowhose/flowhose/stream/internal/b64dec"
	"github.com/flowhose/flowhose/stream/internal/jsonscan"
	"github.com/flowhose/flowhose/stream/membudget"
)

// parseEvent reads an HTTP request's event from body: in one pass when it
// has the shape Firehose sends (scanEvent), else with encoding/json. Every
// byte it keeps is reserved with grow first. The records' data may point
// into the returned buffer: hand it back with membudget.PutBuffer once the
// invocation is answered (nil is fine). Nothing points into body.
func parseEvent(body []byte, grow func(int64) error) (event, []byte, error) {
	sc, ok, err := scanEvent(body, grow)
	if err != nil {
		return event{}, nil, err
	}
	if !ok {
		var ev event
		// The first value only: encoding/json's Decoder, as before the
		// fast path, ignores what follows it.
		if err := json.NewDecoder(bytes.NewReader(body)).Decode(&ev); err != nil {
			return event{}, nil, err
		}
		// The decoded data is a second copy of most of the body.
		var data int64
		for _, in := range ev.Records {
			data += int64(len(in.Data))
		}
		return ev, nil, grow(data)
	}
	return sc.decode(body, grow)
}

// eventSpans is where scanEvent found an event's parts in the body.
type eventSpans struct {
	invocationID, streamArn jsonscan.Span
	records                 []recordSpans
	ids, data               int // total length of the ids and of the decoded data
}

type recordSpans struct{ id, data jsonscan.Span }

const recordSpansBytes = int64(unsafe.Sizeof(recordSpans{}))

// scanEvent is the fast path of parseEvent: it takes an event of exactly
// the shape Firehose sends, {"invocationId":"…","deliveryStreamArn":"…",
// "region":"…","records":[{"recordId":"…","approximateArrivalTimestamp":N,
// "data":"<base64>",…},…]}, in any key order, other keys with any plain
// value (kinesisRecordMetadata objects too). It reports false for anything
// else, which encoding/json then decides: escapes in strings, null for a
// field, a repeated key or one encoding/json would match to a field by
// case folding, a record without recordId or data, data after the event,
// malformed JSON. The one error is grow's, reserving the record spans.
// FuzzEvent checks it against encoding/json.
func scanEvent(body []byte, grow func(int64) error) (sc eventSpans, ok bool, err error) {
	end, seen, ok := jsonscan.Fields(body, 0, eventKeys, func(k, i int) (int, bool) {
		var ok bool
		switch k {
		case 0:
			sc.invocationID, i, ok = jsonscan.String(body, i)
		case 1:
			sc.streamArn, i, ok = jsonscan.String(body, i)
		case 2:
			i, ok, err = sc.scanRecords(body, i, grow)
		default:
			i, ok = jsonscan.Value(body, i)
		}
		return i, ok
	})
	return sc, ok && seen&(1<<2) != 0 && jsonscan.Space(body, end) == len(body), err
}

// eventKeys and recordKeys are the JSON names of event's and Input's
// fields.
var (
	eventKeys  = []string{"invocationId", "deliveryStreamArn", "records"}
	recordKeys = []string{"recordId", "data"}
)

// scanRecords reads the records array at body[i:].
func (sc *eventSpans) scanRecords(body []byte, i int, grow func(int64) error) (int, bool, error) {
	i, ok := jsonscan.Byte(body, i, '[')
	if !ok {
		return i, false, nil
	}
	if end, empty := jsonscan.Byte(body, i, ']'); empty {
		return end, true, nil
	}
	for {
		var rec recordSpans
		if rec, i, ok = scanRecord(body, i); !ok {
			return i, false, nil
		}
		if len(sc.records) == cap(sc.records) {
			bigger := max(2*cap(sc.records), 64)
			if err := grow(int64(bigger) * recordSpansBytes); err != nil {
				return i, false, err
			}
			sc.records = append(make([]recordSpans, 0, bigger), sc.records...)
		}
		sc.records = append(sc.records, rec)
		sc.ids += rec.id.Len()
		sc.data += base64.StdEncoding.DecodedLen(rec.data.Len())
		if i, ok = jsonscan.Next(body, i, ']'); !ok || body[i-1] == ']' {
			return i, ok, nil
		}
	}
}

// scanRecord reads one {"recordId":"…","data":"…",…} object.
func scanRecord(body []byte, i int) (rec recordSpans, end int, ok bool) {
	end, seen, ok := jsonscan.Fields(body, i, recordKeys, func(k, value int) (next int, ok bool) {
		if k < 0 {
			return jsonscan.Value(body, value)
		}
		if k == 0 {
			rec.id, next, ok = jsonscan.String(body, value)
		} else {
			rec.data, next, ok = jsonscan.Base64(body, value)
		}
		return next, ok
	})
	return rec, end, ok && seen == 1<<len(recordKeys)-1
}

// decode builds the event scanEvent found: every record's data decoded
// into one pooled buffer (returned), every id a piece of one string.
func (sc *eventSpans) decode(body []byte, grow func(int64) error) (event, []byte, error) {
	if err := grow(int64(sc.ids) + int64(len(sc.records))*int64(unsafe.Sizeof(Input{}))); err != nil {
		return event{}, nil, err
	}
	data, err := membudget.GetBuffer(sc.data, grow)
	if err != nil {
		return event{}, nil, err
	}
	var ids strings.Builder
	ids.Grow(sc.ids)
	for _, rec := range sc.records {
		ids.Write(body[rec.id.Start:rec.id.End])
	}
	allIDs := ids.String()
	ev := event{
		InvocationID:      string(body[sc.invocationID.Start:sc.invocationID.End]),
		DeliveryStreamArn: string(body[sc.streamArn.Start:sc.streamArn.End]),
		Records:           make([]Input, len(sc.records)),
	}
	id := 0
	for k, rec := range sc.records {
		in := &ev.Records[k]
		in.RecordID = allIDs[id : id+rec.id.Len()]
		id += rec.id.Len()
		start := len(data)
		n, err := b64dec.Decode(data[start:start+base64.StdEncoding.DecodedLen(rec.data.Len())], body[rec.data.Start:rec.data.End])
		if err != nil {
			membudget.PutBuffer(data)
			return event{}, nil, fmt.Errorf("records[%d].data: %w", k, err)
		}
		data = data[:start+n]
		in.Data = data[start : start+n : start+n]
	}
	return ev, data, nil
}
