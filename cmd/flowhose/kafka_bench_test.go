package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/flowhose/flowhose/config"
	"github.com/flowhose/flowhose/stream/membudget"
	"github.com/flowhose/flowhose/stream/source"
	"github.com/flowhose/flowhose/stream/source/file"
	kafkasource "github.com/flowhose/flowhose/stream/source/kafka"
	"github.com/flowhose/flowhose/stream/source/kafka/kafkatest"
)

var (
	benchRecords    = flag.Int("kafka-bench-records", 200_000, "records per run of BenchmarkKafkaSource")
	benchQueueDepth = flag.Int("kafka-bench-queue-depth", 0, "pipeline.queue_depth of BenchmarkKafkaSource's runs (0: the default)")
	benchProfile    = flag.String("kafka-bench-cpuprofile", "", "directory for CPU profiles of BenchmarkKafkaSource's timed parts only (go test's -cpuprofile also covers producing the messages)")
)

// profileStart starts a CPU profile of what follows for -kafka-bench-cpuprofile,
// named after the benchmark and the run, and returns its stop.
func profileStart(b *testing.B, run int) func() {
	if *benchProfile == "" {
		return func() {}
	}
	name := strings.NewReplacer("/", "_", "=", "").Replace(b.Name()) + "." + strconv.Itoa(run) + ".prof"
	f, err := os.Create(filepath.Join(*benchProfile, name))
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// cpuTime is the CPU time the process has used so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// lineCounter counts the NDJSON documents written through it.
type lineCounter struct{ n atomic.Int64 }

func (c *lineCounter) Write(p []byte) (int, error) {
	c.n.Add(int64(bytes.Count(p, []byte{'\n'})))
	return len(p), nil
}

// benchApp is serve's pipeline with the default enrichment and the NDJSON
// sink (ECS documents) writing to a counter.
func benchApp(b *testing.B) (*app, *lineCounter) {
	b.Helper()
	cfg := config.Default()
	cfg.Sinks.DeadLetter.Path = os.DevNull
	if *benchQueueDepth > 0 {
		cfg.Pipeline.QueueDepth = *benchQueueDepth
	}
	out := &lineCounter{}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := newApp(context.Background(), cfg, log, out, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	return a, out
}

// BenchmarkKafkaSource measures records/s through decode, enrichment and
// ECS encoding into a discarding sink: from a file as `flowhose replay`
// reads it, and from the real broker through the Kafka source, with 1 and
// 100 lines per message (4 partitions, produced before the clock starts).
// cpu-ns/record is flowhose's own CPU time (the broker runs on the same
// machine and is not counted).
// Run it with -benchtime=1x (scripts/bench-kafka source).
func BenchmarkKafkaSource(b *testing.B) {
	n := *benchRecords
	b.Run("replay", func(b *testing.B) {
		path := filepath.Join(b.TempDir(), "flows.log")
		if err := os.WriteFile(path, []byte(kafkatest.Lines(0, n)), 0o600); err != nil {
			b.Fatal(err)
		}
		var cpu time.Duration
		for i := 0; b.Loop(); i++ {
			b.StopTimer() // start-up (enrichment data) is not the hot path
			a, out := benchApp(b)
			b.StartTimer()
			stopProfile := profileStart(b, i)
			before := cpuTime(b)
			opts, err := a.cfg.DecodeOptions("")
			if err != nil {
				b.Fatal(err)
			}
			r, err := file.New(a.cfg.Sources.File, opts, a.pipeline, a.log)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := r.Run(context.Background(), []string{path}); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			cpu += cpuTime(b) - before
			stopProfile()
			if err := a.close(context.Background()); err != nil {
				b.Fatal(err)
			}
			if got := out.n.Load(); got != int64(n) {
				b.Fatalf("%d documents, want %d", got, n)
			}
			b.StartTimer()
		}
		b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "records/s")
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*n), "cpu-ns/record")
	})
	for _, perMessage := range []int{1, 100} {
		b.Run("kafka/lines="+strconv.Itoa(perMessage), func(b *testing.B) {
			broker := kafkatest.Broker(b)
			const partitions = 4
			topic := kafkatest.NewTopic(b, broker, partitions)
			var msgs []kafka.Message
			for i := 0; i < n; i += perMessage {
				msgs = append(msgs, kafka.Message{Partition: len(msgs) % partitions, Value: []byte(kafkatest.Lines(i, min(perMessage, n-i)))})
			}
			kafkatest.Produce(b, broker, topic, msgs)
			b.ResetTimer()
			var cpu time.Duration
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				a, out := benchApp(b)
				budget, err := membudget.New(membudget.DefaultBudget, nil)
				if err != nil {
					b.Fatal(err)
				}
				opts, err := a.cfg.DecodeOptions("kafka")
				if err != nil {
					b.Fatal(err)
				}
				cfg := kafkasource.DefaultConfig()
				cfg.Brokers = []string{broker}
				cfg.Topics = []string{topic}
				cfg.GroupID = topic + "-" + strconv.Itoa(i) // a new group reads everything
				src, err := kafkasource.Open(context.Background(), cfg, source.Deps{Pipeline: a.pipeline, Budget: budget, Decode: opts, Logger: a.log})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				stopProfile := profileStart(b, i)
				before := cpuTime(b)
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				go func() { done <- src.Run(ctx) }()
				deadline := time.Now().Add(5 * time.Minute)
				for out.n.Load() < int64(n) {
					if time.Now().After(deadline) {
						b.Fatalf("%d of %d documents after 5 minutes", out.n.Load(), n)
					}
					time.Sleep(time.Millisecond)
				}
				b.StopTimer()
				cpu += cpuTime(b) - before
				stopProfile()
				cancel()
				if err := <-done; err != nil {
					b.Fatal(err)
				}
				if err := a.close(context.Background()); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*n), "cpu-ns/record")
		})
	}
}
