package decode

import (
	"strings"
	"testing"
	"unsafe"

	"github.com/flowhose/flowhose/stream"
)

// Blank lines cost one byte to send and produce nothing, so the records
// reserved for a payload must be bounded by its size, not its line count:
// a Record is hundreds of bytes.
func TestBlankLinesReserveBoundedMemory(t *testing.T) {
	const n = 1 << 20
	blank := strings.Repeat("\n", n)
	tests := []struct {
		name    string
		payload []byte
	}{
		{"plain newlines", []byte(blank)},
		{"plain CRLF", []byte(strings.Repeat("\r\n", n/2))},
		{"gzip newlines", gz(t, blank)},
		{"message wrapper", []byte(`{"message":"` + strings.Repeat(`\n`, n/2) + `"}`)},
		{"CloudWatch event", []byte(`{"messageType":"DATA_MESSAGE","logEvents":[{"message":"` + strings.Repeat(`\n`, n/2) + `"}]}`)},
	}
	recSize := int(unsafe.Sizeof(stream.Record{}))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDecoder(t)
			var out Output
			d.Payload(tt.payload, &out)
			if len(out.Records) != 0 || len(out.Failures) != 0 {
				t.Fatalf("got %d records, %d failures; want none", len(out.Records), len(out.Failures))
			}
			// 64 bytes of records per input byte is far above what real
			// lines (80+ bytes each) need and far below a Record per byte.
			if got, limit := cap(out.Records)*recSize, 64*n; got > limit {
				t.Errorf("reserved %d bytes of records for %d blank lines; want at most %d", got, n, limit)
			}
		})
	}
}
