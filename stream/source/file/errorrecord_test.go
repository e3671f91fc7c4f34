package file

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
)

// errorRecordJSON is one Firehose error record as Firehose writes it to S3.
func errorRecordJSON(raw, code string) string {
	return fmt.Sprintf(`{"attemptsMade":4,"arrivalTimestamp":1700000000000,"errorCode":%q,"errorMessage":"failed","attemptEndingTimestamp":1700000060000,"rawData":%q,"subsequenceNumber":0,"dataId":"1"}`,
		code, base64.StdEncoding.EncodeToString([]byte(raw)))
}

// TestErrorRecords replays the original records of Firehose's
// processing-failed and http-endpoint-failed objects: plain lines and
// {"message"} wrappers, objects one per line or back to back, gzip or not.
func TestErrorRecords(t *testing.T) {
	objects := errorRecordJSON(lineAccept, "Lambda.FunctionError") + "\n" +
		errorRecordJSON(`{"message":"`+lineReject+`"}`, "HttpEndpoint.DestinationException") +
		errorRecordJSON("garbage", "HttpEndpoint.DestinationException") + "\n"
	for _, data := range [][]byte{[]byte(objects), gz(objects)} {
		e := newEnv(t, func(c *Config) { c.BatchSize = 1 })
		path := write(t, "processing-failed", data)
		sum, err := e.r.Run(context.Background(), []string{path})
		if err != nil {
			t.Fatal(err)
		}
		if got := raws(e.sink.Records()); strings.Join(got, "|") != lineAccept+"|"+lineReject {
			t.Errorf("records = %q", got)
		}
		fs := e.dl.Failures()
		if len(fs) != 1 || fs[0].Line != 3 || fs[0].Ref != path || sum.Lines != 3 {
			t.Errorf("failures = %+v, summary %+v: want the third error record's payload", fs, sum)
		}
	}

	// A truncated object keeps the records before the cut.
	e := newEnv(t, nil)
	path := write(t, "cut", []byte(objects[:len(objects)-40]))
	if _, err := e.r.Run(context.Background(), []string{path}); err != nil {
		t.Fatal(err)
	}
	fs := e.dl.Failures()
	if got := raws(e.sink.Records()); len(got) != 2 || len(fs) != 1 || !strings.Contains(fs[0].Reason, "unreadable") || fs[0].Line != 3 {
		t.Errorf("records %q, failures %+v", got, fs)
	}
}

// TestErrorRecordLongMessage replays an http-endpoint-failed object whose
// errorMessage, which holds the endpoint's response body, puts rawData
// beyond the bytes looked at to recognise error records.
func TestErrorRecordLongMessage(t *testing.T) {
	body := strings.Repeat("<p>proxy error</p>", 500) // 9 KB of response body
	obj := fmt.Sprintf(`{"attemptsMade":4,"arrivalTimestamp":1700000000000,"errorCode":"HttpEndpoint.InvalidResponseFromDestination","errorMessage":%q,"attemptEndingTimestamp":1700000060000,"rawData":%q}`+"\n",
		body, base64.StdEncoding.EncodeToString([]byte(lineAccept)))
	e := newEnv(t, nil)
	path := write(t, "http-endpoint-failed", []byte(obj))
	if _, err := e.r.Run(context.Background(), []string{path}); err != nil {
		t.Fatal(err)
	}
	if got := raws(e.sink.Records()); len(got) != 1 || got[0] != lineAccept || len(e.dl.Failures()) != 0 {
		t.Errorf("records %q, %d failures: want the original record replayed", got, len(e.dl.Failures()))
	}
}
