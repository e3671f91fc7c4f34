package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/decode"
	"github.com/flowhose/flowhose/stream/sinktest"
	"github.com/flowhose/flowhose/stream/source/firehose"
)

const sample = "../../testdata/flowlogs/sample-v2.log.gz"

// The requests it builds are accepted by the Firehose handler, with every
// line delivered, and a 503 is retried like Firehose does.
func TestLoadAgainstHandler(t *testing.T) {
	sink := sinktest.NewSink("rec")
	p, err := stream.New(stream.Options{Workers: 1, QueueDepth: 8, Sinks: []stream.Sink{sink}, DeadLetter: &sinktest.DeadLetter{}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	cfg := firehose.DefaultConfig()
	cfg.AccessKeys = []string{"secret"}
	h, err := firehose.New(cfg, decode.Options{}, firehose.Deps{Pipeline: p})
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()

	for _, shape := range [][]string{{"-gzip=true"}, {"-gzip=false"}, {"-gzip=true", "-header"}, {"-gzip=true", "-cwlogs"}} {
		t.Run(strings.Join(shape, ""), func(t *testing.T) {
			before := sink.Accepted()
			var out bytes.Buffer
			args := append([]string{"-url", srv.URL, "-key", "secret", "-records", "7", "-lines", "3", "-c", "2", "-requests", "5", "-pid", "0"}, shape...)
			args = append(args, sample)
			if err := run(context.Background(), args, &out); err != nil {
				t.Fatalf("run: %v\n%s", err, &out)
			}
			if got := sink.Accepted() - before; got != 5*7*3 {
				t.Errorf("sink got %d records, want %d\n%s", got, 5*7*3, &out)
			}
			for _, want := range []string{"5 ok, 0 failed", "lines/s", "p50", "MiB JSON"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("report lacks %q:\n%s", want, &out)
				}
			}
		})
	}
}

// A wrong key is reported as failed requests with their status.
func TestLoadReportsFailures(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusUnauthorized)
	}))
	defer srv.Close()
	var out bytes.Buffer
	err := run(context.Background(), []string{"-url", srv.URL, "-requests", "2", "-attempts", "2", "-records", "1", sample}, &out)
	if err == nil || !strings.Contains(out.String(), "401 x4") || !strings.Contains(out.String(), "0 ok, 2 failed") {
		t.Fatalf("err %v, report:\n%s", err, &out)
	}
}

// With -header every record is the file's header and its lines, with no
// newline after the last, the shape of a flow-log object in S3.
func TestBuildRequestsHeader(t *testing.T) {
	f := flowLog{header: "version srcaddr", lines: []string{"2 10.0.0.1", "2 10.0.0.2", "2 10.0.0.3"}}
	c := config{records: 2, lines: 2, bodies: 1, header: true}
	reqs, err := buildRequests(f, c)
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Records []struct {
			Data []byte `json:"data"`
		} `json:"records"`
	}
	if err := json.Unmarshal(reqs[0].body, &body); err != nil {
		t.Fatal(err)
	}
	want := []string{"version srcaddr\n2 10.0.0.1\n2 10.0.0.2", "version srcaddr\n2 10.0.0.3\n2 10.0.0.1"}
	if len(body.Records) != 2 || string(body.Records[0].Data) != want[0] || string(body.Records[1].Data) != want[1] {
		t.Fatalf("records %q, want %q", body.Records, want)
	}

	for _, bad := range []flowLog{{lines: f.lines}, {header: "version", mixed: true, lines: f.lines}} {
		if _, err := buildRequests(bad, c); err == nil {
			t.Errorf("header %q, mixed %v: no error", bad.header, bad.mixed)
		}
	}
}

func TestFlagsOneRecordShape(t *testing.T) {
	_, err := parseFlags([]string{"-header", "-cwlogs", sample}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "give one") {
		t.Fatalf("err %v, want -header and -cwlogs refused together", err)
	}
}

func TestParseStat(t *testing.T) {
	// The command name holds a space and a parenthesis.
	stat := "4242 (flow hose) x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 130 0 0 20 0 8 0 100 0 0"
	got, err := parseStat(stat)
	if err != nil || got != 3800*time.Millisecond {
		t.Fatalf("parseStat = %v, %v; want 3.8s", got, err)
	}
	self, err := processCPU(os.Getpid())
	if err != nil || self < 0 {
		t.Fatalf("processCPU(self) = %v, %v", self, err)
	}
}

func TestReadLinesSkipsHeaders(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.log")
	content := "version account-id\n\n2 123 eni-1 - - - - - - - - - NODATA -\nversion x\n2 456 eni-2 - - - - - - - - - NODATA -\n"
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := readLines(path)
	if err != nil || len(f.lines) != 2 || !strings.HasPrefix(f.lines[1], "2 456") {
		t.Fatalf("readLines = %q, %v", f.lines, err)
	}
	if f.header != "version account-id" || !f.mixed {
		t.Errorf("header %q, mixed %v; want the first header and mixed", f.header, f.mixed)
	}
}
