// Package kafkatest reaches the real Kafka broker of scripts/services for
// tests: topics of their own, producing to chosen partitions, and a
// group's committed offsets against the partitions' end offsets.
package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/flowhose/flowhose/internal/servicetest"
)

// Broker is the broker's address from FLOWHOSE_TEST_KAFKA_BROKERS (see
// servicetest.Env).
func Broker(t testing.TB) string {
	t.Helper()
	return servicetest.Env(t, "FLOWHOSE_TEST_KAFKA_BROKERS")
}

// Secured is how to reach the broker's secured listeners (see
// scripts/services.d/kafka.sh): host:port of each, the SASL user (PLAIN,
// SCRAM-SHA-256 and SCRAM-SHA-512 on both SASL listeners), and PEM files:
// the CA of the broker's and the client's certificates, and the client's.
type Secured struct {
	SASL, SASLSSL, SSL, MTLS string
	Username, Password       string
	CA, Cert, Key            string
}

// SecuredBroker reads Secured from .services/env's variables (see
// servicetest.Env). It holds the broker as Broker does, since tests that
// restart or freeze it lock it by FLOWHOSE_TEST_KAFKA_BROKERS.
func SecuredBroker(t testing.TB) Secured {
	t.Helper()
	Broker(t)
	e := func(name string) string { return servicetest.Env(t, "FLOWHOSE_TEST_KAFKA_"+name) }
	return Secured{
		SASL: e("SASL_BROKERS"), SASLSSL: e("SASL_SSL_BROKERS"), SSL: e("SSL_BROKERS"), MTLS: e("MTLS_BROKERS"),
		Username: e("SASL_USERNAME"), Password: e("SASL_PASSWORD"),
		CA: e("TLS_CA"), Cert: e("TLS_CERT"), Key: e("TLS_KEY"),
	}
}

// NewTopic creates a topic of its own for one test, taking messages up to
// 16 MiB.
//
// Each helper here dials through a Transport of its own, closed when it
// returns: kafka-go's shared default one keeps connections pooled across
// tests, and after another package's test restarted the broker the first
// request on them fails with EOF.
func NewTopic(t testing.TB, broker string, partitions int) string {
	t.Helper()
	safe := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' {
			return r
		}
		return '-'
	}, t.Name())
	name := fmt.Sprintf("flowhose-%.200s-%d", safe, time.Now().UnixNano())
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	c := &kafka.Client{Addr: kafka.TCP(broker), Timeout: 30 * time.Second, Transport: tr}
	res, err := c.CreateTopics(context.Background(), &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: name, NumPartitions: partitions, ReplicationFactor: 1,
		ConfigEntries: []kafka.ConfigEntry{{ConfigName: "max.message.bytes", ConfigValue: strconv.Itoa(16 << 20)}},
	}}})
	if err != nil {
		t.Fatalf("create topic: %v", err)
	}
	if err := res.Errors[name]; err != nil {
		t.Fatalf("create topic: %v", err)
	}
	return name
}

// toPartition sends each message to the partition it names.
var toPartition = kafka.BalancerFunc(func(m kafka.Message, _ ...int) int { return m.Partition })

// Produce writes msgs, each to the partition it names, acknowledged by
// the broker.
func Produce(t testing.TB, broker, topic string, msgs []kafka.Message) {
	t.Helper()
	if err := ProduceErr(broker, topic, msgs); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// ProduceErr is Produce for goroutines other than the test's.
func ProduceErr(broker, topic string, msgs []kafka.Message) error {
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	w := &kafka.Writer{Addr: kafka.TCP(broker), Topic: topic, Balancer: toPartition, RequiredAcks: kafka.RequireAll,
		BatchTimeout: time.Millisecond, BatchBytes: 32 << 20, BatchSize: 1000, Transport: tr}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for len(msgs) > 0 {
		n := min(len(msgs), 500)
		if err := writeUntil(ctx, w, msgs[:n]); err != nil {
			return err
		}
		msgs = msgs[n:]
	}
	return nil
}

// writeUntil writes msgs, writing again the ones that failed until ctx
// ends: a broker just restarted takes a while to elect partition leaders,
// longer than the writer's own attempts on a loaded machine.
func writeUntil(ctx context.Context, w *kafka.Writer, msgs []kafka.Message) error {
	for {
		err := w.WriteMessages(ctx, msgs...)
		if err == nil {
			return nil
		}
		var failed kafka.WriteErrors
		if errors.As(err, &failed) {
			var again []kafka.Message
			for i, e := range failed {
				if e != nil {
					again = append(again, msgs[i])
				}
			}
			msgs = again
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// GroupOffsets returns the group's committed offsets (-1 for none) and the
// partitions' end offsets.
func GroupOffsets(t testing.TB, broker, group, topic string, partitions int) (committed, end []int64) {
	t.Helper()
	committed, end, err := groupOffsets(broker, group, topic, partitions)
	if err != nil {
		t.Fatal(err)
	}
	return committed, end
}

func groupOffsets(broker, group, topic string, partitions int) (committed, end []int64, err error) {
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	c := &kafka.Client{Addr: kafka.TCP(broker), Timeout: 10 * time.Second, Transport: tr}
	ids := make([]int, partitions)
	reqs := make([]kafka.OffsetRequest, partitions)
	for i := range ids {
		ids[i] = i
		reqs[i] = kafka.LastOffsetOf(i)
	}
	ctx := context.Background()
	f, err := c.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: ids}})
	if err != nil {
		return nil, nil, fmt.Errorf("offset fetch: %w", err)
	}
	l, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, nil, fmt.Errorf("list offsets: %w", err)
	}
	committed, end = make([]int64, partitions), make([]int64, partitions)
	for _, p := range f.Topics[topic] {
		committed[p.Partition] = p.CommittedOffset
	}
	for _, p := range l.Topics[topic] {
		end[p.Partition] = p.LastOffset
	}
	return committed, end, nil
}

// AllCommitted reports whether the group has committed every partition's
// end offset; false while the broker cannot say (a test may restart it).
func AllCommitted(broker, group, topic string, partitions int) bool {
	committed, end, err := groupOffsets(broker, group, topic, partitions)
	if err != nil {
		return false
	}
	for i := range end {
		if committed[i] != end[i] {
			return false
		}
	}
	return true
}

// Line is flow-log record i: its bytes field is i, so records (and their
// document ids) can be told apart.
func Line(i int) string {
	return fmt.Sprintf("2 123456789012 eni-0a1b2c3d4e5f60718 10.0.%d.%d 10.1.0.1 %d 443 6 10 %d 1700000000 1700000060 ACCEPT OK",
		i/250%250, i%250+1, 1024+i%50000, i)
}

// Lines is records from to from+n-1, newline-terminated.
func Lines(from, n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(Line(from + i))
		b.WriteByte('\n')
	}
	return b.String()
}
