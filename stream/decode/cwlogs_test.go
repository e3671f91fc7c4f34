package decode

import (
	"reflect"
	"strings"
	"testing"
	"unsafe"
)

// cwlVariants are CloudWatch Logs documents the fast path takes, or must
// leave to encoding/json, with the result the same either way.
var cwlVariants = []struct {
	name string
	doc  string
	fast bool // decoded by the fast path, not encoding/json
}{
	{"as CloudWatch Logs writes it", `{"messageType":"DATA_MESSAGE","owner":"123456789010","logGroup":"vpc-flow-logs","logStream":"eni-1-all","subscriptionFilters":["to-firehose"],"logEvents":[{"id":"3739","timestamp":1418530010000,"message":"` + lineA + `"},{"id":"3740","timestamp":1418530010000,"message":"` + lineN + `"}]}`, true},
	{"control message", `{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1432826855000,"message":"CWL CONTROL MESSAGE: Checking health of destination Firehose."}]}`, true},
	{"blanks, other order, account policy", " {\n \"logEvents\" : [ { \"message\" : \"" + lineA + "\" , \"id\" : \"1\" } ] ,\t\"logStream\":\"s\", \"policyLevel\":\"ACCOUNT_LEVEL_POLICY\", \"messageType\":\"DATA_MESSAGE\", \"n\": -1.5e+3, \"b\": [true,false,null,0]}\r\n", true},
	{"no events, no origin", `{"messageType":"DATA_MESSAGE","logEvents":[]}`, true},
	{"event without message, empty message, blank message", `{"messageType":"DATA_MESSAGE","logEvents":[{"id":"1"},{"message":""},{"message":"   "},{"message":"` + lineB + `"}]}`, true},
	{"a bad line", `{"messageType":"DATA_MESSAGE","logEvents":[{"message":"bad"},{"message":"` + lineB + `"}]}`, true},
	{"UTF-8 in the origin", `{"messageType":"DATA_MESSAGE","logGroup":"grüße","logEvents":[{"message":"` + lineA + `"}]}`, true},
	{"escape in a message", `{"messageType":"DATA_MESSAGE","logEvents":[{"message":"` + lineA + `\n` + lineB + `"}]}`, false},
	{"escape in the origin", `{"messageType":"DATA_MESSAGE","owner":"1\"2","logEvents":[{"message":"` + lineA + `"}]}`, false},
	{"invalid UTF-8 in a message", "{\"messageType\":\"DATA_MESSAGE\",\"logEvents\":[{\"message\":\"2 \xff\"}]}", false},
	{"key in another case", `{"messageType":"DATA_MESSAGE","LogGroup":"g","logEvents":[{"message":"` + lineA + `"}]}`, false},
	{"event key in another case", `{"messageType":"DATA_MESSAGE","logEvents":[{"Message":"` + lineA + `"}]}`, false},
	{"key folding to message", `{"messageType":"DATA_MESSAGE","logEvents":[{"meſſage":"` + lineA + `"}]}`, false},
	{"repeated key", `{"messageType":"DATA_MESSAGE","logGroup":"a","logGroup":"b","logEvents":[{"message":"` + lineA + `"}]}`, false},
	{"repeated message", `{"messageType":"DATA_MESSAGE","logEvents":[{"message":"` + lineA + `","message":"` + lineB + `"}]}`, false},
	{"wrapper key beside messageType", `{"messageType":"DATA_MESSAGE","message":"x","logEvents":[]}`, false},
	{"unknown messageType", `{"messageType":"OTHER","logEvents":[]}`, false},
	{"no messageType", `{"logEvents":[{"message":"` + lineA + `"}]}`, false},
	{"null events", `{"messageType":"DATA_MESSAGE","logEvents":null}`, false},
	{"nested unknown value", `{"messageType":"DATA_MESSAGE","x":{"y":1},"logEvents":[]}`, false},
	{"number as message", `{"messageType":"DATA_MESSAGE","logEvents":[{"message":5}]}`, false},
	{"bad number", `{"messageType":"DATA_MESSAGE","n":01,"logEvents":[]}`, false},
	{"cut short", `{"messageType":"DATA_MESSAGE","logEvents":[{"message":"` + lineA + `"}]`, false},
}

// The fast path decodes what encoding/json decodes, records, failures,
// line numbers and all, including after a document it leaves to it.
func TestCloudWatchFastPathMatchesJSON(t *testing.T) {
	good := cwl(t, "DATA_MESSAGE", lineA, "bad")
	for _, v := range cwlVariants {
		t.Run(v.name, func(t *testing.T) {
			for _, data := range []string{v.doc, good + v.doc + "\n" + good} {
				var got, want Output
				newDecoder(t).Payload([]byte(data), &got)
				newDecoder(t).jsonEnvelopes([]byte(data), 1, &want)
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("%s\nfast path %+v\nencoding/json %+v", data, got, want)
				}
			}
			var out Output
			rest, _ := newDecoder(t).cloudWatchDocs([]byte(v.doc), &out)
			if fast := rest == nil; fast != v.fast {
				t.Errorf("fast path taken: %v, want %v", fast, v.fast)
			}
		})
	}
}

// A gzip CloudWatch Logs delivery costs no allocation once the decoder, the
// records and the caller's Keep have their buffers.
func TestCloudWatchFastPathAllocs(t *testing.T) {
	data := gz(t, cwl(t, "DATA_MESSAGE", lineA, lineB, lineN, lineA, lineB))
	d := newDecoder(t)
	defer d.Release()
	block := make([]byte, 0, 1<<20)
	out := Output{Keep: func(b []byte) (string, error) {
		if len(b) > cap(block)-len(block) {
			block = block[:0]
		}
		block = append(block, b...)
		return unsafe.String(&block[len(block)-len(b)], len(b)), nil
	}}
	allocs := testing.AllocsPerRun(100, func() {
		out.Records, out.Failures = out.Records[:0], out.Failures[:0]
		d.Payload(data, &out)
		if len(out.Records) != 5 || out.Records[4].Origin != cwlOrigin {
			t.Fatalf("records %+v failures %+v", out.Records, out.Failures)
		}
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per payload, want none", allocs)
	}
}

// A decoder's inflate buffer is reused across payloads and after Release,
// without one payload's bytes showing through in the next one's records.
func TestGunzipBufferReused(t *testing.T) {
	d := newDecoder(t)
	var out Output
	d.Payload(gz(t, strings.Repeat(lineA+"\n", 50)), &out)
	d.Payload(gz(t, lineB), &out)
	d.Release()
	d.Payload(gz(t, cwl(t, "DATA_MESSAGE", lineN)), &out)
	d.Release()
	if len(out.Records) != 52 || out.Records[0].Raw != lineA || out.Records[50].Raw != lineB || out.Records[51].Raw != lineN {
		t.Fatalf("%d records, failures %+v", len(out.Records), out.Failures)
	}
}
