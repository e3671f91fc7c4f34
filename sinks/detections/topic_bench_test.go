package detections

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math/rand/v2"
	"testing"

	"github.com/flowhose/flowhose/enrich"
	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/decode"
	"github.com/flowhose/flowhose/stream/detect/detecttest"
	"github.com/flowhose/flowhose/stream/ecs"
)

// BenchmarkTopicFormat is what the detection fleet pays per record to turn
// the keyed topic's messages back into enriched records: "line" decodes
// original lines and enriches them again (what the exact mode does);
// "ecs-json" only parses ECS documents with encoding/json, a floor for a
// decoder of documents, before any mapping to records. It reports the
// bytes per record each format puts on the topic.
func BenchmarkTopicFormat(b *testing.B) {
	var recs []stream.Record
	detecttest.BenignHour(rand.New(rand.NewPCG(1, 2)), func(r []stream.Record) {
		if len(recs) < 20000 {
			recs = append(recs, r...)
		}
	})
	recs = recs[:20000]
	b.Run("line", func(b *testing.B) {
		var text []byte
		for i := range recs {
			text = append(append(text, recs[i].Raw...), '\n')
		}
		en, err := enrich.New(context.Background(), enrich.DefaultConfig(), nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			b.Fatal(err)
		}
		d, err := decode.New(decode.Options{Source: "kafka"})
		if err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for range b.N {
			var out decode.Output
			d.Reset()
			d.Text(string(text), &out)
			en.Enrich(context.Background(), out.Records)
			if len(out.Records) != len(recs) {
				b.Fatalf("%d records, %d failures", len(out.Records), len(out.Failures))
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
		b.ReportMetric(float64(len(text))/float64(len(recs)), "B/record")
	})
	b.Run("ecs-json", func(b *testing.B) {
		enc := ecs.Encoder{Dataset: "aws.vpcflow", Namespace: "default"}
		docs := make([][]byte, len(recs))
		size := 0
		for i := range recs {
			docs[i] = enc.Append(nil, &recs[i])
			size += len(docs[i])
		}
		b.ResetTimer()
		for range b.N {
			for _, d := range docs {
				var m map[string]any
				if err := json.Unmarshal(d, &m); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
		b.ReportMetric(float64(size)/float64(len(recs)), "B/record")
	})
}
