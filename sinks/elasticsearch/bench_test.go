package elasticsearch

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/sinktest"
)

// BenchmarkAccept measures the client side of indexing: encoding, bulk
// bodies, compression, the HTTP round trip to a node that accepts
// everything without parsing, and acknowledgement. One op is one batch
// of 400 records.
func BenchmarkAccept(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		io.WriteString(w, `{"errors":false,"items":[]}`)
	}))
	defer srv.Close()
	recs := sampleRecords(b, 400)
	for _, compress := range []bool{false, true} {
		b.Run(fmt.Sprintf("compress=%t", compress), func(b *testing.B) {
			cfg := testConfig(srv.URL)
			cfg.Compress = compress
			s, err := newSink(cfg, &sinktest.DeadLetter{}, nil, quiet)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			var acks []*stream.Ack
			for b.Loop() {
				ack := stream.NewAck()
				ack.Add(1)
				if err := s.Accept(context.Background(), &stream.Batch{Records: recs, Ack: ack}); err != nil {
					b.Fatal(err)
				}
				ack.Done(nil)
				acks = append(acks, ack)
			}
			if err := s.Close(context.Background()); err != nil {
				b.Fatal(err)
			}
			for _, a := range acks {
				if err := a.Wait(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/doc")
		})
	}
}
