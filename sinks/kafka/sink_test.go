package kafka

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/decode"
	"github.com/flowhose/flowhose/stream/ecs"
	"github.com/flowhose/flowhose/stream/kafkaconn"
	"github.com/flowhose/flowhose/stream/sinktest"
)

// records decodes n v2 lines with 40 distinct source addresses (two of
// them IPv6), varied ports and ENIs, and a NODATA line every 97th, which
// has no addresses and so no source.ip key.
func records(t testing.TB, n int) []stream.Record {
	t.Helper()
	var b strings.Builder
	for i := range n {
		switch {
		case i%97 == 96:
			fmt.Fprintf(&b, "2 123456789012 eni-%08x - - - - - - - 1700000000 1700000060 - NODATA\n", i)
		case i%40 == 7:
			fmt.Fprintf(&b, "2 123456789012 eni-%08x 2001:db8::%x 10.1.0.1 %d 443 6 10 840 1700000000 1700000060 ACCEPT OK\n", i%13, i%40, 1024+i)
		default:
			fmt.Fprintf(&b, "2 123456789012 eni-%08x 10.0.%d.%d 10.1.0.1 %d 443 6 10 840 1700000000 1700000060 ACCEPT OK\n", i%13, i%40, i%40+1, 1024+i)
		}
	}
	d, err := decode.New(decode.Options{Source: "test"})
	if err != nil {
		t.Fatal(err)
	}
	var out decode.Output
	d.Text(b.String(), &out)
	if len(out.Failures) > 0 || len(out.Records) != n {
		t.Fatalf("decoded %d records, failures %+v", len(out.Records), out.Failures)
	}
	return out.Records
}

// unreachable is a broker address where nothing listens.
func unreachable(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func testConfig(brokers, topic string) Config {
	cfg := DefaultConfig()
	cfg.Brokers = []string{brokers}
	cfg.Topic = topic
	cfg.RetryInitial = 20 * time.Millisecond
	cfg.RetryMax = 200 * time.Millisecond
	cfg.RequestTimeout = 5 * time.Second
	return cfg
}

func newTestSink(t *testing.T, cfg Config, dl stream.DeadLetterWriter) *Sink {
	t.Helper()
	s, err := New(cfg, dl, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Close(ctx)
	})
	return s
}

func accept(t testing.TB, s *Sink, recs []stream.Record) *stream.Ack {
	t.Helper()
	ack := stream.NewAck()
	ack.Add(1)
	if err := s.Accept(context.Background(), &stream.Batch{Records: recs, Ack: ack}); err != nil {
		t.Fatal(err)
	}
	ack.Done(nil)
	return ack
}

func wait(t testing.TB, ack *stream.Ack, d time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	err := ack.Wait(ctx)
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
		t.Fatal("batch not settled in time")
	}
	return err
}

func TestEncode(t *testing.T) {
	recs := records(t, 100)
	for _, format := range []string{FormatECS, FormatLine} {
		cfg := testConfig("127.0.0.1:9", "t")
		cfg.Format = format
		s := newTestSink(t, cfg, &sinktest.DeadLetter{})
		msgs := s.encode(recs)
		enc := ecs.Encoder{Dataset: cfg.Dataset, Namespace: cfg.Namespace}
		for i := range recs {
			r, m := &recs[i], msgs[i]
			want := r.Raw
			if format == FormatECS {
				want = string(enc.Append(nil, r))
			}
			if string(m.Value) != want {
				t.Fatalf("%s: message %d value %q, want %q", format, i, m.Value, want)
			}
			if len(m.Headers) != 1 || m.Headers[0].Key != IDHeader || string(m.Headers[0].Value) != string(ecs.AppendID(nil, r)) {
				t.Fatalf("%s: message %d headers %+v", format, i, m.Headers)
			}
			switch {
			case !r.Has(stream.FieldSrcAddr):
				if m.Key != nil {
					t.Fatalf("message %d without srcaddr has key %q, want none", i, m.Key)
				}
			case string(m.Key) != r.SrcAddr.String():
				t.Fatalf("message %d key %q, want %s", i, m.Key, r.SrcAddr)
			}
		}
	}
}

func TestKeyFields(t *testing.T) {
	recs := records(t, 8)
	r := &recs[1]
	iface := &stream.Interface{ID: "eni-inventory"}
	r.Enrichment.Interface = iface
	cid, _ := ecs.AppendCommunityID(nil, r)
	want := map[string]string{
		"source.ip":                r.SrcAddr.String(),
		"destination.ip":           "10.1.0.1",
		"source.port":              "1025",
		"destination.port":         "443",
		"network.community_id":     string(cid),
		"aws.vpcflow.interface_id": r.InterfaceID,
		"aws.vpcflow.account_id":   "123456789012",
		"flowhose.interface.id":    "eni-inventory",
	}
	for field, w := range want {
		got, ok := keyFields[field]([]byte("x"), r)
		if !ok || string(got) != "x"+w {
			t.Errorf("%s: key %q %v, want %q", field, got, ok, "x"+w)
		}
	}
	// v2 has no VPC or subnet; the NODATA-free record without inventory
	// has no flowhose.interface.id.
	for _, field := range []string{"aws.vpcflow.vpc_id", "aws.vpcflow.subnet_id", "flowhose.interface.id"} {
		if got, ok := keyFields[field](nil, &recs[2]); ok || len(got) != 0 {
			t.Errorf("%s of a record without it: %q %v", field, got, ok)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"default", func(*Config) {}, ""},
		{"no brokers", func(c *Config) { c.Brokers = nil }, "brokers: at least one"},
		{"bad broker", func(c *Config) { c.Brokers = []string{"localhost"} }, `brokers: must be host:port, got "localhost"`},
		{"bad port", func(c *Config) { c.Brokers = []string{"h:99999"} }, "brokers: must be host:port"},
		{"topic", func(c *Config) { c.Topic = "a/b" }, "topic: must be"},
		{"format", func(c *Config) { c.Format = "json" }, "format: must be"},
		{"key", func(c *Config) { c.Key = "source.address" }, "key: must be empty or one of"},
		{"no key", func(c *Config) { c.Key = "" }, ""},
		{"compression", func(c *Config) { c.Compression = "brotli" }, "compression: must be"},
		{"batch bytes", func(c *Config) { c.BatchBytes = 100 }, "batch_bytes: must be between"},
		{"batch messages", func(c *Config) { c.BatchMessages = 0 }, "batch_messages: must be between"},
		{"linger", func(c *Config) { c.Linger = 0 }, "linger: must be between 1ms"},
		{"in flight", func(c *Config) { c.InFlightBatches = 0 }, "in_flight_batches: must be between"},
		{"retry max", func(c *Config) { c.RetryMax = time.Millisecond }, "retry_max: must be at least"},
		{"tls off", func(c *Config) { c.TLS.CAFile = "ca.pem" }, "tls.enabled: must be true"},
		{"half a cert", func(c *Config) { c.TLS.Enabled, c.TLS.CertFile = true, "c.pem" }, "tls.key_file: required with tls.cert_file"},
		{"sasl mechanism", func(c *Config) { c.SASL.Mechanism = "gssapi" }, "sasl.mechanism: must be"},
		{"sasl no password", func(c *Config) { c.SASL = kafkaconn.SASL{Mechanism: "scram-sha-512", Username: "u"} }, "sasl.password: required with mechanism \"scram-sha-512\""},
		{"sasl no mechanism", func(c *Config) { c.SASL.Password = "p" }, "sasl.mechanism: must be set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.edit(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// A message over batch_bytes is dead-lettered without being sent (the
// broker is unreachable here), and the batch succeeds once that is durable.
func TestOversizedMessageDeadLetteredUnsent(t *testing.T) {
	dl := &sinktest.DeadLetter{}
	cfg := testConfig(unreachable(t), "t")
	cfg.Format = FormatLine
	cfg.BatchBytes = 1024
	s := newTestSink(t, cfg, dl)
	recs := records(t, 1)
	recs[0].Raw += strings.Repeat(" ", 2000)
	if err := wait(t, accept(t, s, recs), 5*time.Second); err != nil {
		t.Fatalf("batch failed: %v", err)
	}
	fs := dl.Failures()
	if len(fs) != 1 || fs[0].Input != recs[0].Raw || fs[0].Source != "kafka" || !strings.Contains(fs[0].Reason, "exceeds batch_bytes") {
		t.Fatalf("dead letters %+v", fs)
	}

	// A dead-letter write that fails fails the batch.
	dl.SetErr(errors.New("disk full"))
	if err := wait(t, accept(t, s, recs), 5*time.Second); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("batch error %v, want the dead-letter failure", err)
	}
}

// Brokers that cannot be reached: messages are retried until retry_for,
// then the batch fails with a retryable error, for the source to redeliver.
func TestUnreachableBrokersFailRetryable(t *testing.T) {
	cfg := testConfig(unreachable(t), "t")
	cfg.RetryFor = 500 * time.Millisecond
	s := newTestSink(t, cfg, &sinktest.DeadLetter{})
	start := time.Now()
	err := wait(t, accept(t, s, records(t, 10)), 10*time.Second)
	if err == nil || stream.IsPermanent(err) || !strings.Contains(err.Error(), "10 messages not written") {
		t.Fatalf("batch error %v, want a retryable failure of 10 messages", err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("gave up after %s, before retry_for", d)
	}
}

// Accept blocks while in_flight_batches are being written; Close that runs
// out of time fails them (retryably) and returns.
func TestBackPressureAndCloseGivingUp(t *testing.T) {
	cfg := testConfig(unreachable(t), "t")
	cfg.InFlightBatches = 1
	cfg.RetryFor = 0 // until Close gives up
	s, err := New(cfg, &sinktest.DeadLetter{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	first := accept(t, s, records(t, 2))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := s.Accept(ctx, &stream.Batch{Records: records(t, 2), Ack: stream.NewAck()}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Accept on a full sink: %v, want it to block until its context ends", err)
	}
	closeCtx, cancelClose := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancelClose()
	if err := s.Close(closeCtx); err == nil {
		t.Fatal("Close reported success while a batch was undelivered")
	}
	if err := wait(t, first, time.Second); err == nil || stream.IsPermanent(err) {
		t.Fatalf("undelivered batch settled with %v, want a retryable error", err)
	}
	if err := s.Accept(context.Background(), &stream.Batch{Records: records(t, 1), Ack: stream.NewAck()}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
}

func TestErrorKinds(t *testing.T) {
	for err, want := range map[error]string{
		kafkago.MessageSizeTooLarge:                          "message_too_large",
		fmt.Errorf("x: %w", kafkago.RecordListTooLarge):      "message_too_large",
		kafkago.InvalidRecord:                                "invalid_record",
		kafkago.NotLeaderForPartition:                        "leader",
		kafkago.NotEnoughReplicas:                            "replicas",
		kafkago.RequestTimedOut:                              "timeout",
		context.DeadlineExceeded:                             "timeout",
		kafkago.UnknownTopicOrPartition:                      "unknown_topic",
		kafkago.TopicAuthorizationFailed:                     "auth",
		kafkago.OffsetOutOfRange:                             "broker",
		&net.OpError{Op: "dial", Err: errors.New("refused")}: "network",
	} {
		if got := errorKind(err); got != want {
			t.Errorf("errorKind(%v) = %q, want %q", err, got, want)
		}
	}
	if !isRefused(fmt.Errorf("w: %w", kafkago.MessageSizeTooLarge)) || isRefused(kafkago.NotLeaderForPartition) {
		t.Error("isRefused misjudges")
	}
}

// size must bound kafka-go's own count from above, or kafka-go would
// refuse a whole write for a message the sink let through: a batch_bytes
// equal to size is accepted by kafka-go's check (it fails here only on
// the unreachable broker, not with MessageTooLargeError).
func TestSizeBoundsKafkaGo(t *testing.T) {
	recs := records(t, 1)
	cfg := testConfig(unreachable(t), "t")
	cfg.RetryFor = time.Millisecond
	s := newTestSink(t, cfg, &sinktest.DeadLetter{})
	m := s.encode(recs)[0]
	w := &kafkago.Writer{Addr: kafkago.TCP(cfg.Brokers...), Topic: "t", BatchBytes: size(&m), MaxAttempts: 1}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var tooLarge kafkago.MessageTooLargeError
	if err := w.WriteMessages(ctx, m); errors.As(err, &tooLarge) {
		t.Fatalf("kafka-go counts more than size (%d): %v", size(&m), err)
	}
}

func TestEmptyBatchSettledAtOnce(t *testing.T) {
	s := newTestSink(t, testConfig(unreachable(t), "t"), &sinktest.DeadLetter{})
	if err := wait(t, accept(t, s, nil), time.Second); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// TestEncodeBufferSizedByItsBatch encodes a batch of one long record,
// then a batch of many short ones: the second buffer is sized for its own
// records. It was sized as the previous batch's bytes per record times
// its record count, so one long line made the next large batch allocate
// about a thousand times what it needed (70 MB here for 300 KB).
func TestEncodeBufferSizedByItsBatch(t *testing.T) {
	cfg := testConfig("127.0.0.1:9", "t")
	cfg.Format = FormatLine
	s := newTestSink(t, cfg, &sinktest.DeadLetter{})
	long := records(t, 1)
	long[0].Raw = strings.Repeat("x", 60<<10)
	s.encode(long)
	recs := records(t, 1000)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	msgs := s.encode(recs)
	runtime.ReadMemStats(&after)
	need := 0
	for _, m := range msgs {
		need += len(m.Key) + len(m.Value) + len(m.Headers[0].Value)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 8<<20 {
		t.Fatalf("encoding %d records of %d bytes in all allocated %d bytes", len(recs), need, got)
	}
}
