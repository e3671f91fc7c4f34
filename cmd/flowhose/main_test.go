package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowhose/flowhose/stream/sinktest"
)

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"version"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "flowhose ") || !strings.Contains(out.String(), "commit ") {
		t.Fatalf("version output %q", out.String())
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		code int
	}{
		{nil, 2},
		{[]string{"frobnicate"}, 2},
		{[]string{"config"}, 2},
		{[]string{"config", "check", "-nope"}, 2},
		{[]string{"serve", "-h"}, 0},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stderr bytes.Buffer
			err := run(context.Background(), tt.args, io.Discard, &stderr)
			if got := exitCode(err, io.Discard); got != tt.code {
				t.Fatalf("exit code %d, want %d (err %v, stderr %q)", got, tt.code, err, stderr.String())
			}
		})
	}
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "flowhose.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestConfigCheck(t *testing.T) {
	tests := []struct {
		name       string
		config     string
		env        map[string]string
		globalFlag bool
		code       int
		stdout     []string // substrings of standard output
		notStdout  []string
		stderr     []string
	}{
		{
			name:      "valid with secrets redacted",
			config:    "sources:\n  firehose:\n    access_keys: [s3cr3t-one, s3cr3t-two]\n",
			stdout:    []string{"listen: 127.0.0.1:8080", "access_keys:\n      - REDACTED\n      - REDACTED", "shutdown_timeout: 30s"},
			notStdout: []string{"s3cr3t"},
		},
		{
			name:       "global flag and environment override",
			config:     "http:\n  listen: \"127.0.0.1:9000\"\n",
			env:        map[string]string{"FLOWHOSE_PIPELINE_QUEUE_DEPTH": "7"},
			globalFlag: true,
			stdout:     []string{"listen: 127.0.0.1:9000", "queue_depth: 7"},
		},
		{
			name:   "every error listed",
			config: "log:\n  level: loud\npipeline:\n  workers: -1\n",
			code:   1,
			stderr: []string{`log.level: must be debug, info, warn or error, got "loud"`, "pipeline.workers: must be between 0 (twice GOMAXPROCS) and 1024, got -1"},
		},
		{
			name:   "typo",
			config: "http:\n  lisen: x\n",
			code:   1,
			stderr: []string{"line 2", "lisen"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			path := writeConfig(t, tt.config)
			args := []string{"config", "check", "-config", path}
			if tt.globalFlag {
				args = []string{"-config", path, "config", "check"}
			}
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), args, &stdout, &stderr)
			if got := exitCode(err, &stderr); got != tt.code {
				t.Fatalf("exit code %d, want %d; stderr:\n%s", got, tt.code, stderr.String())
			}
			for _, s := range tt.stdout {
				if !strings.Contains(stdout.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, stdout.String())
				}
			}
			for _, s := range tt.notStdout {
				if strings.Contains(stdout.String(), s) {
					t.Errorf("stdout contains %q", s)
				}
			}
			for _, s := range tt.stderr {
				if !strings.Contains(stderr.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr.String())
				}
			}
		})
	}
}

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// server is a `flowhose serve` running in the test process.
type server struct {
	base   string
	cancel context.CancelFunc
	done   chan struct{}
	err    error // run's result, once done is closed
	stderr *sinktest.Buffer
}

// wait returns run's result once serve has exited.
func (s *server) wait() error {
	<-s.done
	return s.err
}

func startServe(t *testing.T, configText string, stdout io.Writer) *server {
	t.Helper()
	addr := freeAddr(t)
	t.Setenv("FLOWHOSE_HTTP_LISTEN", addr)
	path := writeConfig(t, configText)
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{base: "http://" + addr, cancel: cancel, done: make(chan struct{}), stderr: &sinktest.Buffer{}}
	go func() {
		s.err = run(ctx, []string{"-config", path, "serve"}, stdout, s.stderr)
		close(s.done)
	}()
	t.Cleanup(func() {
		cancel()
		s.wait()
	})
	for {
		resp, err := http.Get(s.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case <-s.done:
			t.Fatalf("serve exited early: %v\n%s", s.err, s.stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (s *server) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(s.base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func postFirehose(base string) (int, string, error) {
	body, err := os.ReadFile(filepath.Join("..", "..", "testdata", "firehose", "request.json"))
	if err != nil {
		return 0, "", err
	}
	req, err := http.NewRequest(http.MethodPost, base+"/firehose", bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Amz-Firehose-Protocol-Version", "1.0")
	req.Header.Set("X-Amz-Firehose-Request-Id", "ed4acda5-034f-9f42-bba1-f29aea6d7d8f")
	req.Header.Set("X-Amz-Firehose-Access-Key", "test-key")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func ndjsonLines(t *testing.T, data string) []map[string]any {
	t.Helper()
	var docs []map[string]any
	for line := range strings.Lines(data) {
		var doc map[string]any
		if err := json.Unmarshal([]byte(line), &doc); err != nil {
			t.Fatalf("not a JSON line: %q: %v", line, err)
		}
		docs = append(docs, doc)
	}
	return docs
}

func TestServeEndToEnd(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "flows.ndjson")
	dl := filepath.Join(dir, "dead.ndjson")
	s := startServe(t, fmt.Sprintf(`sources:
  firehose:
    access_keys: [test-key]
sinks:
  ndjson:
    path: %q
  dead_letter:
    path: %q
`, out, dl), io.Discard)

	if code, body := s.get(t, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d %q", code, body)
	}
	code, body, err := postFirehose(s.base)
	if err != nil {
		t.Fatal(err)
	}
	if code != http.StatusOK || !strings.Contains(body, `"requestId":"ed4acda5-034f-9f42-bba1-f29aea6d7d8f"`) {
		t.Fatalf("firehose answered %d %s", code, body)
	}
	// A 200 means every record is already written.
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	docs := ndjsonLines(t, string(data))
	if len(docs) < 3 {
		t.Fatalf("got %d documents, want at least 3:\n%s", len(docs), data)
	}
	for _, want := range []string{"172.31.16.139", "172.31.9.69"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("output lacks %s", want)
		}
	}
	bad, err := os.ReadFile(dl)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(bad), "not-an-address") {
		t.Errorf("dead-letter file lacks the bad line:\n%s", bad)
	}

	code, metrics := s.get(t, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics = %d", code)
	}
	for _, want := range []string{
		"flowhose_build_info{",
		fmt.Sprintf("flowhose_ndjson_records_total %d", len(docs)),
		`flowhose_firehose_requests_total{code="200"} 1`,
		"flowhose_pipeline_records_total",
		"flowhose_deadletter_records_total{source=",
		"go_goroutines",
		"process_open_fds",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	// Unauthenticated requests are refused.
	req, _ := http.NewRequest(http.MethodPost, s.base+"/firehose", strings.NewReader(`{"requestId":"x","timestamp":1,"records":[]}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("request without access key: %d, want 401", resp.StatusCode)
	}

	s.cancel()
	if err := s.wait(); err != nil {
		t.Fatalf("serve returned %v", err)
	}
	if !strings.Contains(s.stderr.String(), `"msg":"drained"`) {
		t.Errorf("no drained log line:\n%s", s.stderr.String())
	}
}

// TestServeDrainsInFlightRequest cancels serve while a request waits for a
// slow sink: readiness must fail, the request must still get 200 and its
// records must be written before serve returns.
func TestServeDrainsInFlightRequest(t *testing.T) {
	gate := newGateWriter()
	s := startServe(t, fmt.Sprintf(`http:
  shutdown_delay: 2s
sinks:
  dead_letter:
    path: %q
`, filepath.Join(t.TempDir(), "dead.ndjson")), gate)

	type result struct {
		code int
		body string
		err  error
	}
	answered := make(chan result, 1)
	go func() {
		code, body, err := postFirehose(s.base)
		answered <- result{code, body, err}
	}()
	<-gate.entered // the sink is writing the request's batch
	s.cancel()

	sawNotReady := false
	for !sawNotReady {
		resp, err := http.Get(s.base + "/readyz")
		if err != nil {
			t.Fatalf("listener closed before readiness was seen failing: %v", err)
		}
		resp.Body.Close()
		sawNotReady = resp.StatusCode == http.StatusServiceUnavailable
	}
	select {
	case r := <-answered:
		t.Fatalf("request answered before its batch was written: %+v", r)
	default:
	}
	gate.release()
	r := <-answered
	if r.err != nil || r.code != http.StatusOK {
		t.Fatalf("in-flight request: %d %s %v", r.code, r.body, r.err)
	}
	if err := s.wait(); err != nil {
		t.Fatalf("serve returned %v", err)
	}
	if docs := ndjsonLines(t, gate.String()); len(docs) < 3 {
		t.Fatalf("got %d documents after drain", len(docs))
	}
}

// TestServeShutdownTimeout checks that a drain that cannot finish ends
// with an error (exit status 1) after http.shutdown_timeout.
func TestServeShutdownTimeout(t *testing.T) {
	gate := newGateWriter()
	t.Cleanup(gate.release)
	s := startServe(t, fmt.Sprintf(`http:
  shutdown_timeout: 1s
sinks:
  dead_letter:
    path: %q
`, filepath.Join(t.TempDir(), "dead.ndjson")), gate)
	go postFirehose(s.base)
	<-gate.entered
	s.cancel()
	err := s.wait()
	if err == nil || !strings.Contains(err.Error(), "not drained within http.shutdown_timeout 1s") {
		t.Fatalf("serve returned %v, want the shutdown timeout", err)
	}
}

// gateWriter blocks every write until released, and says when the first
// write arrives.
type gateWriter struct {
	entered  chan struct{}
	open     chan struct{}
	once     sync.Once
	release1 sync.Once
	mu       sync.Mutex
	buf      bytes.Buffer
}

func newGateWriter() *gateWriter {
	return &gateWriter{entered: make(chan struct{}), open: make(chan struct{})}
}

func (g *gateWriter) Write(p []byte) (int, error) {
	g.once.Do(func() { close(g.entered) })
	<-g.open
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.buf.Write(p)
}

func (g *gateWriter) release() { g.release1.Do(func() { close(g.open) }) }

func (g *gateWriter) String() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.buf.String()
}

func TestServeTransform(t *testing.T) {
	s := startServe(t, fmt.Sprintf(`sources:
  transform:
    enabled: true
sinks:
  dead_letter:
    path: %q
`, filepath.Join(t.TempDir(), "dead.ndjson")), io.Discard)
	body, err := os.ReadFile(filepath.Join("testdata", "transform-event.json"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(s.base+"/firehose/transform", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct {
		Records []struct {
			RecordID string `json:"recordId"`
			Result   string `json:"result"`
			Data     []byte `json:"data"`
		} `json:"records"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, decode error %v", resp.StatusCode, err)
	}
	if len(got.Records) != 2 {
		t.Fatalf("got %d records, want 2", len(got.Records))
	}
	for i, r := range got.Records {
		if r.RecordID != fmt.Sprintf("r%d", i) || r.Result != "Ok" {
			t.Errorf("record %d: %+v", i, r)
		}
		docs := ndjsonLines(t, string(r.Data))
		if len(docs) != 1 {
			t.Errorf("record %d carries %d documents, want 1", i, len(docs))
		}
	}
}
