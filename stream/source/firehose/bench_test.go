package firehose

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/decode"
	"github.com/flowhose/flowhose/stream/sinktest"
)

// BenchmarkHandler posts a request of 500 {"message"} records, as VPC Flow
// Logs send them directly, through a pipeline with a discarding sink.
func BenchmarkHandler(b *testing.B) {
	p, err := stream.New(stream.Options{Workers: 2, QueueDepth: 4,
		Sinks: []stream.Sink{sinktest.NewDiscardSink("null")}, DeadLetter: &sinktest.DeadLetter{}})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close(context.Background())
	h, err := New(DefaultConfig(), decode.Options{}, Deps{Pipeline: p})
	if err != nil {
		b.Fatal(err)
	}
	payloads := make([]string, 500)
	for i := range payloads {
		payloads[i] = `{"message":"` + lineAccept + `"}`
	}
	req := body(requestID, payloads...)
	b.SetBytes(int64(len(req)))
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/firehose", strings.NewReader(req))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
	b.ReportMetric(float64(b.N*len(payloads))/b.Elapsed().Seconds(), "records/s")
}
