package kafka

import (
	"syscall"
	"testing"
	"time"

	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/sinktest"
)

// BenchmarkSinkBroker writes ECS documents keyed by source.ip into a
// fresh 4-partition topic of the real broker (FLOWHOSE_TEST_KAFKA_BROKERS)
// in pipeline batches of 400, with the default batching, and reports
// messages/s until the last batch is acknowledged, and the CPU time the
// process (sink, encoding and kafka-go, not the broker) spent per message,
// which other load on the machine disturbs less. scripts/bench-kafka sink
// runs it.
func BenchmarkSinkBroker(b *testing.B) {
	brokers := testBrokers(b)
	recs := records(b, 4000)
	for _, compression := range []string{"none", "lz4", "zstd"} {
		b.Run(compression, func(b *testing.B) {
			topic := createTopic(b, brokers, 4, nil)
			cfg := DefaultConfig()
			cfg.Brokers, cfg.Topic, cfg.Compression = []string{brokers}, topic, compression
			s := openSink(b, cfg, &sinktest.DeadLetter{})
			// Warm the connections and metadata of every partition.
			if err := wait(b, accept(b, s, recs[:400]), time.Minute); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			cpu0 := cpuTime(b)
			b.ResetTimer()
			var acks []*stream.Ack
			for sent := 0; sent < b.N; {
				off := sent % len(recs)
				n := min(400, b.N-sent, len(recs)-off)
				acks = append(acks, accept(b, s, recs[off:off+n]))
				sent += n
			}
			for _, a := range acks {
				if err := wait(b, a, 5*time.Minute); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/msg")
		})
	}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
