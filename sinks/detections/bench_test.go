package detections

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/flowhose/flowhose/sinks"
	"github.com/flowhose/flowhose/sinks/ndjson"
	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/detect/detecttest"
	"github.com/flowhose/flowhose/stream/sinktest"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPipeline: an hour of benign traffic through the pipeline into
// the NDJSON sink (ECS encoding, output discarded), with the detections
// sink beside it ("on") or not ("off"). It reports records/s, process CPU
// per record (steadier than wall time on a shared machine) and the share
// of records detection skipped because it fell behind.
func BenchmarkPipeline(b *testing.B) {
	var recs []stream.Record
	detecttest.BenignHour(rand.New(rand.NewPCG(1, 7)), func(r []stream.Record) { recs = append(recs, r...) })
	for _, on := range []bool{false, true} {
		name := map[bool]string{false: "detections=off", true: "detections=on"}[on]
		b.Run(name, func(b *testing.B) {
			reg := prometheus.NewRegistry()
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			nd, err := ndjson.New(ndjson.DefaultConfig(), io.Discard, nil)
			if err != nil {
				b.Fatal(err)
			}
			sinkList := []stream.Sink{nd}
			var det *Sink
			if on {
				cfg := DefaultConfig()
				cfg.LogAlerts = false
				det, err = open(context.Background(), cfg, sinks.Deps{DeadLetter: &sinktest.DeadLetter{}, Registerer: reg, Logger: log}, http.DefaultClient)
				if err != nil {
					b.Fatal(err)
				}
				sinkList = append(sinkList, det)
			}
			p, err := stream.New(stream.Options{Workers: 2, QueueDepth: 8, Sinks: sinkList, DeadLetter: &sinktest.DeadLetter{},
				Metrics: stream.NewMetrics(reg), Logger: log})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			const batch = 500
			cpu0 := cpuTime()
			for b.Loop() {
				acks := make([]*stream.Ack, 0, len(recs)/batch+1)
				for i := 0; i < len(recs); i += batch {
					bt := &stream.Batch{Records: recs[i:min(i+batch, len(recs))], Ack: stream.NewAck()}
					if err := p.Submit(ctx, bt); err != nil {
						b.Fatal(err)
					}
					bt.Ack.Done(nil)
					acks = append(acks, bt.Ack)
				}
				for _, a := range acks {
					if err := a.Wait(ctx); err != nil {
						b.Fatal(err)
					}
				}
			}
			elapsed, cpu := b.Elapsed(), cpuTime()-cpu0
			if err := p.Close(ctx); err != nil {
				b.Fatal(err)
			}
			n := float64(b.N * len(recs))
			b.ReportMetric(n/elapsed.Seconds(), "records/s")
			b.ReportMetric(float64(cpu.Nanoseconds())/n, "cpu-ns/record")
			if det != nil {
				b.ReportMetric(testutil.ToFloat64(det.dropped)/n, "skipped/record")
			}
			b.ReportMetric(0, "ns/op")
		})
	}
}
