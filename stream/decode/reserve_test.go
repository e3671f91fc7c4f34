package decode

import (
	"errors"
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

// Keep makes the copy records point into, for plain and wrapped payloads
// (gunzipped or not); its refusal stops decoding like Reserve's.
func TestKeepMakesThePayloadCopy(t *testing.T) {
	for _, payload := range [][]byte{
		[]byte(lineA + "\n" + lineA),
		[]byte(`{"message":"` + lineA + `"}` + "\n" + `{"message":"` + lineA + `"}`),
		gz(t, lineA+"\n"+lineA),
	} {
		var block []byte
		out := Output{Keep: func(data []byte) (string, error) {
			block = append(make([]byte, 0, len(data)), data...)
			return unsafe.String(unsafe.SliceData(block), len(block)), nil
		}}
		newDecoder(t).Payload(payload, &out)
		if len(out.Records) != 2 || out.Err != nil {
			t.Fatalf("%q: %d records, err %v", payload, len(out.Records), out.Err)
		}
		for _, r := range out.Records {
			if p := unsafe.StringData(r.Raw); uintptr(unsafe.Pointer(p)) < uintptr(unsafe.Pointer(unsafe.SliceData(block))) ||
				uintptr(unsafe.Pointer(p)) >= uintptr(unsafe.Pointer(unsafe.SliceData(block)))+uintptr(len(block)) {
				t.Fatalf("%q: record's line is not in Keep's copy", payload)
			}
		}
		refused := errors.New("no room")
		out = Output{Keep: func([]byte) (string, error) { return "", refused }}
		newDecoder(t).Payload(payload, &out)
		if len(out.Records) != 0 || !errors.Is(out.Err, refused) {
			t.Fatalf("%q refused: %d records, err %v", payload, len(out.Records), out.Err)
		}
	}
}
