package detections

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/flowhose/flowhose/sinks"
	"github.com/flowhose/flowhose/sinks/alert/alerttest"
	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/detect"
	"github.com/flowhose/flowhose/stream/detect/detecttest"
	"github.com/flowhose/flowhose/stream/sinktest"
)

func deps(reg prometheus.Registerer) sinks.Deps {
	return sinks.Deps{DeadLetter: &sinktest.DeadLetter{}, Registerer: reg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

// TestPipelineToWebhook runs a reject burst through a pipeline whose only
// sink is the detections sink: every batch is acknowledged while the
// webhook still answers 503, and the alert arrives once it recovers.
func TestPipelineToWebhook(t *testing.T) {
	rcv := alerttest.NewReceiver(t, alerttest.Answer{Status: 200}, alerttest.Answer{Status: 503}, alerttest.Answer{Status: 503})
	cfg := DefaultConfig()
	cfg.Webhook.Enabled, cfg.Webhook.Config.URL = true, rcv.URL
	cfg.Delivery.InitialBackoff, cfg.Delivery.MaxBackoff = 10*time.Millisecond, 20*time.Millisecond
	reg := prometheus.NewRegistry()
	s, err := open(context.Background(), cfg, deps(reg), http.DefaultClient)
	if err != nil {
		t.Fatal(err)
	}
	p, err := stream.New(stream.Options{Workers: 2, QueueDepth: 4, Sinks: []stream.Sink{s}, DeadLetter: &sinktest.DeadLetter{},
		Metrics: stream.NewMetrics(reg), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	var g detecttest.Traffic
	for i := range 300 {
		g.Flow(detecttest.T0+int64(i), "91.240.118.5", uint16(33000+i), "10.0.1.10", 443, 6, 3, 180, "REJECT")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := 0; i < len(g.Recs); i += 50 {
		b := &stream.Batch{Records: g.Recs[i : i+50], Ack: stream.NewAck()}
		if err := p.Submit(ctx, b); err != nil {
			t.Fatal(err)
		}
		b.Ack.Done(nil)
		if err := b.Ack.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	reqs := rcv.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d webhook requests, want 3 (503, 503, 200)", len(reqs))
	}
	var a detect.Alert
	if err := json.Unmarshal(reqs[2].Body, &a); err != nil || a.Rule != detect.RuleRejectBurst || a.NetworkACLEntry == nil {
		t.Errorf("alert %+v (%v)", a, err)
	}
	if n := testutil.ToFloat64(s.dropped); n != 0 {
		t.Errorf("dropped %v records", n)
	}
}

// TestFullQueueSkipsDetection: a batch the queue cannot take is skipped by
// detection, counted, and acknowledged at once.
func TestFullQueueSkipsDetection(t *testing.T) {
	cfg := DefaultConfig()
	cfg.QueueRecords = minQueueRecords
	s, err := open(context.Background(), cfg, deps(nil), http.DefaultClient)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	b := &stream.Batch{Records: make([]stream.Record, minQueueRecords+1), Ack: stream.NewAck()}
	if err := s.Accept(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	select {
	case <-b.Ack.Completed():
	case <-time.After(time.Second):
		t.Fatal("batch not acknowledged")
	}
	if n := testutil.ToFloat64(s.dropped); n != minQueueRecords+1 {
		t.Errorf("dropped = %v", n)
	}
}

func TestValidatePrefixesKeys(t *testing.T) {
	cfg := DefaultConfig()
	cfg.QueueRecords = 1
	cfg.Delivery.MaxElapsed = 0
	cfg.Slack.Enabled = true
	cfg.PagerDuty.Enabled = true
	cfg.Rules.PortScanInbound.Threshold = 0
	err := cfg.Validate()
	for _, want := range []string{"queue_records:", "delivery.max_elapsed:", "slack.webhook_url:", "pagerduty.routing_key:",
		"rules.port_scan_inbound.threshold:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}
