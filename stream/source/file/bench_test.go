package file

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/decode"
	"github.com/flowhose/flowhose/stream/sinktest"
)

// writeFlowFile writes n default-format lines after an S3 header.
func writeFlowFile(b *testing.B, n int) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "flows.log")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	w.WriteString(header + "\n")
	var line []byte
	for i := range n {
		line = append(line[:0], "2 123456789010 eni-1235b8ca123456789 10.0."...)
		line = strconv.AppendInt(line, int64(i>>8&255), 10)
		line = append(line, '.')
		line = strconv.AppendInt(line, int64(i&255), 10)
		line = append(line, " 172.31.16.21 "...)
		line = strconv.AppendInt(line, int64(1024+i%60000), 10)
		line = append(line, " 443 6 20 4249 1418530010 1418530070 ACCEPT OK\n"...)
		w.Write(line)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkReplay replays a generated default-format file through a
// pipeline with a discarding sink.
func BenchmarkReplay(b *testing.B) {
	for _, n := range []int{10_000, 1_000_000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			path := writeFlowFile(b, n)
			st, _ := os.Stat(path)
			p, err := stream.New(stream.Options{Workers: 2, QueueDepth: 4,
				Sinks: []stream.Sink{sinktest.NewDiscardSink("null")}, DeadLetter: &sinktest.DeadLetter{}})
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close(context.Background())
			r, err := New(DefaultConfig(), decode.Options{}, p, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(st.Size())
			b.ReportAllocs()
			for b.Loop() {
				sum, err := r.Run(context.Background(), []string{path})
				if err != nil || sum.Records != int64(n) {
					b.Fatalf("summary %+v, err %v", sum, err)
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
