package decode

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

const benchLines = 1000

// benchDecode runs decode over n records per op and reports per-record
// cost, in wall time and in the process's CPU time: on a machine shared
// with other work the CPU time is what comparisons can rely on.
func benchDecode(b *testing.B, n int, decode func(out *Output)) {
	b.ReportAllocs()
	var out Output
	cpu0 := cpuTime(b)
	for b.Loop() {
		out.Records, out.Failures, out.Skipped = out.Records[:0], out.Failures[:0], 0
		decode(&out)
		if len(out.Records) != n || len(out.Failures) != 0 {
			b.Fatalf("decoded %d records, failures %v", len(out.Records), out.Failures)
		}
	}
	cpu := cpuTime(b) - cpu0
	perOp := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(perOp*1e9/float64(n), "ns/record")
	b.ReportMetric(float64(n)/perOp, "records/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*n), "cpu-ns/record")
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
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

// BenchmarkValues decodes the lines of BenchmarkText given as values, as
// the Parquet reader does (under the column names as a header line).
func BenchmarkValues(b *testing.B) {
	lines := strings.Split(strings.TrimSuffix(sampleText(benchLines, (*flowGen).v2), "\n"), "\n")
	vals := make([][]Value, len(lines))
	for i, l := range lines {
		vals[i] = rowValues(l)
	}
	d := newDecoder(b)
	d.Text(v2Header, &Output{})
	benchDecode(b, benchLines, func(out *Output) {
		for i, l := range lines {
			d.Values(l, vals[i], i+2, out)
		}
	})
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

// BenchmarkPayloadCWLRecords decodes CloudWatch Logs deliveries the way
// they reach the Firehose endpoint: each record a gzip document of a few
// log events (5 here, 200 documents per op).
func BenchmarkPayloadCWLRecords(b *testing.B) {
	lines := strings.Split(strings.TrimSuffix(sampleText(benchLines, (*flowGen).v2), "\n"), "\n")
	var payloads [][]byte
	for i := 0; i < len(lines); i += 5 {
		payloads = append(payloads, gz(b, cwl(b, "DATA_MESSAGE", lines[i:i+5]...)))
	}
	d := newDecoder(b)
	benchDecode(b, benchLines, func(out *Output) {
		for _, p := range payloads {
			d.Payload(p, out)
		}
	})
}
