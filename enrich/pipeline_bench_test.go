package enrich

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/flowhose/flowhose/stream/decode"
	"github.com/flowhose/flowhose/stream/ecs"
)

// BenchmarkDecodeEnrichEncode re-measures the core hot path (decode + ECS
// encode, see stream/ecs BenchmarkDecodeEncode) with enrichment on: file
// inventory, ip-ranges, derived fields, GeoIP off. Run with -cpu=1 for the
// one-core figure quoted in the README.
func BenchmarkDecodeEnrichEncode(b *testing.B) {
	raw, err := os.ReadFile("../testdata/flowlogs/sample-v2.log")
	if err != nil {
		b.Fatal(err)
	}
	text := string(raw)
	e := fileEnricher(b)
	ctx := context.Background()
	var (
		enc  ecs.Encoder
		out  decode.Output
		buf  = make([]byte, 0, 1<<20)
		recs int
	)
	b.ReportAllocs()
	b.SetBytes(int64(len(text)))
	start := time.Now()
	for b.Loop() {
		d, err := decode.New(decode.Options{})
		if err != nil {
			b.Fatal(err)
		}
		out.Records, out.Failures = out.Records[:0], out.Failures[:0]
		d.Text(text, &out)
		e.Enrich(ctx, out.Records)
		buf = buf[:0]
		for i := range out.Records {
			buf = enc.Append(buf, &out.Records[i])
			buf = append(buf, '\n')
		}
		recs += len(out.Records)
	}
	elapsed := time.Since(start)
	b.ReportMetric(float64(recs)/elapsed.Seconds(), "records/s")
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(recs), "ns/record")
}

// BenchmarkEnrichSample isolates the enrichment share of
// BenchmarkDecodeEnrichEncode: the same 400 records, decoded once and
// re-enriched in place.
func BenchmarkEnrichSample(b *testing.B) {
	raw, err := os.ReadFile("../testdata/flowlogs/sample-v2.log")
	if err != nil {
		b.Fatal(err)
	}
	d, err := decode.New(decode.Options{})
	if err != nil {
		b.Fatal(err)
	}
	var out decode.Output
	d.Text(string(raw), &out)
	runBenchRecords(b, fileEnricher(b), out.Records)
}
