package file

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strconv"

	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/decode"
)

// errorRecordSniff is how much of an input is looked at to tell Firehose
// error records from flow-log text.
const errorRecordSniff = 4 << 10

// isErrorRecords reports whether an input starts like the JSON objects
// Firehose writes to S3 for records it could not process or deliver
// (processing-failed, http-endpoint-failed): `{…"rawData":"…"…}`. A flow-log
// line never starts with `{`. Firehose writes rawData after errorMessage,
// which holds the HTTP endpoint's response body and may push rawData past
// the bytes looked at; errorCode comes before it.
func isErrorRecords(head []byte) bool {
	head = bytes.TrimLeft(head, " \t\r\n")
	return len(head) > 0 && head[0] == '{' && (bytes.Contains(head, []byte(`"rawData"`)) || bytes.Contains(head, []byte(`"errorCode"`)))
}

// errorRecord is the part of a Firehose error record replay needs; the
// code and message are only reported.
type errorRecord struct {
	RawData      []byte `json:"rawData"` // base64 in the JSON
	ErrorCode    string `json:"errorCode"`
	ErrorMessage string `json:"errorMessage"`
}

// keptInput is how much of an error record that cannot be replayed goes
// into its dead letter.
const keptInput = 1 << 10

// errorRecords replays the original records of a stream of Firehose error
// records: each rawData is what Firehose received (a flow-log line, a
// {"message"} wrapper or a CloudWatch Logs subscription payload) and is
// decoded as the Firehose endpoint decodes a record. Failures carry the
// number of the error record as their line. An error record longer than
// max_error_record_bytes, or one that is not a JSON object of that shape,
// is dead-lettered and the next one is read. So are bytes between objects
// that cannot start one (a stray byte, a line of something else): replay
// goes on at the next '{'.
func (rn *run) errorRecords(ctx context.Context, name string, rd *bufio.Reader, dec *decode.Decoder) error {
	values := jsonValues{r: rd, max: rn.r.cfg.MaxErrorRecordBytes}
	batch, size := rn.r.cfg.BatchSize, int64(0)
	out := decode.Output{Records: rn.records(batch)}
	first, n := 1, 0
	for {
		val, err := values.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil && !errors.Is(err, errTooLong) && !errors.Is(err, errStray) {
			rn.sum.Skipped += int64(out.Skipped)
			if serr := rn.submit(ctx, name, first, &out); serr != nil {
				return serr
			}
			return readFailed(err, n+1)
		}
		n++
		rn.sum.Lines++
		var rec errorRecord
		if err == nil {
			err = json.Unmarshal(val, &rec)
		}
		if err == nil && rec.RawData == nil {
			// Nothing to replay: an object of another shape, which
			// would otherwise vanish without a dead letter.
			err = errNoRawData
		}
		if err != nil {
			reason := "not a Firehose error record: " + err.Error()
			switch {
			case errors.Is(err, errTooLong):
				reason = "error record longer than max_error_record_bytes (" + strconv.Itoa(values.max) + "); skipped"
			case errors.Is(err, errStray):
				reason = "bytes between error records that are not a JSON object; skipped to the next {\""
			}
			out.Failures = append(out.Failures, stream.Failure{Source: rn.r.decOpts.Source, Ref: name, Line: n,
				Input: string(val[:min(len(val), keptInput)]), Reason: reason})
		} else {
			fails := len(out.Failures)
			dec.Payload(rec.RawData, &out)
			for i := fails; i < len(out.Failures); i++ {
				out.Failures[i].Line = n
			}
		}
		size += int64(len(val))
		if len(out.Records)+len(out.Failures) >= batch || size >= rn.r.cfg.ChunkBytes {
			rn.sum.Skipped += int64(out.Skipped)
			if err := rn.submit(ctx, name, first, &out); err != nil {
				return err
			}
			out, size, first = decode.Output{Records: rn.records(batch)}, 0, n+1
		}
	}
	rn.sum.Skipped += int64(out.Skipped)
	return rn.submit(ctx, name, first, &out)
}

// errNoRawData is an object without rawData (or with a null one): no
// error record.
var errNoRawData = errors.New("no rawData")

// errTooLong is a JSON value longer than jsonValues.max.
var errTooLong = errors.New("JSON value too long")

// errStray is a run of bytes between JSON values that cannot start one.
var errStray = errors.New("stray bytes between JSON values")

// jsonValues cuts a stream of JSON objects or arrays, back to back or
// separated by white space, into one value at a time, and never holds
// more than max bytes of one: json.Decoder would read a value of any size
// whole, and an error-record object is input like any other.
type jsonValues struct {
	r   *bufio.Reader
	max int
	buf []byte
	// opened: a stray run ended at a '{', consumed with it, that starts
	// the next value.
	opened bool
}

// next returns the next value, valid until the following call, or io.EOF
// after the last. A value longer than max is read to its end (or the
// input's) and errTooLong returned with its first max bytes. A top-level
// byte that cannot start an object or array begins a stray run, read up to
// the next '{"' (or the input's end) and returned, its first max bytes,
// with errStray: that is how every error record starts, so that is where
// reading resumes. A bare '{' is not enough: in a stray line such as
// `WARN got { here` it would open a value that never closes and swallow
// every record after it. The input ending inside a value is io.ErrUnexpectedEOF,
// which cannot be read past. Only
// strings and nesting are followed, so a malformed value ends where its
// brackets balance, and json.Unmarshal reports what is wrong with it.
func (j *jsonValues) next() ([]byte, error) {
	j.buf = j.buf[:0]
	depth, inString, escaped, long, stray, brace := 0, false, false, false, false, false
	if j.opened {
		j.buf, depth, j.opened = append(j.buf, '{'), 1, false
	}
	for {
		if j.r.Buffered() == 0 {
			if _, err := j.r.Peek(1); err != nil {
				switch {
				case err == io.EOF && stray:
					return j.buf, errStray // and io.EOF on the next call
				case err == io.EOF && depth == 0:
					return nil, io.EOF
				case err == io.EOF && long:
					return j.buf, errTooLong // and io.EOF on the next call
				case err == io.EOF:
					return j.buf, io.ErrUnexpectedEOF
				}
				return j.buf, err
			}
		}
		chunk, _ := j.r.Peek(j.r.Buffered())
		from, i, ended := 0, 0, false // chunk[from:i] belongs to the value
		for i < len(chunk) && !ended {
			c := chunk[i]
			switch {
			case stray:
				if brace && c == '"' {
					ended = true
					continue // the '{' before it starts the next value
				}
				brace = c == '{'
			case depth == 0:
				switch c {
				case ' ', '\t', '\r', '\n':
					from = i + 1
				case '{', '[':
					depth = 1
				default:
					stray = true
				}
			case escaped:
				escaped = false
			case inString:
				// Most of an error record is the base64 of rawData: skip
				// to the string's next quote or backslash at once.
				k := bytes.IndexAny(chunk[i:], `"\`)
				if k < 0 {
					i = len(chunk)
					continue
				}
				i += k
				escaped, inString = chunk[i] == '\\', chunk[i] == '\\'
			case c == '"':
				inString = true
			case c == '{' || c == '[':
				depth++
			case c == '}' || c == ']':
				depth--
				ended = depth == 0
			}
			i++
		}
		part := chunk[from:i]
		if room := j.max - len(j.buf); len(part) > room {
			part, long = part[:room], true
		}
		j.buf = append(j.buf, part...)
		_, _ = j.r.Discard(i)
		if ended {
			if stray {
				// The '{' went with the run; the next value starts with it.
				if !long {
					j.buf = j.buf[:len(j.buf)-1]
				}
				j.opened = true
				return j.buf, errStray
			}
			if long {
				return j.buf, errTooLong
			}
			return j.buf, nil
		}
	}
}
