package detections

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowhose/flowhose/enrich"
	"github.com/flowhose/flowhose/internal/servicetest"
	"github.com/flowhose/flowhose/sinks/alert/alerttest"
	kafkasink "github.com/flowhose/flowhose/sinks/kafka"
	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/detect"
	"github.com/flowhose/flowhose/stream/detect/detecttest"
	"github.com/flowhose/flowhose/stream/sinktest"
	"github.com/flowhose/flowhose/stream/source"
	kafkasource "github.com/flowhose/flowhose/stream/source/kafka"
	"github.com/flowhose/flowhose/stream/source/kafka/kafkatest"
)

const exactPartitions = 4

// attackTraffic is one five-minute window of attacks, each by its own
// source, interleaved at random: 20 vertical scans of 16 ports, 10 reject
// bursts of 120 flows, 5 SSH brute forces of 40 flows (each against its
// own target, which also raises exposed_port_probed), 3 outbound sweeps
// of 30 hosts and 3 uploads of 11 × 100 MiB. Every attack is just above
// its threshold, so that seeing half of it raises nothing.
func attackTraffic(rng *rand.Rand) []stream.Record {
	type flow struct {
		src, dst     string
		sport, dport uint16
		packets      uint64
		bytes        uint64
		action       string
	}
	var flows []flow
	for a := range 20 {
		for p := range 16 {
			flows = append(flows, flow{fmt.Sprintf("91.240.1.%d", a+1), "10.0.1.10", uint16(40000 + p), uint16(1000 + p), 1, 44, "REJECT"})
		}
	}
	for a := range 10 {
		for i := range 120 {
			flows = append(flows, flow{fmt.Sprintf("91.240.2.%d", a+1), fmt.Sprintf("10.0.2.%d", i%5+1), uint16(40000 + i), 443, 3, 180, "REJECT"})
		}
	}
	for a := range 5 {
		for i := range 40 {
			flows = append(flows, flow{fmt.Sprintf("91.240.3.%d", a+1), fmt.Sprintf("10.0.3.%d", a+1), uint16(40000 + i), 22, 12, 2400, "ACCEPT"})
		}
	}
	for a := range 3 {
		for i := range 30 {
			flows = append(flows, flow{fmt.Sprintf("10.0.4.%d", a+1), fmt.Sprintf("91.240.4.%d", i+1), uint16(40000 + i), 445, 1, 44, "REJECT"})
		}
		for i := range 11 {
			flows = append(flows, flow{fmt.Sprintf("10.0.5.%d", a+1), "91.240.5.1", uint16(40000 + i), 443, 80000, 100 << 20, "ACCEPT"})
		}
	}
	rng.Shuffle(len(flows), func(i, j int) { flows[i], flows[j] = flows[j], flows[i] })
	var g detecttest.Traffic
	for i, f := range flows {
		g.Flow(detecttest.T0+5+int64(i*240/len(flows)), f.src, f.sport, f.dst, f.dport, 6, f.packets, f.bytes, f.action)
	}
	return g.Recs
}

// wantAlerts is what attackTraffic raises when every attack is seen whole.
var wantAlerts = map[string]int{detect.RulePortScanInbound: 20, detect.RuleRejectBurst: 10, detect.RuleBruteForce: 5,
	detect.RuleExposedPortProbed: 5, detect.RulePortSweepOutbound: 3, detect.RuleExfiltrationPeer: 3}

// produce runs recs through a parsing pipeline whose only sink is the
// Kafka sink, writing original lines keyed by key ("" for none).
func produce(t *testing.T, broker, topic, key string, recs []stream.Record) {
	t.Helper()
	cfg := kafkasink.DefaultConfig()
	cfg.Brokers, cfg.Topic, cfg.Format, cfg.Key = []string{broker}, topic, kafkasink.FormatLine, key
	sink, err := kafkasink.Open(context.Background(), cfg, deps(nil))
	if err != nil {
		t.Fatal(err)
	}
	p, err := stream.New(stream.Options{Workers: 2, QueueDepth: 8, Sinks: []stream.Sink{sink}, DeadLetter: &sinktest.DeadLetter{}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := 0; i < len(recs); i += 200 {
		b := &stream.Batch{Records: recs[i:min(i+200, len(recs))], Ack: stream.NewAck()}
		if err := p.Submit(ctx, b); err != nil {
			t.Fatal(err)
		}
		b.Ack.Done(nil)
		if err := b.Ack.Wait(ctx); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// replica is one process of the detection fleet: the Kafka source, a
// pipeline that enriches what it decodes, and the detections sink posting
// its alerts to a receiver of its own.
type replica struct {
	reg      *prometheus.Registry
	rcv      *alerttest.Receiver
	pipeline *stream.Pipeline
	cancel   context.CancelFunc
	done     chan error
}

func startReplica(t *testing.T, broker, topic, group string) *replica {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	r := &replica{reg: prometheus.NewRegistry(), rcv: alerttest.NewReceiver(t, alerttest.Answer{Status: 204}), done: make(chan error, 1)}
	en, err := enrich.New(context.Background(), enrich.DefaultConfig(), nil, quiet)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.LogAlerts = false
	cfg.Webhook.Enabled, cfg.Webhook.Config.URL = true, r.rcv.URL
	det, err := open(context.Background(), cfg, deps(r.reg), http.DefaultClient)
	if err != nil {
		t.Fatal(err)
	}
	if r.pipeline, err = stream.New(stream.Options{Workers: 2, QueueDepth: 8, Enrichers: []stream.Enricher{en},
		Sinks: []stream.Sink{det}, DeadLetter: &sinktest.DeadLetter{}, Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	scfg := kafkasource.DefaultConfig()
	scfg.Brokers, scfg.Topics, scfg.GroupID = []string{broker}, []string{topic}, group
	scfg.CommitInterval, scfg.SessionTimeout, scfg.HeartbeatInterval = 100*time.Millisecond, 10*time.Second, time.Second
	scfg.RebalanceTimeout, scfg.DrainTimeout = 10*time.Second, 5*time.Second
	src, err := kafkasource.Open(context.Background(), scfg, source.Deps{Pipeline: r.pipeline, Registerer: r.reg, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- src.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// assigned is how many partitions the replica's consumer owns.
func (r *replica) assigned() int {
	mfs, _ := r.reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "flowhose_kafka_source_assigned_partitions" && len(mf.GetMetric()) == 1 {
			return int(mf.GetMetric()[0].GetGauge().GetValue())
		}
	}
	return 0
}

// stop stops the source, then closes the pipeline, which lets the engine
// finish and the alerts be delivered.
func (r *replica) stop(t *testing.T) {
	t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	if err := <-r.done; err != nil {
		t.Errorf("source: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.pipeline.Close(ctx); err != nil {
		t.Errorf("close pipeline: %v", err)
	}
}

// alerts are the replica's alerts by id: rule and count, and how often
// each was raised.
func (r *replica) alerts(t *testing.T) map[string]raised {
	t.Helper()
	out := map[string]raised{}
	for _, req := range r.rcv.Requests() {
		var a detect.Alert
		if err := json.Unmarshal(req.Body, &a); err != nil {
			t.Fatal(err)
		}
		x := out[a.ID]
		x.rule, x.count, x.times = a.Rule, a.Count, x.times+1
		out[a.ID] = x
	}
	return out
}

type raised struct {
	rule  string
	count uint64
	times int
}

// runFleet starts n replicas in one group on topic and waits until each
// owns its share of the partitions, so that none reads a partition
// another will own once the group is complete.
func runFleet(t *testing.T, broker, topic, group string, n int) []*replica {
	t.Helper()
	var fleet []*replica
	for range n {
		fleet = append(fleet, startReplica(t, broker, topic, group))
	}
	servicetest.Eventually(t, 60*time.Second, "the group never gave every replica its partitions", func() bool {
		for _, r := range fleet {
			if r.assigned() != exactPartitions/n {
				return false
			}
		}
		return true
	})
	return fleet
}

// finish waits until the group has committed every record, stops the
// replicas and merges their alerts.
func finish(t *testing.T, broker, topic, group string, fleet []*replica) (merged map[string]raised, per []int) {
	t.Helper()
	servicetest.Eventually(t, 60*time.Second, "the group never committed the end offsets", func() bool {
		return kafkatest.AllCommitted(broker, group, topic, exactPartitions)
	})
	merged = map[string]raised{}
	for _, r := range fleet {
		r.stop(t)
		a := r.alerts(t)
		per = append(per, len(a))
		for id, x := range a {
			if m, ok := merged[id]; ok {
				x.times += m.times
			}
			merged[id] = x
		}
	}
	return merged, per
}

func byRule(alerts map[string]raised) map[string]int {
	out := map[string]int{}
	for _, x := range alerts {
		out[x.rule]++
	}
	return out
}

// TestExactAtScale: two detection replicas in one consumer group, reading
// a topic keyed by source.ip, raise exactly the alerts (ids, counts, each
// once) one replica raises from the same topic; two replicas reading the
// same traffic written without a key (spread over the partitions) each see
// about half of every attack and miss most of them.
func TestExactAtScale(t *testing.T) {
	broker := kafkatest.Broker(t)
	recs := attackTraffic(rand.New(rand.NewPCG(10, 8)))
	keyed := kafkatest.NewTopic(t, broker, exactPartitions)
	unkeyed := kafkatest.NewTopic(t, broker, exactPartitions)

	// The pairs join before anything is written: a replica that ran alone
	// for a while would read partitions that later move to the other.
	keyedPair := runFleet(t, broker, keyed, "pair-"+keyed, 2)
	unkeyedPair := runFleet(t, broker, unkeyed, "pair-"+unkeyed, 2)
	produce(t, broker, keyed, "source.ip", recs)
	produce(t, broker, unkeyed, "", recs)
	two, perReplica := finish(t, broker, keyed, "pair-"+keyed, keyedPair)
	spread, _ := finish(t, broker, unkeyed, "pair-"+unkeyed, unkeyedPair)
	one, _ := finish(t, broker, keyed, "one-"+keyed, runFleet(t, broker, keyed, "one-"+keyed, 1))
	t.Logf("one replica: %d alerts; keyed pair: %d (%v per replica); unkeyed pair: %d %v", len(one), len(two), perReplica, len(spread), byRule(spread))

	if got := byRule(one); !maps.Equal(got, wantAlerts) {
		t.Errorf("one replica raised %v, want %v", got, wantAlerts)
	}
	for id, x := range one {
		if x.times != 1 {
			t.Errorf("one replica raised %s (%s) %d times", id, x.rule, x.times)
		}
	}
	if !maps.Equal(two, one) {
		for id, x := range one {
			if two[id] != x {
				t.Errorf("alert %s: one replica %+v, keyed pair %+v", id, x, two[id])
			}
		}
		for id, x := range two {
			if _, ok := one[id]; !ok {
				t.Errorf("alert %s only from the keyed pair: %+v", id, x)
			}
		}
	}
	for i, n := range perReplica {
		if n == 0 {
			t.Errorf("keyed replica %d raised nothing: the pair did not share the work", i)
		}
	}
	if len(spread) > len(one)/2 {
		t.Errorf("unkeyed pair raised %d of %d alerts (%v), want most missed", len(spread), len(one), byRule(spread))
	}
}
