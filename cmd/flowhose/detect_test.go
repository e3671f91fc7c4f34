package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowhose/flowhose/sinks/alert/alerttest"
	"github.com/flowhose/flowhose/stream/detect"
)

// TestReplayRaisesAlerts: `flowhose replay` with detections on sends the
// reject burst in a file to the webhook, once, and still writes every
// record to the NDJSON sink.
func TestReplayRaisesAlerts(t *testing.T) {
	rcv := alerttest.NewReceiver(t, alerttest.Answer{Status: 200})
	dir := t.TempDir()
	var lines strings.Builder
	for i := range 150 {
		ts := 1_780_002_000 + i
		fmt.Fprintf(&lines, "2 123456789012 eni-0web 91.240.118.5 10.0.1.10 %d 443 6 3 180 %d %d REJECT OK\n", 33000+i, ts-5, ts)
	}
	logs := filepath.Join(dir, "burst.log")
	if err := os.WriteFile(logs, []byte(lines.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.ndjson")
	cfg := writeConfig(t, fmt.Sprintf(`sinks:
  ndjson: {path: %q}
  dead_letter: {path: %q}
  detections:
    enabled: true
    webhook: {enabled: true, url: %q, secret: s3cret}
`, out, filepath.Join(dir, "dead.ndjson"), rcv.URL))
	var stderr bytes.Buffer
	if err := run(context.Background(), []string{"-config", cfg, "replay", logs}, &bytes.Buffer{}, &stderr); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	reqs := rcv.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d webhook requests, want 1\n%s", len(reqs), stderr.String())
	}
	var a detect.Alert
	if err := json.Unmarshal(reqs[0].Body, &a); err != nil || a.Rule != detect.RuleRejectBurst || a.NetworkACLEntry == nil ||
		a.NetworkACLEntry.CIDRBlock != "91.240.118.5/32" {
		t.Errorf("alert %+v (%v)", a, err)
	}
	if b, _ := os.ReadFile(out); bytes.Count(b, []byte("\n")) != 150 {
		t.Errorf("NDJSON has %d documents, want 150", bytes.Count(b, []byte("\n")))
	}
}
