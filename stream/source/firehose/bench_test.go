package firehose

import (
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/decode"
	"github.com/flowhose/flowhose/stream/decode/decodetest"
	"github.com/flowhose/flowhose/stream/sinktest"
)

// BenchmarkHandler posts whole requests through handler and a pipeline
// with a discarding sink: 500 {"message"} records, as VPC Flow Logs send
// them directly, and a gzip body of 1,000 records of 5 default-format lines
// each (and 100 of them, to show what grows with the request), as a Firehose stream fed by Direct PUT of plain lines sends it,
// the same records each starting with the header line like an S3 object
// (what scripts/bench-otel sends), and the same lines as 1,000 CloudWatch
// Logs deliveries of 5 events. Read
// allocs/op as allocations per request; B/line is bytes allocated per
// flow-log line, comparable with stream/source/file's BenchmarkReplay.
func BenchmarkHandler(b *testing.B) {
	wrapped := make([]string, 500)
	for i := range wrapped {
		wrapped[i] = `{"message":"` + lineAccept + `"}`
	}
	lines := make([]string, 1000)
	objects := make([]string, 1000)
	cwlogs := make([]string, 1000)
	for i := range lines {
		lines[i] = strings.Repeat(lineAccept+"\n", 5)
		objects[i] = v2Header + "\n" + strings.TrimSuffix(lines[i], "\n")
		cwlogs[i] = gz(decodetest.CloudWatchJSON("DATA_MESSAGE", lineAccept, lineAccept, lineAccept, lineAccept, lineAccept))
	}
	for _, bc := range []struct {
		name     string
		body     string
		encoding string
		lines    int
	}{
		{"message-500", body(requestID, wrapped...), "", 500},
		{"gzip-100x5", gz(body(requestID, lines[:100]...)), "gzip", 500},
		{"gzip-1000x5", gz(body(requestID, lines...)), "gzip", 5000},
		{"objects-1000x5", gz(body(requestID, objects...)), "gzip", 5000},
		{"cwlogs-1000x5", gz(body(requestID, cwlogs...)), "gzip", 5000},
	} {
		b.Run(bc.name, func(b *testing.B) {
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
			b.SetBytes(int64(len(bc.body)))
			b.ReportAllocs()
			var before, after runtimeStats
			before.read()
			for b.Loop() {
				r := httptest.NewRequest(http.MethodPost, "/firehose", strings.NewReader(bc.body))
				if bc.encoding != "" {
					r.Header.Set("Content-Encoding", bc.encoding)
				}
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
			after.read()
			b.ReportMetric(float64(b.N*bc.lines)/b.Elapsed().Seconds(), "lines/s")
			b.ReportMetric(float64(after.bytes-before.bytes)/float64(b.N*bc.lines), "B/line")
			b.ReportMetric(float64(after.cpu-before.cpu)/float64(b.N*bc.lines), "cpu-ns/line")
		})
	}
}

// v2Header is the header line of the version-2 default format.
const v2Header = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"

// runtimeStats is the process's allocation total, for B/line, and CPU
// time, which on a machine shared with other work is steadier than the
// wall clock.
type runtimeStats struct {
	bytes uint64
	cpu   time.Duration
}

func (s *runtimeStats) read() {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	s.bytes = m.TotalAlloc
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		s.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
}
