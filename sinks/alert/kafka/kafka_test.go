package kafka

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/flowhose/flowhose/sinks/alert"
	"github.com/flowhose/flowhose/sinks/alert/alerttest"
	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/detect"
	"github.com/flowhose/flowhose/stream/source/kafka/kafkatest"
)

func open(t *testing.T, broker, topic string) alert.Destination {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Brokers, cfg.Topic, cfg.MaxMessageBytes = []string{broker}, topic, 64<<10
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	d, err := Open(context.Background(), cfg, alert.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// readAll reads the topic's n messages from its one partition.
func readAll(t *testing.T, broker, topic string, n int) []kafkago.Message {
	t.Helper()
	r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: []string{broker}, Topic: topic, Partition: 0, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []kafkago.Message
	for len(out) < n {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read message %d of %d: %v", len(out)+1, n, err)
		}
		out = append(out, m)
	}
	return out
}

// TestAlertsToTopic: alerts arrive as JSON keyed by their id, with rule
// and severity headers; an alert too large with its samples arrives
// without them; one too large even so is dead-lettered.
func TestAlertsToTopic(t *testing.T) {
	broker := kafkatest.Broker(t)
	topic := kafkatest.NewTopic(t, broker, 1)
	d := open(t, broker, topic)

	a := alerttest.Sample()
	big := alerttest.Sample()
	big.ID = "00000000000000000000000000000001"
	for range 5000 { // 120 KB of sample ids, over max_message_bytes
		big.SampleIDs = append(big.SampleIDs, "CCCCCCCCCCCCCCCCCCCCCC")
	}
	huge := alerttest.Sample()
	huge.ID = "00000000000000000000000000000002"
	huge.Summary = strings.Repeat("x", 70<<10)

	dl := alerttest.Deliver(t, d, a, big, huge)
	if len(dl) != 1 || dl[0].Ref != huge.ID || dl[0].Source != "alert.kafka" || !strings.Contains(dl[0].Reason, "exceeds") {
		t.Fatalf("dead letters = %+v, want only the huge alert", dl)
	}
	msgs := readAll(t, broker, topic, 2)
	for i, want := range []*detect.Alert{a, big} {
		m := msgs[i]
		if string(m.Key) != want.ID {
			t.Errorf("message %d key = %q, want %q", i, m.Key, want.ID)
		}
		var got detect.Alert
		if err := json.Unmarshal(m.Value, &got); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if got.ID != want.ID || got.Rule != want.Rule || got.Count != want.Count || !got.WindowStart.Equal(want.WindowStart) ||
			got.NetworkACLEntry == nil || got.NetworkACLEntry.CIDRBlock != want.NetworkACLEntry.CIDRBlock {
			t.Errorf("message %d = %+v, want %+v", i, got, want)
		}
		headers := map[string]string{}
		for _, h := range m.Headers {
			headers[h.Key] = string(h.Value)
		}
		if headers["rule"] != want.Rule || headers["severity"] != want.Severity {
			t.Errorf("message %d headers = %v", i, headers)
		}
	}
	var first, second detect.Alert
	_ = json.Unmarshal(msgs[0].Value, &first)
	_ = json.Unmarshal(msgs[1].Value, &second)
	if len(first.SampleIDs) != 2 || second.SampleIDs != nil || second.Asset.Tags != nil {
		t.Errorf("samples: first %d (want 2), the large alert's %d and tags %v (want none)", len(first.SampleIDs), len(second.SampleIDs), second.Asset.Tags)
	}
}

// TestOpenRefusesMissingTopic: a topic that does not exist fails start-up
// and is not created.
func TestOpenRefusesMissingTopic(t *testing.T) {
	broker := kafkatest.Broker(t)
	cfg := DefaultConfig()
	cfg.Brokers, cfg.Topic = []string{broker}, "flowhose-no-such-alert-topic"
	if _, err := Open(context.Background(), cfg, alert.Deps{}); err == nil || !strings.Contains(err.Error(), cfg.Topic) {
		t.Fatalf("Open = %v, want an error naming the topic", err)
	}
}

// TestUnreachableBrokerRetried: while the brokers cannot be reached, a
// write fails retryably (the dispatcher retries it until max_elapsed).
func TestUnreachableBrokerRetried(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Brokers, cfg.RequestTimeout = []string{"127.0.0.1:1"}, time.Second
	tr, err := cfg.Transport()
	if err != nil {
		t.Fatal(err)
	}
	d := &destination{cfg: cfg, w: &kafkago.Writer{Addr: cfg.Addr(), Topic: cfg.Topic, BatchSize: 1, MaxAttempts: 1, Transport: tr}}
	defer d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = d.Send(ctx, alerttest.Sample())
	if err == nil || stream.IsPermanent(err) {
		t.Fatalf("Send = %v, want a retryable error", err)
	}
}

func TestValidate(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Brokers, cfg.Topic, cfg.RequestTimeout, cfg.MaxMessageBytes = nil, "a/b", 0, 10
	err := cfg.Validate()
	for _, key := range []string{"brokers:", "topic:", "request_timeout:", "max_message_bytes:"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("Validate = %v, want %s", err, key)
		}
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}
