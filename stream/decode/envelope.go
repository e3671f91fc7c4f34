package decode

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/klauspost/compress/gzip"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/internal/jsonscan"
	"github.com/flowhose/flowhose/stream/membudget"
)

// Payload decodes one unit of input: a Firehose record's data, a Kafka
// message, a chunk of a file. Gzip is detected from the bytes; a JSON
// {"message":...} wrapper or CloudWatch Logs subscription document is
// unwrapped; otherwise the bytes are newline-separated lines. Records'
// strings point into one copy of the payload. It never panics; everything
// that fails is appended to out.Failures.
//
// Line numbers in Failures count flow-log lines from 1 within the payload;
// in JSON envelopes every message or log event counts as one line.
func (d *Decoder) Payload(data []byte, out *Output) {
	if out.Err != nil {
		return
	}
	if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
		plain, err := d.gunzip(data, out)
		if err != nil {
			if out.Err == nil {
				out.fail(d.failure(string(data), 0, "", err.Error()))
			}
			return
		}
		data = plain
	}
	if isJSON(data) {
		if d.messageWrappers(data, out) {
			return
		}
		rest, lineNo := d.cloudWatchDocs(data, out)
		if len(rest) > 0 && out.reserve(int64(len(rest))) {
			// The envelopes' strings are the JSON decoder's, about the
			// size of what is left.
			d.jsonEnvelopes(rest, lineNo, out)
		}
		return
	}
	// Records keep pointers into one copy of the payload.
	if s, ok := out.keep(data); ok {
		d.lines(s, 1, stream.Origin{}, out)
	}
}

func isJSON(data []byte) bool {
	for _, c := range data {
		switch c {
		case ' ', '\t', '\r', '\n':
		case '{':
			return true
		default:
			return false
		}
	}
	return false
}

// inflater is a gzip reader with the reader of its input: it holds ~40
// KiB of state, so inflaters are pooled across decoders (one decoder is
// made per request).
type inflater struct {
	src bytes.Reader
	zr  gzip.Reader
}

var inflaters sync.Pool // of *inflater

// gunzip decompresses data (concatenated gzip members included) into the
// decoder's buffer, refusing to produce more than MaxDecompressedBytes. The
// buffer and the inflater are the decoder's until Release, so a request's
// many small gzip payloads reserve one buffer, not one each: every buffer
// taken while growing is reserved from out in full before it is used.
func (d *Decoder) gunzip(data []byte, out *Output) ([]byte, error) {
	if d.inflater == nil {
		d.inflater, _ = inflaters.Get().(*inflater)
		if d.inflater == nil {
			d.inflater = new(inflater)
		}
	}
	in := d.inflater
	in.src.Reset(data)
	if err := in.zr.Reset(&in.src); err != nil {
		return nil, fmt.Errorf("corrupt gzip: %w", err)
	}
	limit := d.opts.MaxDecompressedBytes
	grow := func(n int64) error {
		if !out.reserve(n) {
			return out.Err
		}
		return nil
	}
	buf, err := membudget.Append(d.plain[:0], &in.zr, limit, grow)
	d.plain = buf
	switch {
	case out.Err != nil:
		return nil, out.Err
	case errors.Is(err, membudget.ErrOverLimit):
		return nil, fmt.Errorf("decompressed size exceeds %d bytes (MaxDecompressedBytes)", limit)
	case err != nil:
		return nil, fmt.Errorf("corrupt gzip: %w", err)
	}
	return buf, nil
}

// Release hands back the buffers and gzip reader the decoder took for gzip
// payloads; it may be used again afterwards. Records never point into them,
// so Release may come before the records are used. Without it they are
// left to the garbage collector.
func (d *Decoder) Release() {
	if d.inflater != nil {
		d.inflater.src.Reset(nil)
		inflaters.Put(d.inflater)
		d.inflater = nil
	}
	membudget.PutBuffer(d.plain)
	d.plain = nil
}

// minReserveBytes is the least input per record reserved up front: an
// all-dash version 2 line is 27 bytes, real ones 80 or more.
const minReserveBytes = 32

// lines decodes the newline-separated lines of s, numbering them from
// lineNo, and returns the number the next line would have.
func (d *Decoder) lines(s string, lineNo int, origin stream.Origin, out *Output) int {
	// One allocation up front instead of log(n) regrowths of big records,
	// but never more than one record per minReserveBytes of input: blank
	// lines cost a byte each and a Record is ~1 KiB, so counting lines alone
	// let a payload of newlines reserve a thousand times its size. Shorter
	// real lines just fall back to appendLine's growth.
	lines := min(strings.Count(s, "\n")+1, len(s)/minReserveBytes+1)
	if out.MaxRecords > 0 {
		lines = min(lines, max(0, out.MaxRecords-len(out.Records)-len(out.Failures)))
	}
	if want := len(out.Records) + lines; want > cap(out.Records) && !out.growRecords(want-cap(out.Records)) {
		return lineNo
	}
	for len(s) > 0 && out.Err == nil {
		line := s
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			line, s = s[:i], s[i+1:]
		} else {
			s = ""
		}
		d.appendLine(line, lineNo, origin, out)
		lineNo++
	}
	return lineNo
}

const wrapperPrefix = `{"message":"`

// messageWrappers decodes payloads that are nothing but compact
// {"message":"<line>"} objects, the shape Firehose direct delivery sends
// once per flow, with one string copy instead of a JSON decoder per record.
// It reports false, having done nothing, for anything else (escapes,
// whitespace inside the object, other keys), which the general path handles.
func (d *Decoder) messageWrappers(data []byte, out *Output) bool {
	spans := d.spans[:0]
	defer func() { d.spans = spans }()
	for i := jsonscan.Space(data, 0); i < len(data); i = jsonscan.Space(data, i) {
		msg, end, ok := cutWrapper(data, i)
		if !ok || msg.Len() == 0 {
			return false
		}
		if spans, ok = appendSpan(spans, msg, out); !ok {
			return true
		}
		i = end
	}
	s, ok := out.keep(data)
	for n, msg := range spans {
		if !ok || out.Err != nil {
			break
		}
		d.appendLine(s[msg.Start:msg.End], n+1, stream.Origin{}, out)
	}
	return true
}

// cutWrapper finds the message of the {"message":"..."} object at data[i:]
// and where the object ends. The message may hold only printable ASCII
// other than '"' and '\\', so it needs no unescaping and is valid UTF-8.
func cutWrapper(data []byte, i int) (msg span, end int, ok bool) {
	b := data[i:]
	if len(b) < len(wrapperPrefix)+2 || string(b[:len(wrapperPrefix)]) != wrapperPrefix {
		return msg, 0, false
	}
	start := i + len(wrapperPrefix)
	for j := start; j < len(data); j++ {
		switch c := data[j]; {
		case c == '"':
			if j+1 < len(data) && data[j+1] == '}' {
				return span{Start: start, End: j}, j + 2, true
			}
			return msg, 0, false
		case c < 0x20 || c > 0x7e || c == '\\':
			return msg, 0, false
		}
	}
	return msg, 0, false
}

// jsonEnvelope is either a {"message": line} wrapper or a CloudWatch Logs
// subscription document; one struct decodes both so each value is parsed once.
type jsonEnvelope struct {
	Message     *string `json:"message"`
	MessageType string  `json:"messageType"`
	Owner       string  `json:"owner"`
	LogGroup    string  `json:"logGroup"`
	LogStream   string  `json:"logStream"`
	LogEvents   []struct {
		Message string `json:"message"`
	} `json:"logEvents"`
}

// jsonEnvelopes decodes a sequence of JSON objects (newline-separated
// wrappers, or concatenated CloudWatch Logs documents), numbering lines
// from lineNo. A value of the wrong shape fails alone; a syntax error fails
// the rest of the payload, so every input byte ends up in a record or a
// failure exactly once.
func (d *Decoder) jsonEnvelopes(data []byte, lineNo int, out *Output) {
	dec := json.NewDecoder(bytes.NewReader(data))
	for out.Err == nil {
		start := dec.InputOffset()
		var env jsonEnvelope
		err := dec.Decode(&env)
		if err == io.EOF {
			return
		}
		// The raw value is only needed for a failure; slicing is free.
		value := bytes.TrimSpace(data[start:dec.InputOffset()])
		if err != nil {
			if _, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
				out.fail(d.failure(string(value), lineNo, "", "bad JSON envelope: "+err.Error()))
				lineNo++
				continue
			}
			rest := string(bytes.TrimSpace(data[start:]))
			out.fail(d.failure(rest, lineNo, "", "bad JSON envelope: "+err.Error()))
			return
		}
		switch {
		case env.MessageType == "DATA_MESSAGE":
			origin := stream.Origin{LogGroup: env.LogGroup, LogStream: env.LogStream, Owner: env.Owner}
			for _, ev := range env.LogEvents {
				lineNo = d.lines(ev.Message, lineNo, origin, out)
			}
		case env.MessageType == "CONTROL_MESSAGE":
			out.Skipped++
		case env.MessageType != "":
			out.fail(d.failure(string(value), lineNo, "", "unknown CloudWatch Logs messageType "+strconv.Quote(env.MessageType)))
			lineNo++
		case env.Message != nil:
			lineNo = d.lines(*env.Message, lineNo, stream.Origin{}, out)
		default:
			out.fail(d.failure(string(value), lineNo, "", "JSON envelope has neither message nor messageType"))
			lineNo++
		}
	}
}
