package decode

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/decode/decodetest"
)

const (
	lineA = "2 123456789010 eni-0a1b2c3d4e5f60718 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK"
	lineB = "2 123456789010 eni-0a1b2c3d4e5f60718 172.31.9.69 172.31.9.12 49761 3389 6 20 4249 1418530010 1418530070 REJECT OK"
	lineN = "2 123456789010 eni-0a1b2c3d4e5f60718 - - - - - - - 1431280876 1431280934 - NODATA"
)

func gz(t testing.TB, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func cwl(_ testing.TB, messageType string, messages ...string) string {
	return decodetest.CloudWatchJSON(messageType, messages...)
}

var cwlOrigin = stream.Origin{LogGroup: "vpc-flow-logs", LogStream: "eni-0a1b2c3d4e5f60718-all", Owner: "123456789010"}

func TestPayload(t *testing.T) {
	type rec struct {
		raw    string
		origin stream.Origin
	}
	tests := []struct {
		name     string
		data     []byte
		records  []rec
		failures []stream.Failure
		skipped  int
	}{
		{
			name:    "plain lines",
			data:    []byte(lineA + "\n" + lineN + "\r\n\n" + lineB),
			records: []rec{{raw: lineA}, {raw: lineN}, {raw: lineB}},
		},
		{
			name:    "gzip plain lines",
			data:    gz(t, lineA+"\n"+lineB+"\n"),
			records: []rec{{raw: lineA}, {raw: lineB}},
		},
		{
			name:    "message wrapper",
			data:    []byte(`{"message":"` + lineA + `"}`),
			records: []rec{{raw: lineA}},
		},
		{
			name:    "several wrappers, one per line",
			data:    []byte(" {\"message\":\"" + lineA + "\"}\n{\"message\":\"" + lineB + "\"}\n\n"),
			records: []rec{{raw: lineA}, {raw: lineB}},
		},
		{
			name:    "wrapper with escapes and spaces takes the JSON decoder",
			data:    []byte(`{ "message" : "` + strings.Replace(lineA, "2", `\u0032`, 1) + `"}{"message":"` + lineB + `"}`),
			records: []rec{{raw: lineA}, {raw: lineB}},
		},
		{
			name:    "wrapper with a bad line",
			data:    []byte(`{"message":"` + lineA + `"}` + "\n" + `{"message":"2 x"}` + "\n" + `{"message":"` + lineB + `"}`),
			records: []rec{{raw: lineA}, {raw: lineB}},
			failures: []stream.Failure{{Source: "test", Input: "2 x", Line: 2,
				Reason: "got 2 fields, want 14"}},
		},
		{
			name:    "CloudWatch Logs data message",
			data:    gz(t, cwl(t, "DATA_MESSAGE", lineA, lineN)),
			records: []rec{{lineA, cwlOrigin}, {lineN, cwlOrigin}},
		},
		{
			name:    "CloudWatch Logs control message",
			data:    gz(t, cwl(t, "CONTROL_MESSAGE", "CWL CONTROL MESSAGE: Checking health of destination Firehose.")),
			skipped: 1,
		},
		{
			name:    "concatenated CloudWatch Logs documents, uncompressed",
			data:    []byte(cwl(t, "DATA_MESSAGE", lineA) + cwl(t, "CONTROL_MESSAGE") + "\n" + cwl(t, "DATA_MESSAGE", "bad", lineB)),
			records: []rec{{lineA, cwlOrigin}, {lineB, cwlOrigin}},
			skipped: 1,
			failures: []stream.Failure{{Source: "test", Input: "bad", Line: 2,
				Reason: "got 1 fields, want 14"}},
		},
		{
			name: "unknown messageType",
			data: []byte(`{"messageType":"OTHER"}`),
			failures: []stream.Failure{{Source: "test", Input: `{"messageType":"OTHER"}`, Line: 1,
				Reason: `unknown CloudWatch Logs messageType "OTHER"`}},
		},
		{
			name:    "object without message",
			data:    []byte(`{"msg":"x"}` + "\n" + `{"message":"` + lineA + `"}`),
			records: []rec{{raw: lineA}},
			failures: []stream.Failure{{Source: "test", Input: `{"msg":"x"}`, Line: 1,
				Reason: "JSON envelope has neither message nor messageType"}},
		},
		{
			name:    "wrong type fails that value only",
			data:    []byte(`{"message":5}` + "\n" + `{"message":"` + lineA + `"}`),
			records: []rec{{raw: lineA}},
			failures: []stream.Failure{{Source: "test", Input: `{"message":5}`, Line: 1,
				Reason: "bad JSON envelope: json: cannot unmarshal number into Go struct field jsonEnvelope.message of type string"}},
		},
		{
			name:    "syntax error fails the rest of the payload",
			data:    []byte(`{"message":"` + lineA + `"}` + "\n" + `{"message":"x` + "\n" + `{"message":"` + lineB + `"}`),
			records: []rec{{raw: lineA}},
			failures: []stream.Failure{{Source: "test", Input: `{"message":"x` + "\n" + `{"message":"` + lineB + `"}`, Line: 2,
				Reason: "bad JSON envelope: invalid character '\\n' in string literal"}},
		},
		{
			name: "corrupt gzip",
			data: []byte{0x1f, 0x8b, 0x08, 0x00, 0xff},
			failures: []stream.Failure{{Source: "test", Input: "H4sIAP8=",
				Reason: "corrupt gzip: unexpected EOF (input is base64: not valid UTF-8)"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDecoder(t)
			var out Output
			d.Payload(tt.data, &out)
			var got []rec
			for _, r := range out.Records {
				got = append(got, rec{r.Raw, r.Origin})
			}
			if !reflect.DeepEqual(got, tt.records) {
				t.Errorf("records\n got %+v\nwant %+v", got, tt.records)
			}
			if !reflect.DeepEqual(out.Failures, tt.failures) {
				t.Errorf("failures\n got %+v\nwant %+v", out.Failures, tt.failures)
			}
			if out.Skipped != tt.skipped {
				t.Errorf("skipped %d, want %d", out.Skipped, tt.skipped)
			}
		})
	}
}

func TestPayloadDecompressedLimit(t *testing.T) {
	data := gz(t, strings.Repeat(lineA+"\n", 100))
	for _, tt := range []struct {
		limit   int64
		records int
	}{{int64(100 * (len(lineA) + 1)), 100}, {int64(100*(len(lineA)+1)) - 1, 0}} {
		d, err := New(Options{MaxDecompressedBytes: tt.limit})
		if err != nil {
			t.Fatal(err)
		}
		var out Output
		d.Payload(data, &out)
		if len(out.Records) != tt.records {
			t.Errorf("limit %d: %d records, want %d", tt.limit, len(out.Records), tt.records)
		}
		if tt.records == 0 {
			want := fmt.Sprintf("decompressed size exceeds %d bytes (MaxDecompressedBytes) (input is base64: not valid UTF-8)", tt.limit)
			if len(out.Failures) != 1 || out.Failures[0].Reason != want || out.Failures[0].Input != base64.StdEncoding.EncodeToString(data) {
				t.Errorf("failures %+v", out.Failures)
			}
		}
	}
}

// TestCloudWatchSample decodes the aws-lambda-go subscription sample: its
// messages are not flow logs, so both fail, carrying their origin line numbers.
func TestCloudWatchSample(t *testing.T) {
	var ev struct{ AWSLogs struct{ Data []byte } }
	if err := json.Unmarshal(readTestdata(t, "cloudwatch-logs-event.json"), &ev); err != nil {
		t.Fatal(err)
	}
	d := newDecoder(t)
	var out Output
	d.Payload(ev.AWSLogs.Data, &out)
	want := []stream.Failure{
		{Source: "test", Input: "[ERROR] First test message", Line: 1, Reason: "got 4 fields, want 14"},
		{Source: "test", Input: "[ERROR] Second test message", Line: 2, Reason: "got 4 fields, want 14"},
	}
	if len(out.Records) != 0 || !reflect.DeepEqual(out.Failures, want) {
		t.Errorf("records %d failures %+v", len(out.Records), out.Failures)
	}
}

// TestPayloadCopiesInput: records must not alias the caller's buffer, which
// HTTP servers and Kafka clients reuse.
func TestPayloadCopiesInput(t *testing.T) {
	buf := []byte(lineA)
	d := newDecoder(t)
	var out Output
	d.Payload(buf, &out)
	for i := range buf {
		buf[i] = 'x'
	}
	if out.Records[0].Raw != lineA || out.Records[0].Action != "ACCEPT" {
		t.Errorf("record changed with the input buffer: %q", out.Records[0].Raw)
	}
}
