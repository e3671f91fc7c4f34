package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestReplay(t *testing.T) {
	tests := []struct {
		name    string
		files   []string
		code    int
		records int64
		dead    int64
		failed  int
	}{
		{"gzip file with header", []string{"../../testdata/flowlogs/sample-v2.log.gz"}, 0, 400, 0, 0},
		{"bad line is dead-lettered and fails the run", []string{"testdata/one-bad-line.log"}, 1, 1, 1, 0},
		{"missing file fails the run, others still replay", []string{"testdata/missing.log", "testdata/one-bad-line.log"}, 1, 1, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "out.ndjson")
			dl := filepath.Join(dir, "dead.ndjson")
			cfg := writeConfig(t, fmt.Sprintf("sinks:\n  ndjson:\n    path: %q\n  dead_letter:\n    path: %q\n", out, dl))
			args := append([]string{"-config", cfg, "replay"}, tt.files...)
			var stderr bytes.Buffer
			err := run(context.Background(), args, &bytes.Buffer{}, &stderr)
			if got := exitCode(err, &stderr); got != tt.code {
				t.Fatalf("exit code %d, want %d\n%s", got, tt.code, stderr.String())
			}
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			var sum replaySummary
			if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil {
				t.Fatalf("last stderr line is not the JSON summary: %v\n%s", err, stderr.String())
			}
			if sum.Records != tt.records || sum.DeadLettered != tt.dead || sum.Failed != tt.failed || sum.OK != (tt.code == 0) {
				t.Errorf("summary %+v, want records %d dead %d failed %d", sum, tt.records, tt.dead, tt.failed)
			}
			data, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if docs := ndjsonLines(t, string(data)); int64(len(docs)) != tt.records {
				t.Errorf("%d documents written, want %d", len(docs), tt.records)
			}
			if tt.dead > 0 {
				bad, err := os.ReadFile(dl)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(string(bad), "bogus") {
					t.Errorf("dead-letter lacks the bad line:\n%s", bad)
				}
			}
		})
	}
}

func TestReplayStdin(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, fmt.Sprintf("sinks:\n  dead_letter:\n    path: %q\n", filepath.Join(dir, "dead.ndjson")))
	in := strings.NewReader("2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK\n")
	var stdout, stderr bytes.Buffer
	if err := replay(context.Background(), cfg, replayArgs{}, in, &stdout, &stderr); err != nil {
		t.Fatalf("replay: %v\n%s", err, stderr.String())
	}
	docs := ndjsonLines(t, stdout.String())
	if len(docs) != 1 || !strings.Contains(stdout.String(), "172.31.16.139") {
		t.Fatalf("stdout got %q", stdout.String())
	}
}

// With Elasticsearch down and retry_for 0 (retry until close), a SIGTERM
// must not leave replay waiting for ever: after sources.file.drain_timeout
// the sink is closed, gives up, and replay fails saying so.
func TestReplayDrainTimeoutOnSignal(t *testing.T) {
	bulk := make(chan struct{}, 1)
	es := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		w.WriteHeader(http.StatusServiceUnavailable)
		select {
		case bulk <- struct{}{}:
		default:
		}
	}))
	defer es.Close()
	dir := t.TempDir()
	// Small batches and one bulk worker: the pipeline's worker ends up
	// blocked in the sink's Accept, behind requests that are retried.
	cfg := writeConfig(t, fmt.Sprintf(`sources:
  file:
    batch_size: 10
    drain_timeout: 1s
sinks:
  ndjson:
    enabled: false
  dead_letter:
    path: %q
  elasticsearch:
    enabled: true
    urls: [%q]
    template: false
    flush_docs: 10
    workers: 1
    retry_for: 0s
`, filepath.Join(dir, "dead.ndjson"), es.URL))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-config", cfg, "replay", "../../testdata/flowlogs/sample-v2.log.gz"}, io.Discard, &stderr)
	}()
	select {
	case <-bulk:
	case err := <-done:
		t.Fatalf("replay ended before Elasticsearch was asked: %v\n%s", err, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatal("no bulk request reached the server")
	}
	cancel()
	start := time.Now()
	var err error
	select {
	case err = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("replay still running 20s after the signal, with a 1s drain_timeout")
	}
	t.Logf("returned %s after the signal", time.Since(start).Round(time.Millisecond))
	if got := exitCode(err, io.Discard); got != 1 {
		t.Fatalf("exit code %d, want 1\n%s", got, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	var sum replaySummary
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil {
		t.Fatalf("last stderr line is not the JSON summary: %v\n%s", err, stderr.String())
	}
	if all := strings.Join(sum.Errors, "\n"); sum.OK || sum.Failed == 0 || !strings.Contains(all, "undelivered after sources.file.drain_timeout 1s") {
		t.Errorf("summary %+v, want failed batches and the drain timeout named", sum)
	}
}
