package splunk

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/flowhose/flowhose/sinks/internal/sinkbench"
	"github.com/flowhose/flowhose/stream/sinktest"
)

// BenchmarkSend measures the client's cost per event: encoding, gzip and
// the HTTP requests, against an endpoint that answers success without
// reading the events.
func BenchmarkSend(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, `{"text":"Success","code":0}`)
	}))
	defer srv.Close()
	recs, err := sinkbench.Records(20_000)
	if err != nil {
		b.Fatal(err)
	}
	for _, shape := range []string{ShapeLine, ShapeECS} {
		b.Run(shape, func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.URLs, cfg.Token, cfg.Ack, cfg.Shape = []string{srv.URL}, "t", false, shape
			b.ReportAllocs()
			for b.Loop() {
				s, err := New(cfg, &sinktest.DeadLetter{}, nil, quiet)
				if err != nil {
					b.Fatal(err)
				}
				if err := sinkbench.Send(s, recs, 500); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/event")
		})
	}
}
