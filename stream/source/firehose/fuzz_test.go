package firehose

import (
	"bytes"
	"errors"
	"os"
	"testing"

	"github.com/flowhose/flowhose/stream/decode"
)

// FuzzParse feeds arbitrary bodies to the request parser: it must never
// panic, must name the request on success, and must honour the decompressed
// size limit.
func FuzzParse(f *testing.F) {
	sample, err := os.ReadFile("../../../testdata/firehose/request.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sample)
	f.Add([]byte(body(requestID, lineAccept, lineBad)))
	f.Add([]byte(`{"requestId":"x","records":[{"data":null},{"data":""},{}]}`))
	f.Add([]byte(`{"requestId":"x","records":[{"data":"H4sI"}]}`))
	f.Add([]byte(`{"records":[],"requestId":1}`))
	f.Add([]byte(`{"requestId":"x","records":{}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dec, err := decode.New(decode.Options{Source: "firehose"})
		if err != nil {
			t.Fatal(err)
		}
		const limit = 4096
		body := &countingReader{r: bytes.NewReader(data), max: limit}
		c := &collector{batchSize: 3, maxRecords: DefaultConfig().MaxRecords}
		id, err := parse(body, dec, c)
		if err == nil && id == "" {
			t.Fatal("success without a requestId")
		}
		if len(data) > limit && !errors.Is(err, errDecompressedTooLarge) {
			t.Fatalf("body of %d bytes over the %d limit: err = %v", len(data), limit, err)
		}
	})
}
