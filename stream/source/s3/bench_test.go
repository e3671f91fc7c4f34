package s3

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	pqgzip "github.com/parquet-go/parquet-go/compress/gzip"

	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/decode"
	"github.com/flowhose/flowhose/stream/sinktest"
	"github.com/flowhose/flowhose/stream/source/file"
)

// benchRecords is the size of the generated flow logs: about what VPC
// writes to one object for a busy ENI set.
const benchRecords = 200_000

// flowRow is a default-format record in the flow-log Parquet schema.
type flowRow struct {
	Version     int32  `parquet:"version"`
	AccountID   string `parquet:"account_id,dict"`
	InterfaceID string `parquet:"interface_id,dict"`
	SrcAddr     string `parquet:"srcaddr"`
	DstAddr     string `parquet:"dstaddr,dict"`
	SrcPort     int32  `parquet:"srcport"`
	DstPort     int32  `parquet:"dstport"`
	Protocol    int32  `parquet:"protocol"`
	Packets     int64  `parquet:"packets"`
	Bytes       int64  `parquet:"bytes"`
	Start       int64  `parquet:"start"`
	End         int64  `parquet:"end"`
	Action      string `parquet:"action,dict"`
	LogStatus   string `parquet:"log_status,dict"`
}

func benchRow(i int) flowRow {
	return flowRow{2, "123456789010", "eni-1235b8ca123456789", "10.0." + strconv.Itoa(i>>8&255) + "." + strconv.Itoa(i&255), "172.31.16.21",
		int32(1024 + i%60000), 443, 6, 20, 4249, 1418530010, 1418530070, "ACCEPT", "OK"}
}

// benchObjects returns the same records as a gzip text file and as a
// Parquet file with gzip pages, as VPC writes both.
func benchObjects(b *testing.B) (text, pq []byte) {
	b.Helper()
	var tb bytes.Buffer
	zw := gzip.NewWriter(&tb)
	w := bufio.NewWriter(zw)
	w.WriteString(header + "\n")
	var pb bytes.Buffer
	pw := parquet.NewGenericWriter[flowRow](&pb, parquet.Compression(&pqgzip.Codec{Level: 6}), parquet.MaxRowsPerRowGroup(50_000))
	rows := make([]flowRow, 0, 1000)
	for i := range benchRecords {
		r := benchRow(i)
		w.WriteString("2 123456789010 eni-1235b8ca123456789 " + r.SrcAddr + " 172.31.16.21 " + strconv.Itoa(int(r.SrcPort)) + " 443 6 20 4249 1418530010 1418530070 ACCEPT OK\n")
		if rows = append(rows, r); len(rows) == cap(rows) {
			if _, err := pw.Write(rows); err != nil {
				b.Fatal(err)
			}
			rows = rows[:0]
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		b.Fatal(err)
	}
	if err := pw.Close(); err != nil {
		b.Fatal(err)
	}
	return tb.Bytes(), pb.Bytes()
}

func benchReplayer(b *testing.B) (*file.Replayer, func()) {
	p, err := stream.New(stream.Options{Workers: 2, QueueDepth: 4,
		Sinks: []stream.Sink{sinktest.NewDiscardSink("null")}, DeadLetter: &sinktest.DeadLetter{}})
	if err != nil {
		b.Fatal(err)
	}
	r, err := file.New(file.DefaultConfig(), decode.Options{}, p, nil)
	if err != nil {
		b.Fatal(err)
	}
	return r, func() { p.Close(context.Background()) }
}

// benchInput replays the input made by setup (size bytes) once per
// iteration and reports records/s.
func benchInput(b *testing.B, size int, setup func(*testing.B) file.Input) {
	in := setup(b)
	r, done := benchReplayer(b)
	defer done()
	b.SetBytes(int64(size))
	var sum file.Summary
	cpu0 := cpuTime()
	for b.Loop() {
		var err error
		if sum, err = r.RunInputs(context.Background(), []file.Input{in}); err != nil {
			b.Fatal(err)
		}
	}
	if sum.Records != benchRecords || sum.Errors != 0 || sum.Failures != 0 {
		b.Fatalf("summary %+v", sum)
	}
	b.ReportMetric(float64(b.N*benchRecords)/b.Elapsed().Seconds(), "records/s")
	// CPU time of the whole process per record: on a shared machine the
	// wall-clock rate says more about the neighbours than about the code.
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N*benchRecords), "cpu-ns/record")
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkBackfill reads 200,000 records as one text-gzip or Parquet
// object, from a local file and from S3 (moto), into a discarding sink.
func BenchmarkBackfill(b *testing.B) {
	text, pq := benchObjects(b)
	for _, o := range []struct {
		name string
		data []byte
	}{{"text-gzip", text}, {"parquet", pq}} {
		b.Run("local/"+o.name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), o.name)
			if err := os.WriteFile(path, o.data, 0o600); err != nil {
				b.Fatal(err)
			}
			benchInput(b, len(o.data), func(*testing.B) file.Input {
				return file.Input{Name: path, Open: func(context.Context) (io.ReadCloser, error) { return os.Open(path) }}
			})
		})
		b.Run("moto/"+o.name, func(b *testing.B) {
			benchInput(b, len(o.data), func(b *testing.B) file.Input {
				cfg := motoConfig(b)
				c := motoClients(b, cfg)
				bucket := newBucket(b, c)
				put(b, c, bucket, plainDay+o.name, o.data)
				return objectInput(c.S3, bucket, plainDay+o.name, nil)
			})
		})
	}
}
