package transform

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// The fast path takes the events Firehose sends; the rest is left to
// encoding/json.
func TestScanEventShapes(t *testing.T) {
	sample, err := os.ReadFile("testdata/kinesis-firehose-event.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		body    string
		fast    bool
		records int
	}{
		{string(sample), true, 2},
		{eventBody([]byte(lineAccept), nil, []byte(lineBad)), true, 3},
		{`{"records":[]}`, true, 0},
		{`{"invocationId":"i","records":[{"recordId":"r","data":"QQ==","meta":{"a":[1,{"b":null}]}}]} `, true, 1},
		{`{"invocationId":"i"}`, false, 0},
		{`{"records":null}`, false, 0},
		{`{"records":[{"data":"QQ=="}]}`, false, 0},
		{`{"records":[{"recordId":"r"}]}`, false, 0},
		{`{"records":[{"recordId":"r","data":"QQ==","Data":"QQ=="}]}`, false, 0},
		{`{"records":[{"recordId":"r","data":"QQ==","recordId":"s"}]}`, false, 0},
		{`{"records":[{"recordId":"r\u0041","data":"QQ=="}]}`, false, 0},
		{`{"records":[{"recordId":"r","data":"QQ\/="}]}`, false, 0},
		{`{"records":[],"Records":[]}`, false, 0},
		{`{"records":[]} {}`, false, 0},
	} {
		sc, ok, err := scanEvent([]byte(tt.body), noGrow)
		if err != nil || ok != tt.fast || ok && len(sc.records) != tt.records {
			t.Errorf("scanEvent(%.80q) = %d records, %v, %v; want fast path %v with %d", tt.body, len(sc.records), ok, err, tt.fast, tt.records)
		}
	}
}

func noGrow(int64) error { return nil }

// FuzzEvent checks the fast path against encoding/json: for every body it
// takes, both read the same event, or both refuse it.
func FuzzEvent(f *testing.F) {
	sample, err := os.ReadFile("testdata/kinesis-firehose-event.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sample)
	f.Add([]byte(eventBody([]byte(lineAccept), nil, []byte(lineBad))))
	f.Add([]byte(`{"invocationId":"i","records":[{"recordId":"r","data":"QQ==","meta":{"a":[1.5e3,{"b":null}]}}]}`))
	f.Add([]byte(`{"records":[{"recordId":"r","data":"Q!Q="},{"recordId":"é","data":"QQ"}]}`))
	f.Add([]byte(`{"records":[{"recordId":"r","data":"QQ==","ſ":1}],"region":"x"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if _, ok, _ := scanEvent(body, noGrow); !ok {
			return
		}
		fast, _, fastErr := parseEvent(body, noGrow)
		var general event
		generalErr := json.NewDecoder(bytes.NewReader(body)).Decode(&general)
		if (fastErr == nil) != (generalErr == nil) {
			t.Fatalf("fast path err %v, encoding/json err %v", fastErr, generalErr)
		}
		if fastErr != nil {
			return
		}
		if fast.InvocationID != general.InvocationID || fast.DeliveryStreamArn != general.DeliveryStreamArn || len(fast.Records) != len(general.Records) {
			t.Fatalf("event %+v\nencoding/json %+v", fast, general)
		}
		for i, in := range fast.Records {
			g := general.Records[i]
			if in.RecordID != g.RecordID || !bytes.Equal(in.Data, g.Data) {
				t.Fatalf("record %d: %q %q, encoding/json %q %q", i, in.RecordID, in.Data, g.RecordID, g.Data)
			}
		}
	})
}

// Two records' data share one buffer: each keeps to its own bytes.
func TestParseEventData(t *testing.T) {
	body := eventBody([]byte("first"), nil, []byte(strings.Repeat("x", 100)))
	ev, data, err := parseEvent([]byte(body), noGrow)
	if err != nil || data == nil {
		t.Fatalf("err %v, data %v (fast path expected)", err, data)
	}
	if len(ev.Records) != 3 || string(ev.Records[0].Data) != "first" || len(ev.Records[1].Data) != 0 || string(ev.Records[2].Data) != strings.Repeat("x", 100) {
		t.Fatalf("records %+v", ev.Records)
	}
	if cap(ev.Records[0].Data) != len(ev.Records[0].Data) || ev.Records[1].RecordID != "r1" {
		t.Fatalf("record 0 may grow into record 1's data, or ids wrong: %+v", ev.Records)
	}
}
