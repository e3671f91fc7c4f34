package kafka

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/flowhose/flowhose/stream/decode"
	"github.com/flowhose/flowhose/stream/source/kafka/kafkatest"
)

// FuzzMessage decodes arbitrary message values into a batch: it never
// panics, every message is counted, and a message yields records or at
// least one failure referring to its offset.
func FuzzMessage(f *testing.F) {
	f.Add([]byte(kafkatest.Lines(0, 3)))
	f.Add(gz(f, kafkatest.Lines(0, 2)))
	f.Add([]byte(`{"message":"` + kafkatest.Line(1) + `"}`))
	f.Add([]byte{0x1f, 0x8b, 0x08})
	f.Add([]byte{})
	f.Add([]byte("\xff\xfe"))
	dec, err := decode.New(decode.Options{Source: "kafka"})
	if err != nil {
		f.Fatal(err)
	}
	c := &consumer{cfg: DefaultConfig(), decOpts: decode.Options{Source: "kafka"}, m: newMetrics(prometheus.NewRegistry(), &limiter{})}
	p := &partition{c: c, dec: dec, ref: "t/0/", messages: c.m.messages.WithLabelValues("t")}
	f.Fuzz(func(t *testing.T, value []byte) {
		b := p.newBatch()
		if !p.decode(b, &kafka.Message{Offset: 7, Value: value}) {
			t.Fatal("refused without a memory budget")
		}
		if b.msgs != 1 || b.end != 8 {
			t.Fatalf("batch counts %d messages ending at %d", b.msgs, b.end)
		}
		if len(b.out.Records) == 0 && len(b.out.Failures) == 0 && b.out.Skipped == 0 {
			t.Fatal("a message with neither records nor failures")
		}
		for _, fl := range b.out.Failures {
			if fl.Ref != "t/0/7" || !strings.HasPrefix(fl.Source, "kafka") {
				t.Fatalf("failure %+v", fl)
			}
		}
	})
}
