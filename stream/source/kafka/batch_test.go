package kafka

import (
	"reflect"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/decode"
	"github.com/flowhose/flowhose/stream/membudget"
	"github.com/flowhose/flowhose/stream/source/kafka/kafkatest"
)

// testPartition is a partition with what decoding and releasing batches
// use, and no broker or pipeline.
func testPartition(tb testing.TB, budget *membudget.Budget) *partition {
	tb.Helper()
	dec, err := decode.New(decode.Options{Source: "kafka"})
	if err != nil {
		tb.Fatal(err)
	}
	c := &consumer{cfg: DefaultConfig(), decOpts: decode.Options{Source: "kafka"}, budget: budget,
		limiter: &limiter{maxMsgs: 1 << 30, maxBytes: 1 << 40}}
	c.m = newMetrics(prometheus.NewRegistry(), c.limiter)
	return &partition{c: c, dec: dec, ref: "t/0/", messages: c.m.messages.WithLabelValues("t")}
}

// TestReleaseClearsTail: a released record array goes back to the pool
// with nothing past its length, so that it keeps alive no payload but
// those of the batch that used it last (the decoder overwrites those).
// Its tail holds a record the decoder filled and dropped (a line that
// failed after its first fields) and records of a larger earlier batch.
func TestReleaseClearsTail(t *testing.T) {
	p := testPartition(t, nil)
	recs := make([]stream.Record, 0, 64)
	for range cap(recs) {
		recs = append(recs, stream.Record{Raw: "earlier batch", AccountID: "123456789012"})
	}
	b := p.newBatch()
	b.out.Records = recs[:0]
	value := kafkatest.Lines(0, 3) + "2 123456789012 eni-1 10.0.0.1 10.0.0.2 99999 443 6 1 1 1 1 ACCEPT OK\n"
	if !p.decode(b, &kafka.Message{Offset: 1, Value: []byte(value)}) {
		t.Fatal("refused without a memory budget")
	}
	if len(b.out.Records) != 3 || len(b.out.Failures) != 1 {
		t.Fatalf("%d records, %d failures; want 3 and 1", len(b.out.Records), len(b.out.Failures))
	}
	b.release()
	for i, r := range recs[:cap(recs)] {
		if i < 3 {
			if r.Raw == "" {
				t.Fatalf("record %d of the batch cleared", i)
			}
			continue
		}
		if !reflect.DeepEqual(r, stream.Record{}) {
			t.Fatalf("record %d past the batch's length kept: %+v", i, r)
		}
	}
}

// BenchmarkBatch is the source's hot path without the broker: decode
// 100-line messages into a batch until it is full, then release it (its
// record array goes back to the pool for the next batch), with the
// memory budget on as in serve.
func BenchmarkBatch(b *testing.B) {
	budget, err := membudget.New(membudget.DefaultBudget, nil)
	if err != nil {
		b.Fatal(err)
	}
	p := testPartition(b, budget)
	const perMessage = 100
	msgs := make([]kafka.Message, p.c.cfg.BatchSize/perMessage)
	for i := range msgs {
		msgs[i] = kafka.Message{Offset: int64(i), Value: []byte(kafkatest.Lines(i*perMessage, perMessage))}
	}
	b.ReportAllocs()
	for b.Loop() {
		bt := p.newBatch()
		for i := range msgs {
			if !p.decode(bt, &msgs[i]) {
				b.Fatal("refused by the memory budget")
			}
		}
		bt.release()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(msgs)*perMessage), "ns/record")
}
