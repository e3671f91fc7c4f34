// Package alerttest has what alert destinations are tested with: a sample
// alert and a local HTTP receiver that answers from a script (429s and
// 5xx for a while) and records what it was sent.
package alerttest

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/flowhose/flowhose/internal/servicetest"
	"github.com/flowhose/flowhose/sinks/alert"
	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/detect"
	"github.com/flowhose/flowhose/stream/sinktest"
)

// Sample is a reject-burst alert with every part filled in.
func Sample() *detect.Alert {
	w := time.Date(2026, 5, 28, 21, 0, 0, 0, time.UTC)
	return &detect.Alert{
		ID: "3f6c1b0e9d2a4c5b8e7f6a5b4c3d2e1f", Rule: detect.RuleRejectBurst, Severity: "high",
		Summary:     "reject_burst (high): flows 150 ≥ 100 in 5m0s for source.ip=91.240.118.5",
		Key:         []detect.KeyField{{Field: "source.ip", Value: "91.240.118.5"}},
		WindowStart: w, WindowEnd: w.Add(5 * time.Minute), Measure: "flows", Count: 150, Threshold: 100,
		FirstSeen: w.Add(3 * time.Second), LastSeen: w.Add(150 * time.Second),
		Asset: detect.Asset{InterfaceID: "eni-0web", InstanceID: "i-0web", InstanceName: "web-1", SubnetID: "subnet-0app",
			VPCID: "vpc-01", AccountID: "123456789012", Region: "eu-west-1", Tags: map[string]string{"env": "prod"}},
		Source:      detect.Endpoint{IP: "91.240.118.5", Port: 33000, Class: "public"},
		Destination: detect.Endpoint{IP: "10.0.1.10", Port: 443, Class: "private"},
		SampleIDs:   []string{"AAAAAAAAAAAAAAAAAAAAAA", "BBBBBBBBBBBBBBBBBBBBBB"},
		Suppressed:  3,
		NetworkACLEntry: &detect.NetworkACLEntry{SubnetID: "subnet-0app", RuleAction: "deny", Protocol: "6",
			CIDRBlock: "91.240.118.5/32", PortRange: &detect.PortRange{From: 443, To: 443},
			Command: "aws ec2 create-network-acl-entry --network-acl-id <acl of subnet-0app> --ingress --rule-number <n> --rule-action deny --protocol 6 --port-range From=443,To=443 --cidr-block 91.240.118.5/32"},
	}
}

// Answer is one scripted response.
type Answer struct {
	Status     int
	RetryAfter string
	Body       string
}

// Request is what the receiver was sent.
type Request struct {
	Header http.Header
	Body   []byte
	At     time.Time
}

// Receiver is a local HTTP endpoint answering from a script, then with
// its final answer.
type Receiver struct {
	*httptest.Server
	mu       sync.Mutex
	script   []Answer
	final    Answer
	requests []Request
}

// NewReceiver starts a receiver closed with the test.
func NewReceiver(t *testing.T, final Answer, script ...Answer) *Receiver {
	r := &Receiver{script: script, final: final}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.Close)
	return r
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.requests = append(r.requests, Request{Header: req.Header.Clone(), Body: body, At: time.Now()})
	a := r.final
	if len(r.script) > 0 {
		a, r.script = r.script[0], r.script[1:]
	}
	r.mu.Unlock()
	if a.RetryAfter != "" {
		w.Header().Set("Retry-After", a.RetryAfter)
	}
	w.WriteHeader(a.Status)
	io.WriteString(w, a.Body)
}

// Requests returns what was received so far.
func (r *Receiver) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Request(nil), r.requests...)
}

// Deliver runs d through a Dispatcher with quick backoff (Retry-After
// still honoured) until every alert is delivered or dead-lettered, and
// returns the dead letters.
func Deliver(t *testing.T, d alert.Destination, alerts ...*detect.Alert) []stream.Failure {
	t.Helper()
	cfg := alert.DefaultRetry()
	cfg.InitialBackoff, cfg.MaxBackoff, cfg.MaxElapsed = 10*time.Millisecond, 50*time.Millisecond, 20*time.Second
	dl := &sinktest.DeadLetter{}
	disp := alert.NewDispatcher([]alert.Destination{d}, cfg, dl, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	for _, a := range alerts {
		disp.Deliver(*a)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := disp.Close(ctx); err != nil {
		t.Fatal(err)
	}
	return dl.Failures()
}

// ServiceURL returns the URL of a test service from the environment
// variable env (FLOWHOSE_TEST_MOTO_URL, FLOWHOSE_TEST_ES_URL), skipping the
// test when it is unset, or failing it when FLOWHOSE_REQUIRE_SERVICES says
// the services must run.
func ServiceURL(t *testing.T, env string) string {
	t.Helper()
	return servicetest.Env(t, env)
}
