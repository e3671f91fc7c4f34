package kafka

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"

	"github.com/flowhose/flowhose/internal/servicetest"
	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/decode/decodetest"
	"github.com/flowhose/flowhose/stream/kafkaconn"
	"github.com/flowhose/flowhose/stream/sinktest"
	"github.com/flowhose/flowhose/stream/source"
	"github.com/flowhose/flowhose/stream/source/kafka/kafkatest"
)

func gz(t testing.TB, s string) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// envelopeMessages builds messages holding records from..from+n-1 in
// every envelope the decoders accept, round-robin over partitions.
func envelopeMessages(t testing.TB, from, n, partitions int) []kafka.Message {
	var msgs []kafka.Message
	kind := 0
	for i := from; i < from+n; kind++ {
		var v []byte
		k := min(1+kind%7, from+n-i)
		switch kind % 6 {
		case 0: // one line
			k = 1
			v = []byte(kafkatest.Line(i))
		case 1: // many lines
			v = []byte(kafkatest.Lines(i, k))
		case 2: // gzip
			v = gz(t, kafkatest.Lines(i, k))
		case 3: // {"message":…} wrappers
			var b strings.Builder
			for j := range k {
				fmt.Fprintf(&b, "{\"message\":%q}\n", kafkatest.Line(i+j))
			}
			v = []byte(b.String())
		case 4: // CloudWatch Logs subscription document, gzip
			doc := decodetest.CloudWatchDocument{MessageType: "DATA_MESSAGE", Owner: "123456789012", LogGroup: "flows", LogStream: "eni-0a1b2c3d4e5f60718-all"}
			for j := range k {
				doc.LogEvents = append(doc.LogEvents, decodetest.CloudWatchEvent{ID: strconv.Itoa(i + j), Timestamp: 1700000000000, Message: kafkatest.Line(i + j)})
			}
			b, err := json.Marshal(doc)
			if err != nil {
				t.Fatal(err)
			}
			v = gz(t, string(b))
		case 5: // a wrapper with whitespace, decoded by encoding/json
			var b strings.Builder
			for j := range k {
				fmt.Fprintf(&b, "{ \"message\" : %q }\n", kafkatest.Line(i+j))
			}
			v = []byte(b.String())
		}
		msgs = append(msgs, kafka.Message{Partition: len(msgs) % partitions, Value: v})
		i += k
	}
	return msgs
}

// harness runs the source into a pipeline with recording doubles.
type harness struct {
	c        *consumer
	pipeline *stream.Pipeline
	dl       *sinktest.DeadLetter
	cancel   context.CancelFunc
	done     chan error
}

func testConfig(broker, topic string) Config {
	cfg := DefaultConfig()
	cfg.Brokers = []string{broker}
	cfg.Topics = []string{topic}
	cfg.GroupID = "g-" + topic
	cfg.CommitInterval = 100 * time.Millisecond
	cfg.RetryBackoff = 20 * time.Millisecond
	cfg.MaxRetryBackoff = 200 * time.Millisecond
	cfg.SessionTimeout = 10 * time.Second
	cfg.HeartbeatInterval = time.Second
	cfg.RebalanceTimeout = 10 * time.Second
	cfg.DrainTimeout = 5 * time.Second
	return cfg
}

// testConfigDrain is testConfig in batches of 10 records with drain_timeout
// d.
func testConfigDrain(broker, topic string, d time.Duration) Config {
	cfg := testConfig(broker, topic)
	cfg.BatchSize = 10
	cfg.DrainTimeout = d
	return cfg
}

func startSource(t *testing.T, cfg Config, sinks ...stream.Sink) *harness {
	t.Helper()
	h := &harness{dl: &sinktest.DeadLetter{}, done: make(chan error, 1)}
	p, err := stream.New(stream.Options{Workers: 4, QueueDepth: 16, Sinks: sinks, DeadLetter: h.dl})
	if err != nil {
		t.Fatal(err)
	}
	h.pipeline = p
	c, err := newConsumer(cfg, source.Deps{Pipeline: p, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	h.c = c
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- c.run(ctx) }()
	t.Cleanup(func() { h.stop(t) })
	return h
}

// stop ends the source as serve does, then closes the pipeline.
func (h *harness) stop(t *testing.T) {
	t.Helper()
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("run did not return within 30s of cancellation")
	}
	if err := h.pipeline.Close(context.Background()); err != nil {
		t.Errorf("close pipeline: %v", err)
	}
}

// produceLines produces records from to from+n-1, one per message,
// record i to partition i%partitions.
func produceLines(t *testing.T, broker, topic string, partitions, from, n int) {
	t.Helper()
	var msgs []kafka.Message
	for i := from; i < from+n; i++ {
		msgs = append(msgs, kafka.Message{Partition: i % partitions, Value: []byte(kafkatest.Line(i))})
	}
	kafkatest.Produce(t, broker, topic, msgs)
}

// recordIDs counts the records a sink received by their bytes field.
func recordIDs(recs []stream.Record) map[uint64]int {
	ids := map[uint64]int{}
	for _, r := range recs {
		ids[r.Bytes]++
	}
	return ids
}

// waitCommitted waits until the group has committed every partition's end
// offset.
func waitCommitted(t *testing.T, broker, group, topic string, partitions int) {
	t.Helper()
	servicetest.Eventually(t, 30*time.Second, "committed offsets never reached the end offsets", func() bool {
		return kafkatest.AllCommitted(broker, group, topic, partitions)
	})
}

func TestDeliversEveryEnvelopeExactlyOnce(t *testing.T) {
	broker := kafkatest.Broker(t)
	const n, partitions = 3000, 4
	topic := kafkatest.NewTopic(t, broker, partitions)
	kafkatest.Produce(t, broker, topic, envelopeMessages(t, 0, n, partitions))
	sink := sinktest.NewSink("rec")
	cfg := testConfig(broker, topic)
	cfg.BatchSize = 100
	h := startSource(t, cfg, sink)
	servicetest.Eventually(t, 60*time.Second, "not every record arrived", func() bool { return len(recordIDs(sink.Records())) == n })
	waitCommitted(t, broker, cfg.GroupID, topic, partitions)
	h.stop(t)
	recs := sink.Records()
	ids := recordIDs(recs)
	if len(recs) != n || len(ids) != n {
		t.Fatalf("sink got %d records, %d distinct; want %d each", len(recs), len(ids), n)
	}
	for i := range n {
		if ids[uint64(i)] != 1 {
			t.Fatalf("record %d received %d times", i, ids[uint64(i)])
		}
	}
	if fs := h.dl.Failures(); len(fs) != 0 {
		t.Fatalf("dead letters: %+v", fs[0])
	}
	var withOrigin int
	for _, r := range recs {
		if r.Origin.LogGroup == "flows" {
			withOrigin++
		}
	}
	if withOrigin == 0 {
		t.Error("no record carries the CloudWatch Logs origin")
	}
}

// TestSecuredListener consumes through the broker's SASL_SSL listener
// with SCRAM-SHA-512 (how MSK's SCRAM clusters are reached): the group's
// coordinator, fetches and commits all go through the secured connections
// kafkaconn builds.
func TestSecuredListener(t *testing.T) {
	broker, sec := kafkatest.Broker(t), kafkatest.SecuredBroker(t)
	const n, partitions = 200, 2
	topic := kafkatest.NewTopic(t, broker, partitions)
	produceLines(t, broker, topic, partitions, 0, n)
	sink := sinktest.NewSink("rec")
	cfg := testConfig(sec.SASLSSL, topic)
	cfg.TLS = kafkaconn.TLS{Enabled: true, CAFile: sec.CA}
	cfg.SASL = kafkaconn.SASL{Mechanism: kafkaconn.SASLSCRAMSHA512, Username: sec.Username, Password: sec.Password}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	h := startSource(t, cfg, sink)
	servicetest.Eventually(t, 60*time.Second, "not every record arrived", func() bool { return len(recordIDs(sink.Records())) == n })
	waitCommitted(t, broker, cfg.GroupID, topic, partitions)
	h.stop(t)
	if got := len(sink.Records()); got != n {
		t.Fatalf("sink got %d records, want %d", got, n)
	}
}

// failingSink fails every batch holding a record whose bytes field is in
// its set, while it is on; for good (stream.Permanent) if permanent.
type failingSink struct {
	*sinktest.Sink
	on        atomic.Bool
	mu        sync.Mutex
	ids       map[uint64]bool
	permanent bool
	hits      atomic.Int64
}

func (s *failingSink) Accept(ctx context.Context, b *stream.Batch) error {
	if s.on.Load() {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, r := range b.Records {
			if s.ids == nil || s.ids[r.Bytes] {
				s.hits.Add(1)
				err := errors.New("failing sink: down")
				if s.permanent {
					err = stream.Permanent(err)
				}
				b.Ack.Done(err)
				return nil
			}
		}
	}
	return s.Sink.Accept(ctx, b)
}

// TestFailingBatchHoldsTheCommit fails one message's records while later
// messages of its partition are delivered: the partition's committed offset
// stays at that message until the sink recovers; then everything arrives
// and commits.
func TestFailingBatchHoldsTheCommit(t *testing.T) {
	broker := kafkatest.Broker(t)
	const partitions = 2
	topic := kafkatest.NewTopic(t, broker, partitions)
	var msgs []kafka.Message
	for i := range 400 {
		msgs = append(msgs, kafka.Message{Partition: i % partitions, Value: []byte(kafkatest.Line(i))})
	}
	kafkatest.Produce(t, broker, topic, msgs)
	// Record 100 is message offset 50 of partition 0.
	sink := &failingSink{Sink: sinktest.NewSink("rec"), ids: map[uint64]bool{100: true}}
	sink.on.Store(true)
	cfg := testConfig(broker, topic)
	cfg.BatchSize = 10
	cfg.MaxInFlightMessages = 60
	h := startSource(t, cfg, sink)
	servicetest.Eventually(t, 60*time.Second, "the failing batch was not retried", func() bool { return sink.hits.Load() >= 5 })
	time.Sleep(500 * time.Millisecond) // commit intervals pass
	committed, _ := kafkatest.GroupOffsets(t, broker, cfg.GroupID, topic, partitions)
	if committed[0] > 50 {
		t.Fatalf("partition 0 committed %d past the undelivered message at offset 50", committed[0])
	}
	if committed[1] != 200 {
		t.Errorf("partition 1 committed %d, want 200 (nothing failed there)", committed[1])
	}
	if n, _ := h.c.limiter.inFlight(); n > cfg.MaxInFlightMessages {
		t.Errorf("%d messages in flight, over max_in_flight_messages %d", n, cfg.MaxInFlightMessages)
	}
	sink.on.Store(false)
	servicetest.Eventually(t, 30*time.Second, "records missing after the sink recovered", func() bool { return len(recordIDs(sink.Records())) == 400 })
	waitCommitted(t, broker, cfg.GroupID, topic, partitions)
}

// TestPermanentRefusalWaitsForTheOtherSinks has one sink refuse a batch for
// good while another only fails it for now: the batch is redelivered until
// the second sink has it, and only then dead-lettered for the first.
func TestPermanentRefusalWaitsForTheOtherSinks(t *testing.T) {
	broker := kafkatest.Broker(t)
	topic := kafkatest.NewTopic(t, broker, 1)
	produceLines(t, broker, topic, 1, 0, 100)
	refusing := &failingSink{Sink: sinktest.NewSink("rec"), ids: map[uint64]bool{50: true}, permanent: true}
	refusing.on.Store(true)
	down := &failingSink{Sink: sinktest.NewSink("rec"), ids: map[uint64]bool{50: true}}
	down.on.Store(true)
	cfg := testConfig(broker, topic)
	cfg.BatchSize = 10
	h := startSource(t, cfg, refusing, down)
	servicetest.Eventually(t, 60*time.Second, "the failing batch was not retried", func() bool { return down.hits.Load() >= 3 })
	if n := len(h.dl.Failures()); n != 0 {
		t.Fatalf("%d records dead-lettered while a sink could still take them", n)
	}
	down.on.Store(false)
	servicetest.Eventually(t, 30*time.Second, "records missing from the recovered sink", func() bool { return len(recordIDs(down.Records())) == 100 })
	waitCommitted(t, broker, cfg.GroupID, topic, 1)
	if n := len(h.dl.Failures()); n == 0 {
		t.Error("the batch the first sink refused for good was not dead-lettered")
	}
}

// TestBadMessagesDeadLettered puts bad messages between good ones: each is
// dead-lettered with its topic/partition/offset and counts as delivered.
func TestBadMessagesDeadLettered(t *testing.T) {
	broker := kafkatest.Broker(t)
	topic := kafkatest.NewTopic(t, broker, 1)
	truncated := gz(t, kafkatest.Lines(1000, 50))
	bad := map[string][]byte{
		"not gzip":    {0x1f, 0x8b, 0x08, 0x00, 'n', 'o', 't', ' ', 'g', 'z', 'i', 'p'},
		"truncated":   truncated[:len(truncated)/2],
		"non-UTF-8":   []byte("2 123456789012 eni-0 10.0.0.1 10.0.0.2 1 2 6 1 \xff\xfe 1 2 ACCEPT OK"),
		"empty":       {},
		"10 MB":       bytes.Repeat([]byte("x"), 10<<20),
		"binary junk": {0x00, 0x01, 0x02, 0xff},
	}
	var msgs []kafka.Message
	badAt := map[int64]string{}
	good := 0
	for name, v := range bad {
		msgs = append(msgs, kafka.Message{Value: []byte(kafkatest.Line(good))})
		good++
		badAt[int64(len(msgs))] = name
		msgs = append(msgs, kafka.Message{Value: v})
	}
	msgs = append(msgs, kafka.Message{Value: []byte(kafkatest.Line(good))})
	good++
	kafkatest.Produce(t, broker, topic, msgs)
	sink := sinktest.NewSink("rec")
	cfg := testConfig(broker, topic)
	h := startSource(t, cfg, sink)
	waitCommitted(t, broker, cfg.GroupID, topic, 1)
	h.stop(t)
	if ids := recordIDs(sink.Records()); len(ids) != good {
		t.Errorf("sink got %d good records, want %d", len(ids), good)
	}
	refs := map[string]bool{}
	for _, f := range h.dl.Failures() {
		refs[f.Ref] = true
		if f.Source != "kafka" {
			t.Errorf("failure source %q", f.Source)
		}
	}
	for off, name := range badAt {
		if ref := topic + "/0/" + strconv.FormatInt(off, 10); !refs[ref] {
			t.Errorf("%s message at offset %d not dead-lettered as %s; got %v", name, off, ref, refs)
		}
	}
}

// TestBrokerRestartRecovers restarts the broker (scripts/services restart
// kafka: same ports and data) while the source consumes, and produces more
// once it is back: everything is delivered and committed without
// intervention. Set FLOWHOSE_TEST_KAFKA_NO_RESTART=1 to spare a broker
// others are using.
func TestBrokerRestartRecovers(t *testing.T) {
	broker := kafkatest.Broker(t)
	pidfile := os.Getenv("FLOWHOSE_TEST_KAFKA_PIDFILE")
	if pidfile == "" {
		t.Skip("FLOWHOSE_TEST_KAFKA_PIDFILE unset: the broker was not started by scripts/services")
	}
	if os.Getenv("FLOWHOSE_TEST_KAFKA_NO_RESTART") != "" {
		t.Skip("FLOWHOSE_TEST_KAFKA_NO_RESTART is set")
	}
	servicetest.Disrupt(t, "FLOWHOSE_TEST_KAFKA_BROKERS")
	// <root>/.services/kafka.pid belongs to <root>/scripts/services.
	script := filepath.Join(filepath.Dir(filepath.Dir(pidfile)), "scripts", "services")
	const partitions, first, second = 4, 20_000, 5_000
	topic := kafkatest.NewTopic(t, broker, partitions)
	kafkatest.Produce(t, broker, topic, envelopeMessages(t, 0, first, partitions))
	sink := sinktest.NewSink("rec")
	sink.SetDelay(2 * time.Millisecond) // consuming outlasts the restart's start
	cfg := testConfig(broker, topic)
	cfg.BatchSize = 50
	startSource(t, cfg, sink)
	servicetest.Eventually(t, 30*time.Second, "nothing delivered", func() bool { return len(sink.Records()) > 0 })
	if out, err := exec.Command(script, "restart", "kafka").CombinedOutput(); err != nil {
		t.Fatalf("restart: %v: %s", err, out)
	}
	before := len(recordIDs(sink.Records()))
	kafkatest.Produce(t, broker, topic, envelopeMessages(t, first, second, partitions))
	servicetest.Eventually(t, 120*time.Second, "records missing after the broker restart", func() bool {
		return len(recordIDs(sink.Records())) == first+second
	})
	waitCommitted(t, broker, cfg.GroupID, topic, partitions)
	t.Logf("%d of %d records delivered when the broker was back", before, first)
}

// ackedSink records records only once it acknowledges them. While it
// holds, it keeps unsettled every batch with a record in [from, to).
type ackedSink struct {
	mu       sync.Mutex
	from, to uint64
	held     []*stream.Batch
	acked    map[uint64]bool
}

func newAckedSink(from, to uint64) *ackedSink {
	return &ackedSink{from: from, to: to, acked: map[uint64]bool{}}
}

func (s *ackedSink) Name() string { return "acked" }

func (s *ackedSink) Accept(_ context.Context, b *stream.Batch) error {
	s.mu.Lock()
	for _, r := range b.Records {
		if r.Bytes >= s.from && r.Bytes < s.to {
			s.held = append(s.held, b)
			s.mu.Unlock()
			return nil
		}
	}
	for _, r := range b.Records {
		s.acked[r.Bytes] = true
	}
	s.mu.Unlock()
	b.Ack.Done(nil)
	return nil
}

// release stops holding and acknowledges what was held.
func (s *ackedSink) release() {
	s.mu.Lock()
	s.from, s.to = 0, 0
	held := s.held
	s.held = nil
	for _, b := range held {
		for _, r := range b.Records {
			s.acked[r.Bytes] = true
		}
	}
	s.mu.Unlock()
	for _, b := range held {
		b.Ack.Done(nil)
	}
}

func (s *ackedSink) Close(context.Context) error {
	s.mu.Lock()
	held := s.held
	s.held = nil
	s.mu.Unlock()
	for _, b := range held {
		b.Ack.Done(sinktest.ErrClosed)
	}
	return nil
}

func (s *ackedSink) ids() map[uint64]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.acked)
}

// committedOnlyDelivered fails t unless the record at every offset below
// a partition's committed offset was delivered (record i at offset
// i/partitions of partition i%partitions), and returns the committed
// offsets.
func committedOnlyDelivered(t *testing.T, broker, group, topic string, partitions int, delivered map[uint64]bool) []int64 {
	t.Helper()
	committed, _ := kafkatest.GroupOffsets(t, broker, group, topic, partitions)
	for p, c := range committed {
		for off := range max(c, 0) {
			if id := uint64(off)*uint64(partitions) + uint64(p); !delivered[id] {
				t.Fatalf("partition %d committed %d past offset %d, whose record was never acknowledged", p, c, off)
			}
		}
	}
	return committed
}

// TestRevokedPartitionsCommitOnlyDelivered has member A's sink hold the
// batches of records 100 to 139 (a hole in both partitions) and deliver
// everything else, then starts member B, whose sink holds the same: the
// rebalance revokes a partition from A with batches in flight. Whatever
// the group has committed must have been acknowledged; once the sinks let
// go, everything arrives and the end offsets are committed.
func TestRevokedPartitionsCommitOnlyDelivered(t *testing.T) {
	broker := kafkatest.Broker(t)
	const partitions, n = 2, 400
	topic := kafkatest.NewTopic(t, broker, partitions)
	produceLines(t, broker, topic, partitions, 0, n) // record i is at offset i/2 of partition i%2
	cfg := testConfigDrain(broker, topic, time.Second)
	a := newAckedSink(100, 140)
	cfg.ClientID = "a"
	ha := startSource(t, cfg, a)
	servicetest.Eventually(t, 30*time.Second, "A did not deliver around the hole", func() bool { return len(a.ids()) >= n-40 })
	time.Sleep(3 * cfg.CommitInterval)
	b := newAckedSink(100, 140)
	cfg.ClientID = "b"
	hb := startSource(t, cfg, b)
	servicetest.Eventually(t, 60*time.Second, "the rebalance never gave each member one partition", func() bool {
		return testutil.ToFloat64(ha.c.m.assigned) == 1 && testutil.ToFloat64(hb.c.m.assigned) == 1 &&
			testutil.ToFloat64(ha.c.m.rebalances) >= 2
	})
	time.Sleep(3 * cfg.CommitInterval)
	delivered := a.ids()
	maps.Copy(delivered, b.ids())
	for p, c := range committedOnlyDelivered(t, broker, cfg.GroupID, topic, partitions, delivered) {
		if c < 50 {
			t.Errorf("partition %d committed %d, want the 50 offsets before the hole", p, c)
		}
	}
	if testutil.ToFloat64(ha.c.m.abandoned) == 0 {
		t.Error("A abandoned nothing at the revocation, though its sink held batches")
	}
	a.release()
	b.release()
	servicetest.Eventually(t, 60*time.Second, "records missing once the sinks let go", func() bool {
		all := a.ids()
		maps.Copy(all, b.ids())
		return len(all) == n
	})
	waitCommitted(t, broker, cfg.GroupID, topic, partitions)
}

// TestBackPressurePausesFetching holds every batch at the sink: the source
// takes max_in_flight_messages and then pauses (counting the time), with
// no more messages taken however long the sink stalls; once the sink lets
// go, the rest is consumed.
func TestBackPressurePausesFetching(t *testing.T) {
	broker := kafkatest.Broker(t)
	const partitions, n = 2, 2000
	topic := kafkatest.NewTopic(t, broker, partitions)
	var msgs []kafka.Message
	for i := range n {
		msgs = append(msgs, kafka.Message{Partition: i % partitions, Value: []byte(kafkatest.Line(i))})
	}
	kafkatest.Produce(t, broker, topic, msgs)
	cfg := testConfig(broker, topic)
	cfg.BatchSize = 10
	cfg.MaxInFlightMessages = 50
	sink := newAckedSink(0, n)
	h := startSource(t, cfg, sink)
	taken := func() float64 { return testutil.ToFloat64(h.c.m.messages) }
	servicetest.Eventually(t, 30*time.Second, "the in-flight limit was never reached", func() bool {
		n, _ := h.c.limiter.inFlight()
		return n == cfg.MaxInFlightMessages
	})
	before := taken()
	time.Sleep(time.Second)
	if after := taken(); after != before || after > float64(cfg.MaxInFlightMessages) {
		t.Fatalf("took %v then %v messages while the sink held everything, limit %d", before, after, cfg.MaxInFlightMessages)
	}
	if testutil.ToFloat64(h.c.m.paused) == 0 {
		t.Error("no paused time counted")
	}
	sink.release()
	servicetest.Eventually(t, 30*time.Second, "records missing once the sink let go", func() bool { return len(sink.ids()) == n })
	waitCommitted(t, broker, cfg.GroupID, topic, partitions)
}

// TestLagSeriesRemovedWithTheirPartitions stops a member whose partition 1
// still has a batch in flight, so that partition settles last: every lag
// series must be gone once the member has let its partitions go. The
// last partition's final commit used to set the lag of every partition of
// the generation again, bringing back the series of those that had
// already removed theirs (after a rebalance, series of partitions another
// member owns, frozen at their old value).
func TestLagSeriesRemovedWithTheirPartitions(t *testing.T) {
	broker := kafkatest.Broker(t)
	topic := kafkatest.NewTopic(t, broker, 2)
	produceLines(t, broker, topic, 2, 0, 200) // record i is at offset i/2 of partition i%2
	sink := newAckedSink(101, 102)            // partition 1's batch holding record 101
	h := startSource(t, testConfigDrain(broker, topic, time.Second), sink)
	servicetest.Eventually(t, 30*time.Second, "records around the held batch not delivered", func() bool { return len(sink.ids()) >= 190 })
	servicetest.Eventually(t, 10*time.Second, "no lag series for both partitions", func() bool {
		return testutil.CollectAndCount(h.c.m.lag) == 2
	})
	h.stop(t)
	if got := testutil.CollectAndCount(h.c.m.lag); got != 0 {
		t.Fatalf("%d lag series left after the member let its partitions go, want 0", got)
	}
}

// TestLagGrowsWhilePaused stalls the sink after the first 100 records, so
// the partition pauses at its in-flight limit, then produces 1000 more:
// the lag gauge must show them. It was computed from the high watermark of
// the last message taken, which stops moving exactly when fetching
// pauses, so a stalled sink showed a flat lag (and the "lag growing"
// alert could not fire) however far the topic ran ahead.
func TestLagGrowsWhilePaused(t *testing.T) {
	broker := kafkatest.Broker(t)
	topic := kafkatest.NewTopic(t, broker, 1)
	produce := func(from, n int) { produceLines(t, broker, topic, 1, from, n) }
	produce(0, 100)
	cfg := testConfig(broker, topic)
	cfg.BatchSize = 10
	cfg.MaxInFlightMessages = 50
	cfg.Prefetch = 10
	sink := newAckedSink(100, 1<<40)
	h := startSource(t, cfg, sink)
	lag := func() float64 { return testutil.ToFloat64(h.c.m.lag.WithLabelValues(topic, "0")) }
	waitCommitted(t, broker, cfg.GroupID, topic, 1)
	produce(100, 200)
	servicetest.Eventually(t, 30*time.Second, "the in-flight limit was never reached", func() bool {
		n, _ := h.c.limiter.inFlight()
		return n == cfg.MaxInFlightMessages
	})
	produce(300, 1000)
	servicetest.Eventually(t, 10*time.Second, "lag never showed the messages produced while paused", func() bool {
		return lag() >= 1200
	})
	sink.release()
	servicetest.Eventually(t, 30*time.Second, "records missing once the sink let go", func() bool { return len(sink.ids()) == 1300 })
	waitCommitted(t, broker, cfg.GroupID, topic, 1)
}

// TestLagShownBeforeTheFirstCommit starts a new group (start_offset
// earliest) whose sink holds everything: nothing is ever committed, and
// the lag must still show the 1000 messages waiting. It was computed only
// against a committed offset, so a group that had committed nothing (new,
// or whose offsets the brokers expired) showed no lag at all however
// stuck it was.
func TestLagShownBeforeTheFirstCommit(t *testing.T) {
	broker := kafkatest.Broker(t)
	topic := kafkatest.NewTopic(t, broker, 1)
	produceLines(t, broker, topic, 1, 0, 1000)
	cfg := testConfig(broker, topic)
	cfg.MaxInFlightMessages = 50
	sink := newAckedSink(0, 1000)
	h := startSource(t, cfg, sink)
	servicetest.Eventually(t, 10*time.Second, "no lag shown for the 1000 messages not committed", func() bool {
		return testutil.CollectAndCount(h.c.m.lag) == 1 && testutil.ToFloat64(h.c.m.lag.WithLabelValues(topic, "0")) == 1000
	})
	sink.release()
	waitCommitted(t, broker, cfg.GroupID, topic, 1)
}

// TestStartLatestPositionSurvivesHandover starts a new group at the latest
// offset whose first member never delivers (its sink holds everything),
// stops it, and lets a second member take over: the second must read what
// the first took and could not deliver. Nothing was committed until a
// message was delivered, so the second member resolved "latest" again,
// past the 100 messages, which were then never delivered by anyone.
func TestStartLatestPositionSurvivesHandover(t *testing.T) {
	broker := kafkatest.Broker(t)
	topic := kafkatest.NewTopic(t, broker, 1)
	cfg := testConfigDrain(broker, topic, time.Second)
	cfg.StartOffset = StartLatest
	held := newAckedSink(0, 1<<40)
	a := startSource(t, cfg, held)
	servicetest.Eventually(t, 30*time.Second, "the partition was never assigned", func() bool {
		return testutil.ToFloat64(a.c.m.assigned) == 1
	})
	time.Sleep(3 * cfg.CommitInterval) // the start position is resolved and pinned
	produceLines(t, broker, topic, 1, 0, 100)
	servicetest.Eventually(t, 30*time.Second, "the first member never took the messages", func() bool {
		n, _ := a.c.limiter.inFlight()
		return n == 100
	})
	a.stop(t)
	sink := sinktest.NewSink("rec")
	startSource(t, cfg, sink)
	produceLines(t, broker, topic, 1, 100, 10)
	servicetest.Eventually(t, 30*time.Second, "records the first member took were never delivered", func() bool {
		return len(recordIDs(sink.Records())) == 110
	})
}

// TestFetchedValuesAreNotReused guards batch.keep, whose records point
// into the fetched message values themselves: kafka-go must give each
// message a value of its own that nothing overwrites afterwards, from
// uncompressed and from compressed record batches alike.
func TestFetchedValuesAreNotReused(t *testing.T) {
	broker := kafkatest.Broker(t)
	topic := kafkatest.NewTopic(t, broker, 1)
	const n = 400
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		msgs[i] = kafka.Message{Value: []byte(kafkatest.Lines(i*3, 3))}
	}
	kafkatest.Produce(t, broker, topic, msgs[:n/2])
	w := &kafka.Writer{Addr: kafka.TCP(broker), Topic: topic, RequiredAcks: kafka.RequireAll, Compression: kafka.Lz4,
		BatchTimeout: time.Millisecond, BatchSize: n}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs[n/2:]...); err != nil {
		t.Fatal(err)
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{broker}, Topic: topic, Partition: 0, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	got := make([][]byte, n)
	for i := range got {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		got[i] = m.Value
	}
	for i, v := range got {
		if !bytes.Equal(v, msgs[i].Value) {
			t.Fatalf("message %d's value changed after later fetches: %.60q", i, v)
		}
	}
}

// TestCommittedOffsetPastTheEndResumes commits, as another tool could, an
// offset far past a partition's end before the group starts: the source
// resumes at the log start (it used to wait there for ever, with lag 0),
// counts the reset, delivers what was below the end and what is produced
// next, and commits it.
func TestCommittedOffsetPastTheEndResumes(t *testing.T) {
	broker := kafkatest.Broker(t)
	topic := kafkatest.NewTopic(t, broker, 1)
	produceLines(t, broker, topic, 1, 0, 5)
	cfg := testConfig(broker, topic)
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(broker), Timeout: 10 * time.Second, Transport: tr}
	// The coordinator of a new group may not be ready yet: retried.
	servicetest.Eventually(t, 30*time.Second, "offset 1000 not committed", func() bool {
		res, err := client.OffsetCommit(context.Background(), &kafka.OffsetCommitRequest{
			GroupID: cfg.GroupID, GenerationID: -1,
			Topics: map[string][]kafka.OffsetCommit{topic: {{Partition: 0, Offset: 1000}}},
		})
		if err != nil || len(res.Topics[topic]) != 1 {
			return false
		}
		return res.Topics[topic][0].Error == nil
	})
	sink := sinktest.NewSink("rec")
	h := startSource(t, cfg, sink)
	servicetest.Eventually(t, 30*time.Second, "the offset past the end was not reset", func() bool {
		return testutil.ToFloat64(h.c.m.offsetResets.WithLabelValues("after_end")) == 1
	})
	produceLines(t, broker, topic, 1, 5, 10)
	servicetest.Eventually(t, 30*time.Second, "records below the end and produced after the reset did not all arrive", func() bool {
		return len(recordIDs(sink.Records())) == 15
	})
	waitCommitted(t, broker, cfg.GroupID, topic, 1)
}

// TestShutdownDuringRebalanceIsBounded stops member A while the group
// rebalances and A's join is held by the coordinator, waiting for member
// B, which drains batches its sink holds. A's run must return within its
// drain_timeout plus LeaveGrace (it used to wait for B's drain and the
// whole join and sync), and the group must have committed nothing
// undelivered.
func TestShutdownDuringRebalanceIsBounded(t *testing.T) {
	broker := kafkatest.Broker(t)
	const partitions, n = 4, 400
	topic := kafkatest.NewTopic(t, broker, partitions)
	produceLines(t, broker, topic, partitions, 0, n) // record i is at offset i/4 of partition i%4
	cfg := testConfigDrain(broker, topic, time.Second)
	cfg.SessionTimeout, cfg.RebalanceTimeout = 15*time.Second, 15*time.Second
	a := sinktest.NewSink("a")
	cfg.ClientID = "a"
	ha := startSource(t, cfg, a)
	servicetest.Eventually(t, 30*time.Second, "A did not deliver", func() bool { return len(recordIDs(a.Records())) == n })
	b := newAckedSink(0, 1<<62)
	cfgB := cfg
	cfgB.ClientID, cfgB.DrainTimeout = "b", 12*time.Second
	hb := startSource(t, cfgB, b)
	servicetest.Eventually(t, 60*time.Second, "B never got its partitions", func() bool {
		return testutil.ToFloat64(ha.c.m.assigned) == 2 && testutil.ToFloat64(hb.c.m.assigned) == 2
	})
	produceLines(t, broker, topic, partitions, n, n)
	servicetest.Eventually(t, 30*time.Second, "B's sink held nothing", func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return len(b.held) > 0
	})
	c := sinktest.NewSink("c")
	cfg.ClientID = "c"
	startSource(t, cfg, c)
	// A notices the rebalance at its next heartbeat, drains at once and
	// joins; the coordinator holds the join while B drains.
	time.Sleep(2*cfg.HeartbeatInterval + 500*time.Millisecond)
	start := time.Now()
	ha.stop(t)
	if took, bound := time.Since(start), cfg.DrainTimeout+LeaveGrace+time.Second; took > bound {
		t.Errorf("A's run returned %s after cancellation mid-rebalance, want within %s", took.Round(time.Millisecond), bound)
	}
	delivered := b.ids()
	for id := range recordIDs(append(a.Records(), c.Records()...)) {
		delivered[id] = true
	}
	committedOnlyDelivered(t, broker, cfg.GroupID, topic, partitions, delivered)
	b.release()
	servicetest.Eventually(t, 60*time.Second, "records missing once B's sink let go", func() bool {
		all := recordIDs(a.Records())
		for id := range b.ids() {
			all[id]++
		}
		maps.Copy(all, recordIDs(c.Records()))
		return len(all) == 2*n
	})
}

// TestOversizedMessageNotStarved produces, while partition 1 has a steady
// flow and the sink takes 100 ms a batch (so something is always in
// flight), one message larger than max_in_flight_bytes to partition 0. It
// must be delivered while the flow goes on: it used to wait for a moment
// with nothing in flight, which a steady flow never leaves.
func TestOversizedMessageNotStarved(t *testing.T) {
	broker := kafkatest.Broker(t)
	topic := kafkatest.NewTopic(t, broker, 2)
	cfg := testConfig(broker, topic)
	cfg.MaxInFlightBytes = 16 << 10
	sink := sinktest.NewSink("rec")
	sink.SetDelay(100 * time.Millisecond)
	startSource(t, cfg, sink)
	stopFlow := make(chan struct{})
	var flow sync.WaitGroup
	defer flow.Wait()
	defer close(stopFlow)
	const flowFrom = 1_000_000
	flow.Go(func() {
		for i := flowFrom; ; i += 5 {
			select {
			case <-stopFlow:
				return
			case <-time.After(20 * time.Millisecond):
			}
			var msgs []kafka.Message
			for j := range 5 {
				msgs = append(msgs, kafka.Message{Partition: 1, Value: []byte(kafkatest.Line(i + j))})
			}
			if err := kafkatest.ProduceErr(broker, topic, msgs); err != nil {
				t.Errorf("produce the flow: %v", err)
				return
			}
		}
	})
	servicetest.Eventually(t, 30*time.Second, "the flow on partition 1 was not delivered", func() bool { return len(sink.Records()) >= 50 })
	big := kafkatest.Lines(0, 500)
	if int64(len(big)) <= cfg.MaxInFlightBytes {
		t.Fatalf("message of %d bytes is not over max_in_flight_bytes %d", len(big), cfg.MaxInFlightBytes)
	}
	kafkatest.Produce(t, broker, topic, []kafka.Message{{Partition: 0, Value: []byte(big)}})
	servicetest.Eventually(t, 20*time.Second, "the message over max_in_flight_bytes was not delivered while partition 1 flowed", func() bool {
		n := 0
		for id := range recordIDs(sink.Records()) {
			if id < flowFrom {
				n++
			}
		}
		return n == 500
	})
}
