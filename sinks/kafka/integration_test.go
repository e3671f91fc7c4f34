package kafka

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/flowhose/flowhose/internal/servicetest"
	"github.com/flowhose/flowhose/sinks"
	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/decode"
	"github.com/flowhose/flowhose/stream/ecs"
	"github.com/flowhose/flowhose/stream/kafkaconn"
	"github.com/flowhose/flowhose/stream/sinktest"
	"github.com/flowhose/flowhose/stream/source/kafka/kafkatest"
)

// Integration tests run against the real broker of scripts/services
// (FLOWHOSE_TEST_KAFKA_BROKERS, written to .services/env by
// scripts/services start), skipping when unset unless
// FLOWHOSE_REQUIRE_SERVICES demands it.
func testBrokers(t testing.TB) string {
	t.Helper()
	return servicetest.Env(t, "FLOWHOSE_TEST_KAFKA_BROKERS")
}

var unsafeTopic = regexp.MustCompile(`[^a-zA-Z0-9._-]+`)

// createTopic makes a fresh topic with the given partitions and topic
// configuration, waits until every partition has a leader, and deletes
// it when the test ends.
func createTopic(t testing.TB, brokers string, partitions int, configs map[string]string) string {
	t.Helper()
	name := fmt.Sprintf("flowhose-sink-%s-%d", unsafeTopic.ReplaceAllString(t.Name(), "-"), time.Now().UnixNano())
	c := &kafkago.Client{Addr: kafkago.TCP(brokers), Timeout: 20 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tc := kafkago.TopicConfig{Topic: name, NumPartitions: partitions, ReplicationFactor: 1}
	for k, v := range configs {
		tc.ConfigEntries = append(tc.ConfigEntries, kafkago.ConfigEntry{ConfigName: k, ConfigValue: v})
	}
	res, err := c.CreateTopics(ctx, &kafkago.CreateTopicsRequest{Topics: []kafkago.TopicConfig{tc}})
	if err == nil {
		err = res.Errors[name]
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		c.DeleteTopics(ctx, &kafkago.DeleteTopicsRequest{Topics: []string{name}})
	})
	for ctx.Err() == nil {
		md, err := c.Metadata(ctx, &kafkago.MetadataRequest{Topics: []string{name}})
		if err == nil && len(md.Topics) == 1 && md.Topics[0].Error == nil && len(md.Topics[0].Partitions) == partitions && leaders(md.Topics[0]) {
			return name
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("topic %s has no leaders", name)
	return ""
}

func leaders(t kafkago.Topic) bool {
	for _, p := range t.Partitions {
		if p.Error != nil || p.Leader.Host == "" {
			return false
		}
	}
	return true
}

// readAll reads every message of every partition of topic, up to the end
// offsets at the time of the call.
func readAll(t testing.TB, brokers, topic string, partitions int) []kafkago.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := &kafkago.Client{Addr: kafkago.TCP(brokers), Timeout: 20 * time.Second}
	var reqs []kafkago.OffsetRequest
	for p := range partitions {
		reqs = append(reqs, kafkago.LastOffsetOf(p))
	}
	// Right after a broker restart the answer may still be an error.
	var offsets []kafkago.PartitionOffsets
	for offsets == nil {
		res, err := c.ListOffsets(ctx, &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{topic: reqs}})
		if err == nil && len(res.Topics[topic]) == partitions {
			offsets = res.Topics[topic]
			for _, po := range offsets {
				if po.Error != nil {
					err, offsets = po.Error, nil
				}
			}
		}
		if offsets == nil {
			if ctx.Err() != nil {
				t.Fatalf("list offsets of %s: %v", topic, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	var out []kafkago.Message
	for _, po := range offsets {
		for off := int64(0); off < po.LastOffset; {
			f, err := c.Fetch(ctx, &kafkago.FetchRequest{
				Topic: topic, Partition: po.Partition, Offset: off,
				MinBytes: 1, MaxBytes: 32 << 20, MaxWait: time.Second,
			})
			if err == nil {
				err = f.Error
			}
			if err != nil {
				t.Fatalf("fetch partition %d at %d: %v", po.Partition, off, err)
			}
			for {
				r, err := f.Records.ReadRecord()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("read partition %d: %v", po.Partition, err)
				}
				m := kafkago.Message{Topic: topic, Partition: po.Partition, Offset: r.Offset, Headers: r.Headers}
				if r.Key != nil {
					m.Key, _ = io.ReadAll(r.Key)
				}
				m.Value, _ = io.ReadAll(r.Value)
				// A fetch may start before the offset asked for.
				if r.Offset >= off {
					out = append(out, m)
					off = r.Offset + 1
				}
			}
		}
	}
	return out
}

func header(m kafkago.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// openSink opens the sink through its factory, as flowhose does. A
// benchmark's sink does not log: its retry warnings would break the
// result lines.
func openSink(t testing.TB, cfg Config, dl stream.DeadLetterWriter) *Sink {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	deps := sinks.Deps{DeadLetter: dl}
	if _, ok := t.(*testing.B); ok {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	s, err := Open(ctx, cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s.Close(ctx)
	})
	return s.(*Sink)
}

// N records become exactly N messages with the document, the key and the
// id the sink computes, every key in one partition; every codec.
func TestIntegrationDelivery(t *testing.T) {
	brokers := testBrokers(t)
	for _, tc := range []struct {
		compression, format string
		n                   int
	}{
		{"zstd", FormatECS, 3000},
		{"none", FormatLine, 300},
		{"gzip", FormatECS, 300},
		{"snappy", FormatLine, 300},
		{"lz4", FormatECS, 300},
	} {
		t.Run(tc.compression, func(t *testing.T) {
			const partitions = 4
			topic := createTopic(t, brokers, partitions, nil)
			cfg := testConfig(brokers, topic)
			cfg.Compression, cfg.Format = tc.compression, tc.format
			s := openSink(t, cfg, &sinktest.DeadLetter{})
			recs := records(t, tc.n)
			var acks []*stream.Ack
			for i := 0; i < len(recs); i += 100 {
				acks = append(acks, accept(t, s, recs[i:min(i+100, len(recs))]))
			}
			for _, a := range acks {
				if err := wait(t, a, 60*time.Second); err != nil {
					t.Fatalf("batch failed: %v", err)
				}
			}
			want := map[string]kafkago.Message{}
			for i, m := range s.encode(recs) {
				want[string(ecs.AppendID(nil, &recs[i]))] = m
			}
			got := readAll(t, brokers, topic, partitions)
			if len(got) != tc.n {
				t.Fatalf("%d messages in the topic, want %d", len(got), tc.n)
			}
			partitionOf := map[string]int{}
			for _, m := range got {
				id := header(m, IDHeader)
				w, ok := want[id]
				if !ok {
					t.Fatalf("message with unknown or repeated id %q", id)
				}
				delete(want, id)
				if string(m.Value) != string(w.Value) || string(m.Key) != string(w.Key) {
					t.Fatalf("message %s: key %q value %q, want key %q value %q", id, m.Key, m.Value, w.Key, w.Value)
				}
				if len(m.Key) == 0 {
					continue
				}
				if p, seen := partitionOf[string(m.Key)]; seen && p != m.Partition {
					t.Fatalf("key %s in partitions %d and %d", m.Key, p, m.Partition)
				}
				partitionOf[string(m.Key)] = m.Partition
			}
			if len(partitionOf) != 40 {
				t.Fatalf("%d distinct keys, want 40", len(partitionOf))
			}
		})
	}
}

// The sink delivers through the broker's listener that requires a client
// certificate, and refuses to open with a wrong SCRAM password, naming the
// authentication failure.
func TestIntegrationSecured(t *testing.T) {
	brokers, sec := testBrokers(t), kafkatest.SecuredBroker(t)
	topic := createTopic(t, brokers, 2, nil)
	cfg := testConfig(sec.MTLS, topic)
	cfg.TLS = kafkaconn.TLS{Enabled: true, CAFile: sec.CA, CertFile: sec.Cert, KeyFile: sec.Key}
	s := openSink(t, cfg, &sinktest.DeadLetter{})
	if err := wait(t, accept(t, s, records(t, 100)), 60*time.Second); err != nil {
		t.Fatalf("batch failed: %v", err)
	}
	if got := len(readAll(t, brokers, topic, 2)); got != 100 {
		t.Fatalf("%d messages in the topic, want 100", got)
	}

	cfg = testConfig(sec.SASL, topic)
	cfg.SASL = kafkaconn.SASL{Mechanism: kafkaconn.SASLSCRAMSHA256, Username: sec.Username, Password: "wrong"}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if s, err := Open(ctx, cfg, sinks.Deps{DeadLetter: &sinktest.DeadLetter{}}); !errors.Is(err, kafkago.SASLAuthenticationFailed) {
		if err == nil {
			s.Close(ctx)
		}
		t.Fatalf("open with a wrong password: %v, want %v", err, kafkago.SASLAuthenticationFailed)
	}
}

// Keys land where the Java client's partitioner puts them: murmur2 of
// the key, made positive, modulo the partition count. The hashes are
// published Java vectors (murmur2("4") = 0x5a4b5ca1, …).
func TestIntegrationPartitionsAgreeWithJava(t *testing.T) {
	brokers := testBrokers(t)
	topic := createTopic(t, brokers, 4, nil)
	cfg := testConfig(brokers, topic)
	cfg.Key = "aws.vpcflow.interface_id"
	s := openSink(t, cfg, &sinktest.DeadLetter{})
	want := map[string]int{ // key → (hash & 0x7fffffff) % 4
		"kafka":                               0x5067cf64 % 4,
		"4":                                   0x5a4b5ca1 % 4,
		"34":                                  0x073930da % 4,
		"AmbleWillBeRemoved,ThePrePartThatIs": 0x62b8b43f % 4,
	}
	var lines strings.Builder
	for k := range want {
		fmt.Fprintf(&lines, "2 123456789012 %s 10.0.0.1 10.0.0.2 1 2 6 1 40 1700000000 1700000060 ACCEPT OK\n", k)
	}
	d, err := decode.New(decode.Options{Source: "test"})
	if err != nil {
		t.Fatal(err)
	}
	var out decode.Output
	d.Text(lines.String(), &out)
	if err := wait(t, accept(t, s, out.Records), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, brokers, topic, 4)
	if len(got) != len(want) {
		t.Fatalf("%d messages, want %d", len(got), len(want))
	}
	for _, m := range got {
		if p := want[string(m.Key)]; m.Partition != p {
			t.Errorf("key %q in partition %d, Java's is %d", m.Key, m.Partition, p)
		}
	}
}

// A message the broker refuses for its size is dead-lettered, and so is
// one over batch_bytes (never sent); their neighbours, refused with the
// large one's batch, are delivered.
func TestIntegrationTooLargeDeadLettered(t *testing.T) {
	brokers := testBrokers(t)
	topic := createTopic(t, brokers, 1, map[string]string{"max.message.bytes": "16384"})
	cfg := testConfig(brokers, topic)
	cfg.Format, cfg.Compression, cfg.Key = FormatLine, "none", ""
	cfg.BatchBytes = 256 << 10
	dl := &sinktest.DeadLetter{}
	s := openSink(t, cfg, dl)
	recs := records(t, 30)
	recs[10].Raw += " " + randomHex(t, 40_000)  // over the topic's limit
	recs[20].Raw += " " + randomHex(t, 300_000) // over batch_bytes
	if err := wait(t, accept(t, s, recs), 60*time.Second); err != nil {
		t.Fatalf("batch failed: %v", err)
	}
	got := readAll(t, brokers, topic, 1)
	if len(got) != 28 {
		t.Fatalf("%d messages delivered, want 28", len(got))
	}
	delivered := map[string]bool{}
	for _, m := range got {
		delivered[string(m.Value)] = true
	}
	for i := range recs {
		if delivered[recs[i].Raw] == (i == 10 || i == 20) {
			t.Errorf("record %d delivered: %v", i, delivered[recs[i].Raw])
		}
	}
	fs := dl.Failures()
	if len(fs) != 2 {
		t.Fatalf("%d dead letters, want 2: %+v", len(fs), fs)
	}
	reasons := map[string]string{}
	for _, f := range fs {
		reasons[f.Input] = f.Reason
	}
	if r := reasons[recs[10].Raw]; !strings.Contains(r, "Message Size Too Large") {
		t.Errorf("broker-refused message reason %q", r)
	}
	if r := reasons[recs[20].Raw]; !strings.Contains(r, "exceeds batch_bytes") {
		t.Errorf("oversized message reason %q", r)
	}
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n/2)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// Open refuses a topic that does not exist, without creating it (the
// test broker auto-creates topics for producers that ask).
func TestIntegrationOpenUnknownTopic(t *testing.T) {
	brokers := testBrokers(t)
	cfg := testConfig(brokers, fmt.Sprintf("flowhose-sink-missing-%d", time.Now().UnixNano()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := Open(ctx, cfg, sinks.Deps{DeadLetter: &sinktest.DeadLetter{}}); err == nil || !strings.Contains(err.Error(), "Unknown Topic") {
		t.Fatalf("Open: %v, want an unknown topic error", err)
	}
}

// brokerPID is the pid file of the broker scripts/services started
// (FLOWHOSE_TEST_KAFKA_PIDFILE); tests that disrupt it skip without one,
// or when FLOWHOSE_TEST_KAFKA_NO_RESTART=1 spares a broker others use.
func brokerPID(t *testing.T) string {
	t.Helper()
	pidfile := os.Getenv("FLOWHOSE_TEST_KAFKA_PIDFILE")
	if pidfile == "" {
		t.Skip("FLOWHOSE_TEST_KAFKA_PIDFILE unset: the broker was not started by scripts/services")
	}
	if os.Getenv("FLOWHOSE_TEST_KAFKA_NO_RESTART") != "" {
		t.Skip("FLOWHOSE_TEST_KAFKA_NO_RESTART is set")
	}
	servicetest.Disrupt(t, "FLOWHOSE_TEST_KAFKA_BROKERS")
	return pidfile
}

// The broker is stopped and started again (scripts/services restart
// kafka, same ports and data) while batches arrive: connections are
// refused meanwhile.
func TestIntegrationBrokerRestart(t *testing.T) {
	pidfile := brokerPID(t)
	// The services script of the checkout whose broker runs:
	// <root>/.services/kafka.pid.
	script := filepath.Join(filepath.Dir(filepath.Dir(pidfile)), "scripts", "services")
	writeThrough(t, 4*time.Second, func() error {
		out, err := exec.Command(script, "restart", "kafka").CombinedOutput()
		if err != nil {
			return fmt.Errorf("%w: %s", err, out)
		}
		return nil
	})
}

// The broker is frozen (SIGSTOP) for longer than request_timeout while
// batches arrive: produce requests time out without an answer, which may
// or may not have been appended, and are sent again once it runs.
func TestIntegrationBrokerFrozen(t *testing.T) {
	raw, err := os.ReadFile(brokerPID(t))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	writeThrough(t, time.Second, func() error {
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			return err
		}
		time.Sleep(4 * time.Second)
		return syscall.Kill(pid, syscall.SIGCONT)
	})
}

// writeThrough writes 6,000 records in batches of 50 while disrupt runs
// against the broker, with the given request timeout, and checks that
// every batch is acknowledged only with all of its messages in the topic
// and that writing recovers without intervention. Duplicates from requests
// whose answer was lost are allowed (at-least-once) and logged.
func writeThrough(t *testing.T, requestTimeout time.Duration, disrupt func() error) {
	brokers := testBrokers(t)
	const partitions = 4
	topic := createTopic(t, brokers, partitions, nil)
	cfg := testConfig(brokers, topic)
	cfg.RetryFor = 3 * time.Minute
	cfg.RetryMax = time.Second
	cfg.RequestTimeout = requestTimeout
	cfg.InFlightBatches = 4
	s := openSink(t, cfg, &sinktest.DeadLetter{})
	recs := records(t, 6000)

	done := make(chan error, 1)
	go func() {
		time.Sleep(500 * time.Millisecond)
		done <- disrupt()
	}()
	type sent struct {
		recs []stream.Record
		ack  *stream.Ack
	}
	var batches []sent
	disrupted := false
	for i := 0; i < len(recs); i += 50 {
		b := recs[i:min(i+50, len(recs))]
		batches = append(batches, sent{b, accept(t, s, b)})
		if disrupted {
			continue
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("disruption: %v", err)
			}
			disrupted = true
		case <-time.After(30 * time.Millisecond):
		}
	}
	if !disrupted {
		if err := <-done; err != nil {
			t.Fatalf("disruption: %v", err)
		}
	}
	var failed int
	for _, b := range batches {
		if err := wait(t, b.ack, 4*time.Minute); err != nil {
			failed++
			t.Errorf("batch failed across the disruption: %v", err)
		}
	}
	got := readAll(t, brokers, topic, partitions)
	ids := map[string]int{}
	for _, m := range got {
		ids[header(m, IDHeader)]++
	}
	var missing, dups int
	for _, b := range batches {
		for i := range b.recs {
			switch n := ids[string(ecs.AppendID(nil, &b.recs[i]))]; {
			case n == 0:
				missing++
			case n > 1:
				dups += n - 1
			}
		}
	}
	t.Logf("%d messages for %d records (%d duplicates from retries), %d batches failed", len(got), len(recs), dups, failed)
	if missing > 0 {
		t.Fatalf("%d acknowledged records are not in the topic", missing)
	}
}

// brokerPools counts kafka-go connection pools alive: each keeps
// connections to the brokers and refreshes their metadata until its
// transport closes it.
func brokerPools() int {
	buf := make([]byte, 1<<22)
	return strings.Count(string(buf[:runtime.Stack(buf, true)]), "kafka-go.(*connPool).discover")
}

// TestIntegrationCloseReleasesConnections writes through a sink and
// closes it: its connections to the brokers are closed too. The sink's
// own transport was never closed, so every sink opened and closed left a
// pool connected to the brokers, refreshing metadata for ever.
func TestIntegrationCloseReleasesConnections(t *testing.T) {
	brokers := testBrokers(t)
	topic := createTopic(t, brokers, 2, nil)
	before := brokerPools()
	s, err := Open(context.Background(), testConfig(brokers, topic), sinks.Deps{DeadLetter: &sinktest.DeadLetter{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := wait(t, accept(t, s.(*Sink), records(t, 100)), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if brokerPools() == before {
		t.Fatal("no connection pool while writing: the test cannot see a leak")
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for brokerPools() > before && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := brokerPools(); n > before {
		t.Fatalf("%d connection pools alive after Close, %d before Open", n, before)
	}
}
