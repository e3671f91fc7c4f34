package transform

import (
	"context"
	"encoding/json"
	"reflect"
	"strconv"
	"testing"

	"github.com/flowhose/flowhose/stream/decode"
	"github.com/flowhose/flowhose/stream/sinktest"
)

// FuzzTransform splits arbitrary input into records and checks the
// response contract: every recordId once and in order, data exactly on Ok,
// and the response within the limit.
func FuzzTransform(f *testing.F) {
	f.Add([]byte(lineAccept+"\x00"+lineBad+"\x00\x00Hello World"), uint16(600))
	f.Add(controlMessage, uint16(100))
	f.Add([]byte(`{"message":"`+lineReject+`"}`+"\x00"+lineAccept+"\n"+lineAccept), uint16(5000))
	f.Fuzz(func(t *testing.T, data []byte, limit uint16) {
		var in []Input
		for i, part := range splitZero(data) {
			// Ids with characters the two encoders escape differently.
			in = append(in, Input{RecordID: "id\"\b<\u2028\xff" + strconv.Itoa(i), Data: part})
		}
		cfg := DefaultConfig()
		cfg.MaxResponseBytes = int64(limit) + 1
		h, err := New(cfg, decode.Options{}, Deps{DeadLetter: &sinktest.DeadLetter{}})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := h.Transform(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Records) != len(in) {
			t.Fatalf("%d results for %d records", len(resp.Records), len(in))
		}
		anyOK := false
		for i, rr := range resp.Records {
			if rr.RecordID != in[i].RecordID {
				t.Fatalf("result %d is for %q", i, rr.RecordID)
			}
			if (rr.Result == ResultOk) != (len(rr.Data) > 0) {
				t.Fatalf("%s with %d bytes", rr.Result, len(rr.Data))
			}
			anyOK = anyOK || rr.Result == ResultOk
		}
		b, _ := json.Marshal(resp)
		// The HTTP handler's encoder writes the same JSON value, and
		// never more bytes than the size the limit was checked against.
		direct := resp.AppendJSON(nil)
		var fromDirect, fromJSON Response
		if err := json.Unmarshal(direct, &fromDirect); err != nil {
			t.Fatalf("AppendJSON wrote invalid JSON %q: %v", direct, err)
		}
		_ = json.Unmarshal(b, &fromJSON)
		if !reflect.DeepEqual(fromDirect, fromJSON) {
			t.Fatalf("AppendJSON %s\nencoding/json %s", direct, b)
		}
		if anyOK && int64(len(direct))+1 > cfg.MaxResponseBytes {
			t.Fatalf("AppendJSON response %d bytes over limit %d", len(direct)+1, cfg.MaxResponseBytes)
		}
		// Entries without data alone may exceed a tiny limit, but data is
		// only added while the whole response fits.
		if anyOK && int64(len(b))+1 > cfg.MaxResponseBytes {
			t.Fatalf("response %d bytes over limit %d", len(b)+1, cfg.MaxResponseBytes)
		}
	})
}

func splitZero(b []byte) [][]byte {
	var parts [][]byte
	start := 0
	for i, c := range b {
		if c == 0 {
			parts = append(parts, b[start:i])
			start = i + 1
		}
	}
	return append(parts, b[start:])
}
