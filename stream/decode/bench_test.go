package decode

import (
	"strings"
	"testing"
)

const benchLines = 1000

// benchDecode runs decode over n records per op and reports per-record cost.
func benchDecode(b *testing.B, n int, decode func(out *Output)) {
	b.ReportAllocs()
	var out Output
	for b.Loop() {
		out.Records, out.Failures, out.Skipped = out.Records[:0], out.Failures[:0], 0
		decode(&out)
		if len(out.Records) != n || len(out.Failures) != 0 {
			b.Fatalf("decoded %d records, failures %v", len(out.Records), out.Failures)
		}
	}
	perOp := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(perOp*1e9/float64(n), "ns/record")
	b.ReportMetric(float64(n)/perOp, "records/s")
}

func BenchmarkText(b *testing.B) {
	text := sampleText(benchLines, (*flowGen).v2)
	d := newDecoder(b)
	benchDecode(b, benchLines, func(out *Output) { d.Text(text, out) })
}

func BenchmarkTextV5(b *testing.B) {
	text := sampleText(benchLines, (*flowGen).v5)
	d := newDecoder(b, v5Format)
	benchDecode(b, benchLines, func(out *Output) { d.Text(text, out) })
}

func BenchmarkPayloadPlain(b *testing.B) {
	data := []byte(sampleText(benchLines, (*flowGen).v2))
	d := newDecoder(b)
	benchDecode(b, benchLines, func(out *Output) { d.Payload(data, out) })
}

func BenchmarkPayloadCWLGzip(b *testing.B) {
	lines := strings.Split(strings.TrimSuffix(sampleText(benchLines, (*flowGen).v2), "\n"), "\n")
	data := gz(b, cwl(b, "DATA_MESSAGE", lines...))
	d := newDecoder(b)
	benchDecode(b, benchLines, func(out *Output) { d.Payload(data, out) })
}

// BenchmarkPayloadMessage decodes one {"message":…} payload per record, as
// Firehose direct delivery sends them.
func BenchmarkPayloadMessage(b *testing.B) {
	lines := strings.Split(strings.TrimSuffix(sampleText(benchLines, (*flowGen).v2), "\n"), "\n")
	payloads := make([][]byte, len(lines))
	for i, l := range lines {
		payloads[i] = []byte(`{"message":"` + l + `"}`)
	}
	d := newDecoder(b)
	benchDecode(b, benchLines, func(out *Output) {
		for _, p := range payloads {
			d.Payload(p, out)
		}
	})
}
