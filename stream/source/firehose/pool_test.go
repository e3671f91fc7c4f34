package firehose

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/decode"
	"github.com/flowhose/flowhose/stream/sinktest"
)

// The fast path takes what Firehose sends; the rest is left to
// encoding/json.
func TestScanShapes(t *testing.T) {
	sample, err := os.ReadFile("../../../testdata/firehose/request.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		body  string
		fast  bool
		spans int
	}{
		{string(sample), true, 5},
		{body(requestID, lineAccept, lineReject), true, 2},
		{body(requestID), true, 0},
		{" {\n\"requestId\" : \"x\",\t\"timestamp\":0,\"records\":[ {\"data\":\"\"} ]}\r\n", true, 1},
		{`{"requestId":"x","records":[],"other":"y","other":-12}`, true, 0},
		{`{"requestId":"x\u0041","records":[]}`, false, 0},
		{`{"requestId":"x","records":[{"data":"MiAt\/"}]}`, false, 0},
		{`{"requestId":"x","records":[{"data":"MiAt","id":1}]}`, false, 0},
		{"{\"requestId\":\"x\",\"records\":[{\"data\":\"MiAt\nMiAt\"}]}", false, 0},
		{"{\"requestId\":\"x\",\"records\":[{\"data\":\"MiAt\rMiAt\"}]}", false, 0},
		// Base64 decoding refuses these as encoding/json's does.
		{"{\"requestId\":\"x\",\"records\":[{\"data\":\"Mi\tAt!é\x00\"}]}", true, 1},
		{`{"requestId":"x","records":[],"timestamp":1.5e3,"tags":["a",null,true]}`, true, 0},
		{`{"requestId":"x","records":[],"other":{"a":1}}`, false, 0},
		{`{"requestId":"x","records":[],"timestamp":01}`, false, 0},
		{`{"requestId":"x","records":[],"records":[]}`, false, 0},
		{`{"requestId":"","records":[]}`, false, 0},
		{`{"requestId":"x","records":[]} {}`, false, 0},
	} {
		id, spans, ok, _ := scan([]byte(tt.body), nil, noGrow)
		if ok != tt.fast || ok && (id == "" || len(spans) != tt.spans) {
			t.Errorf("scan(%q) = %q, %d spans, %v; want fast path %v with %d spans", tt.body, id, len(spans), ok, tt.fast, tt.spans)
		}
	}
}

// keepSink settles batches only when told, and keeps them to look at.
type keepSink struct {
	mu      sync.Mutex
	batches []*stream.Batch
}

func (s *keepSink) Name() string { return "keep" }

func (s *keepSink) Accept(_ context.Context, b *stream.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches = append(s.batches, b)
	return nil
}

func (s *keepSink) Close(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.batches {
		b.Ack.Done(nil)
	}
	s.batches = nil
	return nil
}

// A request that gave up leaves its batch with the sink: the record array
// that batch points into must not be handed to the next request. Every
// request sends lines of its own (by source port), so a reused array shows
// as two batches holding one request's line. Under load some batches are
// abandoned before the sink sees them; which ones does not matter.
func TestRecordArraysReusedOnlyWhenSettled(t *testing.T) {
	sink := &keepSink{}
	p, err := stream.New(stream.Options{Workers: 1, QueueDepth: 4, Sinks: []stream.Sink{sink}, DeadLetter: &sinktest.DeadLetter{}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	cfg := DefaultConfig()
	cfg.AckTimeout = 50 * time.Millisecond
	h, err := New(cfg, decode.Options{}, Deps{Pipeline: p})
	if err != nil {
		t.Fatal(err)
	}
	posted := map[string]bool{}
	for i := range 40 {
		line := strings.Replace(lineAccept, " 20641 ", fmt.Sprintf(" %d ", 30000+i), 1)
		posted[line] = true
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/firehose", strings.NewReader(body(requestID, line, line))))
		if w.Code != http.StatusServiceUnavailable {
			t.Fatalf("status %d, want 503 from a sink that never settles", w.Code)
		}
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.batches) == 0 {
		t.Fatal("the sink saw no batch")
	}
	seen := map[string]int{}
	for i, b := range sink.batches {
		for _, r := range b.Records {
			if !posted[r.Raw] || r.Raw != b.Records[0].Raw || !strings.HasPrefix(r.InterfaceID, "eni-") {
				t.Fatalf("batch %d holds %q next to %q: its records were reused before it was settled", i, r.Raw, b.Records[0].Raw)
			}
		}
		if j, dup := seen[b.Records[0].Raw]; dup {
			t.Fatalf("batches %d and %d hold the same request's line: one's records were reused before it was settled", j, i)
		}
		seen[b.Records[0].Raw] = i
	}
}

func noGrow(int64) error { return nil }
