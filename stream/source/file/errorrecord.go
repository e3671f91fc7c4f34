package file

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"

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

// errorRecords replays the original records of a stream of Firehose error
// records: each rawData is what Firehose received (a flow-log line, a
// {"message"} wrapper or a CloudWatch Logs subscription payload) and is
// decoded as the Firehose endpoint decodes a record. Failures carry the
// number of the error record as their line.
func (rn *run) errorRecords(ctx context.Context, name string, rd io.Reader, dec *decode.Decoder) error {
	jd := json.NewDecoder(rd)
	batch, size := rn.r.cfg.BatchSize, int64(0)
	out := decode.Output{Records: rn.records(batch)}
	first, n := 1, 0
	for {
		var rec errorRecord
		err := jd.Decode(&rec)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			rn.sum.Skipped += int64(out.Skipped)
			if serr := rn.submit(ctx, name, first, &out); serr != nil {
				return serr
			}
			return readFailed(err, n+1)
		}
		n++
		rn.sum.Lines++
		fails := len(out.Failures)
		dec.Payload(rec.RawData, &out)
		for i := fails; i < len(out.Failures); i++ {
			out.Failures[i].Line = n
		}
		size += int64(len(rec.RawData))
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
