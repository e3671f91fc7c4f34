package decode

import (
	"errors"
	"strings"
	"testing"
)

const limitLine = "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK"

// MaxRecords stops decoding at the limit in every envelope, counting
// failures too, and a payload of exactly the limit is not refused.
func TestMaxRecords(t *testing.T) {
	lines := func(n int) string { return strings.Repeat(limitLine+"\n", n) }
	tests := []struct {
		name    string
		payload []byte
		max     int
		want    int // records plus failures decoded
		over    bool
	}{
		{"plain under", []byte(lines(3)), 3, 3, false},
		{"plain over", []byte(lines(1000)), 3, 3, true},
		{"gzip over", gz(t, lines(1000)), 5, 5, true},
		{"failures count", []byte(strings.Repeat("bad line\n", 10)), 4, 4, true},
		{"wrappers over", []byte(strings.Repeat(`{"message":"`+limitLine+`"}`+"\n", 10)), 2, 2, true},
		{"CloudWatch over", []byte(`{"messageType":"DATA_MESSAGE","logEvents":[{"message":"` + limitLine + `"},{"message":"` + limitLine + `"},{"message":"` + limitLine + `"}]}`), 2, 2, true},
		{"CloudWatch at limit", []byte(`{"messageType":"DATA_MESSAGE","logEvents":[{"message":"` + limitLine + `"},{"message":"` + limitLine + `"}]}`), 2, 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := Output{MaxRecords: tt.max}
			newDecoder(t).Payload(tt.payload, &out)
			if got := len(out.Records) + len(out.Failures); got != tt.want {
				t.Errorf("decoded %d, want %d", got, tt.want)
			}
			if over := errors.Is(out.Err, ErrTooManyRecords); over != tt.over {
				t.Errorf("Err = %v, want over limit %v", out.Err, tt.over)
			}
			if cap(out.Records) > tt.max {
				t.Errorf("reserved %d record slots past MaxRecords %d", cap(out.Records), tt.max)
			}
		})
	}
}

// Reserve is asked before every allocation the decoder keeps, and its
// refusal stops decoding with nothing more allocated.
func TestReserve(t *testing.T) {
	payload := strings.Repeat(limitLine+"\n", 2000)
	for _, tt := range []struct {
		name string
		data []byte
	}{{"plain", []byte(payload)}, {"gzip", gz(t, payload)}} {
		t.Run(tt.name, func(t *testing.T) {
			var asked int64
			out := Output{Reserve: func(n int64) error { asked += n; return nil }}
			newDecoder(t).Payload(tt.data, &out)
			if len(out.Records) != 2000 || out.Err != nil {
				t.Fatalf("records %d, err %v", len(out.Records), out.Err)
			}
			kept := int64(cap(out.Records))*RecordBytes + int64(len(payload))
			if asked < kept {
				t.Errorf("reserved %d bytes, but the output keeps %d", asked, kept)
			}

			refused := errors.New("no room")
			var budget int64 = 100 * RecordBytes
			out = Output{Reserve: func(n int64) error {
				if n > budget {
					return refused
				}
				budget -= n
				return nil
			}}
			newDecoder(t).Payload(tt.data, &out)
			if !errors.Is(out.Err, refused) {
				t.Fatalf("Err = %v, want the refusal", out.Err)
			}
			if int64(cap(out.Records))*RecordBytes > 100*RecordBytes {
				t.Errorf("holds %d record slots past the refusal", cap(out.Records))
			}
			// Once stopped, nothing more is decoded.
			n := len(out.Records)
			newDecoder(t).Payload([]byte(limitLine), &out)
			if len(out.Records) != n {
				t.Error("decoded after Err was set")
			}
		})
	}
}
