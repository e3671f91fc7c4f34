package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/flowhose/flowhose/internal/servicetest"
	"github.com/flowhose/flowhose/stream/sinktest"
	"github.com/flowhose/flowhose/stream/source/kafka/kafkatest"
)

// esDocs counts the documents of a data stream (0 before it exists).
func esDocs(t *testing.T, base, index string) int {
	t.Helper()
	for _, path := range []string{"/_refresh", "/_count"} {
		method := http.MethodPost
		if path == "/_count" {
			method = http.MethodGet
		}
		req, err := http.NewRequest(method, base+"/"+index+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode == http.StatusNotFound {
			return 0
		}
		if res.StatusCode >= 300 {
			t.Fatalf("%s %s: %s: %s", method, path, res.Status, raw)
		}
		if path == "/_count" {
			var c struct{ Count int }
			if err := json.Unmarshal(raw, &c); err != nil {
				t.Fatal(err)
			}
			return c.Count
		}
	}
	return 0
}

// kafkaProcess is a `flowhose serve` binary consuming a topic into
// Elasticsearch.
type kafkaProcess struct {
	cmd    *exec.Cmd
	base   string
	stderr *sinktest.Buffer
}

// kafkaScenario is one topic, one group and one data stream shared by the
// processes of a test.
type kafkaScenario struct {
	broker, topic, group, es, namespace string
	partitions                          int
	dir                                 string
}

func newKafkaScenario(t *testing.T, partitions int) *kafkaScenario {
	if testing.Short() {
		t.Skip("builds and runs the binary against Kafka and Elasticsearch")
	}
	s := &kafkaScenario{broker: kafkatest.Broker(t), es: servicetest.Env(t, "FLOWHOSE_TEST_ES_URL"), partitions: partitions, dir: t.TempDir()}
	s.topic = kafkatest.NewTopic(t, s.broker, partitions)
	s.group = "g-" + s.topic
	s.namespace = strings.ToLower(strings.NewReplacer("/", "_", "-", "_").Replace(t.Name())) + fmt.Sprint("_", time.Now().UnixNano())
	return s
}

func (s *kafkaScenario) index() string { return "logs-aws.vpcflow-" + s.namespace }

// start runs one process of the group.
func (s *kafkaScenario) start(t *testing.T, name string) *kafkaProcess {
	t.Helper()
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	cfg := writeConfig(t, fmt.Sprintf(`http:
  listen: %q
  shutdown_timeout: 30s
sources:
  firehose:
    enabled: false
  kafka:
    enabled: true
    brokers: [%q]
    topics: [%q]
    group_id: %q
    client_id: %q
    batch_size: 200
    commit_interval: 200ms
    heartbeat_interval: 1s
    session_timeout: 6s
    rebalance_timeout: 10s
    drain_timeout: 4s
sinks:
  ndjson:
    enabled: false
  elasticsearch:
    enabled: true
    urls: [%q]
    namespace: %q
    replicas: 0
    template_overwrite: true
    flush_interval: 50ms
  dead_letter:
    path: %q
`, addr, s.broker, s.topic, s.group, name, s.es, s.namespace, filepath.Join(s.dir, name+"-dead.ndjson")))
	p := &kafkaProcess{cmd: exec.Command(bin, "-config", cfg, "serve"), base: "http://" + addr, stderr: &sinktest.Buffer{}}
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
		}
		if t.Failed() {
			t.Logf("%s stderr:\n%s", name, tail(p.stderr.String(), 4000))
		}
	})
	waitReady(t, p.base, p.stderr)
	return p
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// metric reads one unlabelled sample from the process's /metrics.
func (p *kafkaProcess) metric(t *testing.T, name string) string {
	t.Helper()
	res, err := http.Get(p.base + "/metrics")
	if err != nil {
		return ""
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	for line := range strings.Lines(string(raw)) {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// produceRecords writes records from..from+n-1, perMessage lines a
// message, round-robin over the partitions.
func (s *kafkaScenario) produceRecords(t *testing.T, from, n, perMessage int) {
	t.Helper()
	kafkatest.Produce(t, s.broker, s.topic, s.messages(from, n, perMessage))
}

func (s *kafkaScenario) messages(from, n, perMessage int) []kafka.Message {
	var msgs []kafka.Message
	for i := from; i < from+n; i += perMessage {
		k := min(perMessage, from+n-i)
		msgs = append(msgs, kafka.Message{Partition: len(msgs) % s.partitions, Value: []byte(kafkatest.Lines(i, k))})
	}
	return msgs
}

// TestKafkaKill9AndRestartLosesNothing kills flowhose with SIGKILL while
// it consumes, produces more, and starts it again: every record ends up in
// Elasticsearch once (redelivered ones carry the same document ids) and
// the group commits the end offsets.
func TestKafkaKill9AndRestartLosesNothing(t *testing.T) {
	s := newKafkaScenario(t, 4)
	const first, second = 20_000, 5_000
	s.produceRecords(t, 0, first, 100)
	p := s.start(t, "a")
	servicetest.Eventually(t, 60*time.Second, "no document indexed", func() bool { return esDocs(t, s.es, s.index()) > 0 })
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
	indexed := esDocs(t, s.es, s.index())
	if indexed >= first {
		t.Logf("every record was indexed before the kill (%d); the restart only proves the commit", indexed)
	}
	s.produceRecords(t, first, second, 1)
	s.start(t, "a")
	servicetest.Eventually(t, 120*time.Second, "the group never committed the end offsets", func() bool {
		return kafkatest.AllCommitted(s.broker, s.group, s.topic, s.partitions)
	})
	if got := esDocs(t, s.es, s.index()); got != first+second {
		t.Fatalf("Elasticsearch holds %d documents, want %d (killed with %d indexed)", got, first+second, indexed)
	}
}

// TestKafkaTwoReplicasSurvivorTakesOver runs two processes in one group
// while records keep arriving, stops one mid-stream, and checks that the
// survivor takes every partition and that Elasticsearch ends with exactly
// the distinct records produced.
func TestKafkaTwoReplicasSurvivorTakesOver(t *testing.T) {
	s := newKafkaScenario(t, 4)
	a := s.start(t, "a")
	b := s.start(t, "b")
	servicetest.Eventually(t, 30*time.Second, "the two members never shared the partitions", func() bool {
		return a.metric(t, "flowhose_kafka_source_assigned_partitions") == "2" && b.metric(t, "flowhose_kafka_source_assigned_partitions") == "2"
	})
	const rounds, perRound = 40, 1000
	var produced atomic.Int64
	done := make(chan error, 1)
	go func() {
		for r := range rounds {
			if err := kafkatest.ProduceErr(s.broker, s.topic, s.messages(r*perRound, perRound, 10)); err != nil {
				done <- err
				return
			}
			produced.Add(perRound)
			time.Sleep(50 * time.Millisecond)
		}
		done <- nil
	}()
	servicetest.Eventually(t, 60*time.Second, "nothing produced", func() bool { return produced.Load() >= rounds*perRound/3 })
	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := b.cmd.Wait(); err != nil {
		t.Fatalf("b did not drain cleanly: %v\n%s", err, tail(b.stderr.String(), 3000))
	}
	if err := <-done; err != nil {
		t.Fatalf("produce: %v", err)
	}
	servicetest.Eventually(t, 30*time.Second, "the survivor did not take every partition", func() bool {
		return a.metric(t, "flowhose_kafka_source_assigned_partitions") == "4"
	})
	servicetest.Eventually(t, 120*time.Second, "the group never committed the end offsets", func() bool {
		return kafkatest.AllCommitted(s.broker, s.group, s.topic, s.partitions)
	})
	if got := esDocs(t, s.es, s.index()); got != rounds*perRound {
		t.Fatalf("Elasticsearch holds %d documents, want the %d distinct records produced", got, rounds*perRound)
	}
	if bytes.Contains([]byte(b.stderr.String()), []byte(`"level":"ERROR"`)) {
		t.Errorf("b logged errors:\n%s", tail(b.stderr.String(), 3000))
	}
}
