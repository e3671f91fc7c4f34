package firehose

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/decode"
	"github.com/flowhose/flowhose/stream/membudget"
	"github.com/flowhose/flowhose/stream/sinktest"
	"github.com/flowhose/flowhose/stream/source/accesskey"
)

const (
	lineAccept = "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK"
	lineReject = "2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 3389 6 20 4249 1418530010 1418530070 REJECT OK"
	lineBad    = "2 123456789010 eni-1235b8ca123456789 172.31.16.139 not-an-address 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK"
	requestID  = "ed4acda5-034f-9f42-bba1-f29aea6d7d8f"
)

type env struct {
	h    *Handler
	p    *stream.Pipeline
	sink *sinktest.Sink
	dl   *sinktest.DeadLetter
	reg  *prometheus.Registry
}

type envOpts struct {
	cfg       func(*Config)
	enrichers []stream.Enricher
	queue     int
	unblock   func() // releases enrichers before the pipeline closes
	budget    *membudget.Budget
}

func newEnv(t *testing.T, o envOpts) *env {
	t.Helper()
	e := &env{sink: sinktest.NewSink("rec"), dl: &sinktest.DeadLetter{}, reg: prometheus.NewRegistry()}
	queue := o.queue
	if queue == 0 {
		queue = 8
	}
	p, err := stream.New(stream.Options{Workers: 1, QueueDepth: queue, Sinks: []stream.Sink{e.sink},
		DeadLetter: e.dl, Enrichers: o.enrichers})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if o.unblock != nil {
			o.unblock()
		}
		e.sink.Release()
		if err := p.Close(context.Background()); err != nil {
			t.Error(err)
		}
		if n := e.sink.Pending(); n != 0 {
			t.Errorf("%d batches never settled", n)
		}
	})
	cfg := DefaultConfig()
	cfg.AccessKeys = []string{"key-one", "key-two"}
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	e.p = p
	e.h, err = New(cfg, decode.Options{}, Deps{Pipeline: p, Budget: o.budget, Registerer: e.reg})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// body builds a request body whose records carry the given payloads.
func body(id string, payloads ...string) string {
	type rec struct {
		Data string `json:"data"`
	}
	req := struct {
		RequestID string `json:"requestId,omitempty"`
		Timestamp int64  `json:"timestamp"`
		Records   []rec  `json:"records"`
	}{RequestID: id, Timestamp: 1578090901599, Records: []rec{}}
	for _, p := range payloads {
		req.Records = append(req.Records, rec{base64.StdEncoding.EncodeToString([]byte(p))})
	}
	b, _ := json.Marshal(req)
	return string(b)
}

func gz(s string) string {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	_, _ = w.Write([]byte(s))
	_ = w.Close()
	return buf.String()
}

type call struct {
	method, body, key, encoding string
}

func (e *env) do(c call) *httptest.ResponseRecorder {
	if c.method == "" {
		c.method = http.MethodPost
	}
	r := httptest.NewRequest(c.method, "/firehose", strings.NewReader(c.body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set(headerRequestID, requestID)
	r.Header.Set(headerSourceARN, "arn:aws:firehose:us-east-1:123456789010:deliverystream/test")
	if c.key != "" {
		r.Header.Set(accesskey.Header, c.key)
	}
	if c.encoding != "" {
		r.Header.Set("Content-Encoding", c.encoding)
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w
}

type decodedResponse struct {
	RequestID    string      `json:"requestId"`
	Timestamp    json.Number `json:"timestamp"`
	ErrorMessage *string     `json:"errorMessage"`
}

// checkResponse asserts the response contract for any status.
func checkResponse(t *testing.T, w *httptest.ResponseRecorder, wantCode int, wantMsg string) decodedResponse {
	t.Helper()
	if w.Code != wantCode {
		t.Fatalf("status = %d, want %d; body %s", w.Code, wantCode, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	if w.Header().Get("Content-Encoding") != "" {
		t.Error("response must not be encoded")
	}
	if cl := w.Header().Get("Content-Length"); cl == "" {
		t.Error("Content-Length missing")
	}
	dec := json.NewDecoder(w.Body)
	dec.UseNumber()
	var resp decodedResponse
	if err := dec.Decode(&resp); err != nil {
		t.Fatalf("response body: %v", err)
	}
	if resp.RequestID != requestID {
		t.Errorf("requestId = %q, want %q", resp.RequestID, requestID)
	}
	ts, err := resp.Timestamp.Int64()
	if err != nil || ts < time.Now().Add(-time.Hour).UnixMilli() {
		t.Errorf("timestamp = %q, want an integer of current milliseconds", resp.Timestamp)
	}
	switch {
	case wantCode == http.StatusOK && resp.ErrorMessage != nil:
		t.Errorf("errorMessage on success: %q", *resp.ErrorMessage)
	case wantCode != http.StatusOK && resp.ErrorMessage == nil:
		t.Error("errorMessage missing on failure")
	case wantCode != http.StatusOK && !strings.Contains(*resp.ErrorMessage, wantMsg):
		t.Errorf("errorMessage = %q, want it to contain %q", *resp.ErrorMessage, wantMsg)
	}
	return resp
}

func TestStatusCodes(t *testing.T) {
	good := body(requestID, lineAccept)
	tests := []struct {
		name     string
		cfg      func(*Config)
		call     call
		wantCode int
		wantMsg  string
		records  int
	}{
		{"ok", nil, call{body: good, key: "key-one"}, 200, "", 1},
		{"second key", nil, call{body: good, key: "key-two"}, 200, "", 1},
		{"gzip", nil, call{body: gz(good), key: "key-one", encoding: "gzip"}, 200, "", 1},
		{"empty records", nil, call{body: body(requestID), key: "key-one"}, 200, "", 0},
		{"auth off", func(c *Config) { c.AccessKeys = nil }, call{body: good}, 200, "", 1},
		{"GET", nil, call{method: http.MethodGet, key: "key-one"}, 405, "POST", 0},
		{"wrong key", nil, call{body: good, key: "key-three"}, 401, "access key", 0},
		{"key prefix", nil, call{body: good, key: "key-on"}, 401, "access key", 0},
		{"no key", nil, call{body: good}, 401, "access key", 0},
		{"malformed JSON", nil, call{body: `{"requestId":"` + requestID + `","records":[`, key: "key-one"}, 400, "malformed", 0},
		{"trailing data", nil, call{body: good + "{}", key: "key-one"}, 400, "after the JSON object", 0},
		{"not an object", nil, call{body: `[]`, key: "key-one"}, 400, "malformed", 0},
		{"missing requestId", nil, call{body: body("", lineAccept), key: "key-one"}, 400, "requestId", 0},
		{"missing records", nil, call{body: `{"requestId":"` + requestID + `"}`, key: "key-one"}, 400, "records", 0},
		{"bad base64", nil, call{body: `{"requestId":"` + requestID + `","records":[{"data":"!!!"}]}`, key: "key-one"}, 400, "records[0]", 0},
		{"bad gzip", nil, call{body: good, key: "key-one", encoding: "gzip"}, 400, "gzip", 0},
		{"unknown encoding", nil, call{body: good, key: "key-one", encoding: "br"}, 415, "Content-Encoding", 0},
		{"body limit", func(c *Config) { c.MaxBodyBytes = int64(len(good) - 1) }, call{body: good, key: "key-one"}, 413, "too large", 0},
		{"body at limit", func(c *Config) { c.MaxBodyBytes = int64(len(good)) }, call{body: good, key: "key-one"}, 200, "", 1},
		{"decompressed limit", func(c *Config) { c.MaxDecompressedBytes = int64(len(good) - 1) },
			call{body: gz(good), key: "key-one", encoding: "gzip"}, 413, "too large", 0},
		{"decompressed at limit", func(c *Config) { c.MaxDecompressedBytes = int64(len(good)) },
			call{body: gz(good), key: "key-one", encoding: "gzip"}, 200, "", 1},
		{"record limit", func(c *Config) { c.MaxRecords = 2 },
			call{body: body(requestID, lineAccept, lineAccept+"\n"+lineAccept), key: "key-one"}, 413, "max_records 2", 0},
		{"records at limit", func(c *Config) { c.MaxRecords = 2 },
			call{body: body(requestID, lineAccept, lineAccept), key: "key-one"}, 200, "", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, envOpts{cfg: tt.cfg})
			w := e.do(tt.call)
			checkResponse(t, w, tt.wantCode, tt.wantMsg)
			if tt.wantCode == http.StatusMethodNotAllowed && w.Header().Get("Allow") != http.MethodPost {
				t.Errorf("Allow = %q", w.Header().Get("Allow"))
			}
			if got := e.sink.Accepted(); got != tt.records {
				t.Errorf("sink got %d records, want %d", got, tt.records)
			}
			code := testutil.ToFloat64(e.h.m.requests.WithLabelValues(strconv.Itoa(tt.wantCode)))
			if code != 1 {
				t.Errorf("requests_total{code=%d} = %v", tt.wantCode, code)
			}
		})
	}
}

// post runs a request in the background; the response arrives on the channel.
func (e *env) post(c call) <-chan *httptest.ResponseRecorder {
	ch := make(chan *httptest.ResponseRecorder, 1)
	go func() { ch <- e.do(c) }()
	return ch
}

func TestOKOnlyAfterAck(t *testing.T) {
	e := newEnv(t, envOpts{cfg: func(c *Config) { c.BatchSize = 1 }})
	e.sink.Hold()
	resp := e.post(call{body: body(requestID, lineAccept, lineReject), key: "key-one"})
	if err := e.sink.WaitBatches(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	// Both batches are with the sink and unsettled: the handler must still
	// be waiting. A short grace period gives a wrong handler time to answer.
	select {
	case w := <-resp:
		t.Fatalf("responded %d before the sink acknowledged", w.Code)
	case <-time.After(50 * time.Millisecond):
	}
	e.sink.Release()
	checkResponse(t, <-resp, http.StatusOK, "")
}

func TestServiceUnavailable(t *testing.T) {
	tests := []struct {
		name    string
		opts    func(t *testing.T) envOpts
		setup   func(*env)
		bodyArg string
		wantMsg string
	}{
		{"sink error", nil, func(e *env) { e.sink.SetErr(errors.New("index unavailable")) },
			body(requestID, lineAccept), "index unavailable"},
		{"sink refuses", nil, func(e *env) { e.sink.SetRefuse(errors.New("saturated")) },
			body(requestID, lineAccept), "saturated"},
		{"dead-letter fails", nil, func(e *env) { e.dl.SetErr(errors.New("disk full")) },
			body(requestID, lineAccept, lineBad), "disk full"},
		{"ack timeout", func(*testing.T) envOpts {
			return envOpts{cfg: func(c *Config) { c.AckTimeout = 20 * time.Millisecond }}
		}, func(e *env) { e.sink.Hold() }, body(requestID, lineAccept), "not acknowledged within ack_timeout 20ms"},
		// One worker stuck in enrichment, one batch queued: the third
		// batch cannot be queued before the deadline.
		{"queue full", func(t *testing.T) envOpts {
			blocker := make(chan struct{})
			return envOpts{
				cfg:       func(c *Config) { c.BatchSize = 1; c.AckTimeout = 20 * time.Millisecond },
				queue:     1,
				enrichers: []stream.Enricher{blockingEnricher(blocker)},
				unblock:   func() { close(blocker) },
			}
		}, func(*env) {}, body(requestID, lineAccept, lineReject, lineAccept), "busy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o envOpts
			if tt.opts != nil {
				o = tt.opts(t)
			}
			e := newEnv(t, o)
			tt.setup(e)
			checkResponse(t, e.do(call{body: tt.bodyArg, key: "key-one"}), http.StatusServiceUnavailable, tt.wantMsg)
		})
	}
}

type blockingEnricher chan struct{}

func (b blockingEnricher) Enrich(ctx context.Context, _ []stream.Record) { <-b }

func TestBadRecordsDeadLettered(t *testing.T) {
	e := newEnv(t, envOpts{cfg: func(c *Config) { c.BatchSize = 2 }})
	w := e.do(call{body: body(requestID, lineAccept, lineBad, lineReject, lineAccept, lineReject), key: "key-one"})
	checkResponse(t, w, http.StatusOK, "")
	recs := e.sink.Records()
	if len(recs) != 4 || e.sink.Batches() != 2 {
		t.Fatalf("sink got %d records in %d batches, want 4 in 2", len(recs), e.sink.Batches())
	}
	if recs[0].Raw != lineAccept || recs[1].Raw != lineReject {
		t.Errorf("records out of order: %q, %q", recs[0].Raw, recs[1].Raw)
	}
	fs := e.dl.Failures()
	if len(fs) != 1 || fs[0].Input != lineBad || fs[0].Source != "firehose" || fs[0].Ref != "request "+requestID+" records[1]" {
		t.Fatalf("dead letters = %+v", fs)
	}
	if got := testutil.ToFloat64(e.h.m.failures); got != 1 {
		t.Errorf("decode_failures_total = %v", got)
	}
	if got := testutil.ToFloat64(e.h.m.records); got != 4 {
		t.Errorf("records_total = %v", got)
	}
}

func TestOnlyBadRecords(t *testing.T) {
	e := newEnv(t, envOpts{})
	checkResponse(t, e.do(call{body: body(requestID, lineBad), key: "key-one"}), http.StatusOK, "")
	if len(e.dl.Failures()) != 1 || e.sink.Batches() != 0 {
		t.Fatalf("dead letters %d, sink batches %d", len(e.dl.Failures()), e.sink.Batches())
	}
}

// TestSampleRequest posts the README's quick-start request.
func TestSampleRequest(t *testing.T) {
	for _, file := range []string{"request.json", "request.json.gz"} {
		t.Run(file, func(t *testing.T) {
			data, err := os.ReadFile("../../../testdata/firehose/" + file)
			if err != nil {
				t.Fatal(err)
			}
			enc := ""
			if strings.HasSuffix(file, ".gz") {
				enc = "gzip"
			}
			e := newEnv(t, envOpts{})
			checkResponse(t, e.do(call{body: string(data), key: "key-one", encoding: enc}), http.StatusOK, "")
			// A plain line, a {"message"} wrapper, a NODATA line and two
			// CloudWatch Logs events; one malformed line.
			var raws []string
			for _, r := range e.sink.Records() {
				raws = append(raws, r.Raw)
			}
			if len(raws) != 5 {
				t.Fatalf("records = %q, want 5", raws)
			}
			if fs := e.dl.Failures(); len(fs) != 1 || !strings.Contains(fs[0].Input, "not-an-address") {
				t.Fatalf("dead letters = %+v", fs)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	tests := []struct {
		name string
		mut  func(*Config)
		want string
	}{
		{"path", func(c *Config) { c.Path = "firehose" }, `path: must start with /, got "firehose"`},
		{"empty key", func(c *Config) { c.AccessKeys = []string{"a", ""} }, "access_keys[1]: must be 1 to 4096 bytes, got 0"},
		{"body", func(c *Config) { c.MaxBodyBytes = 0 }, "max_body_bytes: must be between 1 and 1073741824, got 0"},
		{"decompressed", func(c *Config) { c.MaxDecompressedBytes = -1 }, "max_decompressed_bytes: must be between 1"},
		{"batch", func(c *Config) { c.BatchSize = 0 }, "batch_size: must be between 1 and 100000, got 0"},
		{"timeout", func(c *Config) { c.AckTimeout = 0 }, "ack_timeout: must be between"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mut(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
}
