package file

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/decode"
	"github.com/flowhose/flowhose/stream/sinktest"
)

const (
	header     = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"
	lineAccept = "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK"
	lineReject = "2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 3389 6 20 4249 1418530010 1418530070 REJECT OK"
	lineBad    = "2 123456789010 eni-1235b8ca123456789 172.31.16.139 not-an-address 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK"
	// A custom format announced by its header: 6 fields.
	customHeader = "version vpc-id srcaddr dstaddr action log-status"
	customLine   = "3 vpc-0abc 10.0.0.1 10.0.0.2 ACCEPT OK"
)

type env struct {
	r    *Replayer
	p    *stream.Pipeline
	sink *sinktest.Sink
	dl   *sinktest.DeadLetter
}

func newEnv(t *testing.T, mut func(*Config)) *env {
	t.Helper()
	e := &env{sink: sinktest.NewSink("rec"), dl: &sinktest.DeadLetter{}}
	p, err := stream.New(stream.Options{Workers: 1, QueueDepth: 4, Sinks: []stream.Sink{e.sink}, DeadLetter: e.dl})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.sink.Release()
		if err := p.Close(context.Background()); err != nil {
			t.Error(err)
		}
		if n := e.sink.Pending(); n != 0 {
			t.Errorf("%d batches never settled", n)
		}
	})
	cfg := DefaultConfig()
	if mut != nil {
		mut(&cfg)
	}
	e.p = p
	e.r, err = New(cfg, decode.Options{}, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func write(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func gz(s string) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	_, _ = w.Write([]byte(s))
	_ = w.Close()
	return buf.Bytes()
}

func lines(ls ...string) string { return strings.Join(ls, "\n") + "\n" }

func raws(recs []stream.Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.Raw)
	}
	return out
}

func TestReplay(t *testing.T) {
	s3File := lines(header, lineAccept, lineReject)
	tests := []struct {
		name      string
		data      []byte
		cfg       func(*Config)
		wantRaw   []string
		wantLines int64
		wantFails []int // line numbers of dead-lettered lines
	}{
		{"plain", []byte(s3File), nil, []string{lineAccept, lineReject}, 3, nil},
		{"gzip without .gz name", gz(s3File), nil, []string{lineAccept, lineReject}, 3, nil},
		{"no header, no final newline", []byte(lineAccept + "\n" + lineReject), nil, []string{lineAccept, lineReject}, 2, nil},
		{"custom header", []byte(lines(customHeader, customLine)), nil, []string{customLine}, 2, nil},
		{"repeated header (concatenated files)", gz(s3File + lines(customHeader, customLine)), nil,
			[]string{lineAccept, lineReject, customLine}, 5, nil},
		{"concatenated gzip members", append(gz(s3File), gz(lines(customHeader, customLine))...), nil,
			[]string{lineAccept, lineReject, customLine}, 5, nil},
		{"malformed lines", []byte(lines(header, lineBad, lineAccept, "garbage", lineReject)), nil,
			[]string{lineAccept, lineReject}, 5, []int{2, 4}},
		// Batches of two lines: line numbers must carry across chunks.
		{"small batches", []byte(lines(header, lineAccept, lineBad, lineReject, lineAccept, lineBad)),
			func(c *Config) { c.BatchSize = 2 }, []string{lineAccept, lineReject, lineAccept}, 6, []int{3, 6}},
		{"small chunks", []byte(strings.Repeat(lineAccept+"\n", 100) + lineBad + "\n"),
			func(c *Config) { c.ChunkBytes = minChunkBytes }, nil, 101, []int{101}},
		{"overlong line", []byte(lines(lineAccept, strings.Repeat("x", 3*minChunkBytes), lineReject)),
			func(c *Config) { c.ChunkBytes = minChunkBytes }, []string{lineAccept, lineReject}, 3, []int{2}},
		{"empty", nil, nil, nil, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.cfg)
			path := write(t, "flows.log", tt.data)
			sum, err := e.r.Run(context.Background(), []string{path})
			if err != nil {
				t.Fatal(err)
			}
			got := raws(e.sink.Records())
			if tt.wantRaw != nil && strings.Join(got, "\n") != strings.Join(tt.wantRaw, "\n") {
				t.Errorf("records = %q\nwant %q", got, tt.wantRaw)
			}
			fs := e.dl.Failures()
			var gotLines []int
			for _, f := range fs {
				gotLines = append(gotLines, f.Line)
				if f.Source != "replay" || f.Ref != path {
					t.Errorf("failure source, ref = %q, %q, want %q, %q", f.Source, f.Ref, "replay", path)
				}
			}
			if fmt.Sprint(gotLines) != fmt.Sprint(tt.wantFails) && len(gotLines)+len(tt.wantFails) > 0 {
				t.Errorf("failure lines = %v, want %v", gotLines, tt.wantFails)
			}
			if sum.Lines != tt.wantLines || sum.Records != int64(len(got)) || sum.Failures != int64(len(fs)) || sum.Files != 1 || sum.Errors != 0 {
				t.Errorf("summary = %+v; lines want %d, records %d, failures %d", sum, tt.wantLines, len(got), len(fs))
			}
		})
	}
}

func TestStdinAndSeveralFiles(t *testing.T) {
	e := newEnv(t, nil)
	e.r.Stdin = bytes.NewReader(gz(lines(header, lineReject)))
	a := write(t, "a.log", []byte(lines(header, lineAccept)))
	missing := filepath.Join(t.TempDir(), "missing.log")
	sum, err := e.r.Run(context.Background(), []string{a, missing, Stdin})
	if err == nil || !strings.Contains(err.Error(), "missing.log") {
		t.Fatalf("err = %v, want the missing file named", err)
	}
	if got := raws(e.sink.Records()); strings.Join(got, "|") != lineAccept+"|"+lineReject {
		t.Errorf("records = %q", got)
	}
	if sum.Files != 2 || sum.Errors != 1 || sum.Records != 2 || sum.Skipped != 2 {
		t.Errorf("summary = %+v", sum)
	}
}

func TestFailingSink(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.BatchSize = 1 })
	e.sink.SetErr(errors.New("index closed"))
	path := write(t, "f.log", []byte(lines(lineAccept, lineReject, lineAccept)))
	sum, err := e.r.Run(context.Background(), []string{path})
	if err == nil || !strings.Contains(err.Error(), "index closed") {
		t.Fatalf("err = %v, want the sink error", err)
	}
	if sum.Errors != 3 || sum.Batches != 3 {
		t.Errorf("summary = %+v, want 3 failed batches", sum)
	}
}

func TestErrorListBounded(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.BatchSize = 1 })
	e.sink.SetErr(errors.New("down"))
	path := write(t, "f.log", []byte(strings.Repeat(lineAccept+"\n", 15)))
	sum, err := e.r.Run(context.Background(), []string{path})
	if sum.Errors != 15 || err == nil || strings.Count(err.Error(), "down") != maxReportedErrors ||
		!strings.Contains(err.Error(), "and 5 more errors") {
		t.Fatalf("errors = %d, err = %v", sum.Errors, err)
	}
}

// TestCancel stops reading when ctx ends but still waits for the batch in
// flight before returning.
func TestCancel(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.BatchSize = 1; c.MaxInFlight = 1 })
	e.sink.Hold()
	path := write(t, "f.log", []byte(lines(lineAccept, lineReject, lineAccept)))
	ctx, cancel := context.WithCancel(context.Background())
	type result struct {
		sum Summary
		err error
	}
	done := make(chan result, 1)
	go func() {
		sum, err := e.r.Run(ctx, []string{path})
		done <- result{sum, err}
	}()
	if err := e.sink.WaitBatches(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case r := <-done:
		t.Fatalf("Run returned before its batch was acknowledged: %+v %v", r.sum, r.err)
	default:
	}
	e.sink.Release()
	r := <-done
	if !errors.Is(r.err, context.Canceled) || !strings.Contains(r.err.Error(), "line 2") {
		t.Fatalf("err = %v, want cancellation naming where it stopped", r.err)
	}
	if r.sum.Batches != 1 || e.sink.Pending() != 0 {
		t.Errorf("summary = %+v, pending %d", r.sum, e.sink.Pending())
	}
}

// TestCancelWhileStdinBlocks: standard input that stays open without
// data must not hold a stopping replay.
func TestCancelWhileStdinBlocks(t *testing.T) {
	e := newEnv(t, nil)
	pr, pw := io.Pipe()
	defer pw.Close()
	e.r.Stdin = pr
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := e.r.Run(ctx, []string{Stdin})
		done <- err
	}()
	if _, err := pw.Write([]byte(lines(lineAccept))); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want cancellation", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run still blocked on standard input 5s after cancellation")
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	tests := []struct {
		mut  func(*Config)
		want string
	}{
		{func(c *Config) { c.BatchSize = 0 }, "batch_size: must be between 1 and 1000000, got 0"},
		{func(c *Config) { c.ChunkBytes = 10 }, "chunk_bytes: must be between 4096 and 1073741824, got 10"},
		{func(c *Config) { c.MaxInFlight = 0 }, "max_in_flight: must be between 1 and 1024, got 0"},
		{func(c *Config) { c.DrainTimeout = 0 }, "drain_timeout: must be between 1s and 24h0m0s, got 0s"},
		{func(c *Config) { c.MaxErrorRecordBytes = 100 }, "max_error_record_bytes: must be between 1024 and 1073741824, got 100"},
	}
	for _, tt := range tests {
		c := DefaultConfig()
		tt.mut(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate() = %v, want %q", err, tt.want)
		}
	}
}

// TestReusedRecordsStartClean replays a file whose records carry many
// fields, then one whose records carry few, through one in-flight slot, so
// the second file's batches reuse the first one's record slices: nothing of
// the earlier records may show through.
func TestReusedRecordsStartClean(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.BatchSize, c.MaxInFlight = 2, 1 })
	rich := write(t, "rich.log", []byte(header+" encryption-status\n"+
		strings.Repeat(lineAccept+" 1\n", 6)))
	plain := write(t, "plain.log", []byte(customHeader+"\n"+strings.Repeat(customLine+"\n", 6)))
	sum, err := e.r.Run(context.Background(), []string{rich, plain})
	if err != nil || sum.Records != 12 {
		t.Fatalf("Run = %+v, %v", sum, err)
	}
	recs := e.sink.Records()
	if len(recs) != 12 {
		t.Fatalf("sink got %d records", len(recs))
	}
	for i, r := range recs[6:] {
		if r.Raw != customLine || r.Extra != nil || r.Has(stream.FieldAccountID) || r.Has(stream.FieldSrcPort) ||
			r.AccountID != "" || r.SrcPort != 0 || r.Bytes != 0 {
			t.Errorf("record %d of the second file carries data of the first: %+v", i, r)
		}
	}
}

// A batch that fails permanently (a closed output pipe) stops reading: every
// later batch would fail the same way.
func TestPermanentFailureStops(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.BatchSize = 1; c.MaxInFlight = 1 })
	e.sink.SetErr(stream.Permanent(errors.New("output closed")))
	path := write(t, "f.log", []byte(strings.Repeat(lineAccept+"\n", 5)))
	sum, err := e.r.Run(context.Background(), []string{path})
	if !errors.Is(err, errPermanent) || !strings.Contains(err.Error(), "output closed") || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("err = %v, want the permanent failure and where reading stopped", err)
	}
	if sum.Batches != 1 || sum.Errors != 1 {
		t.Errorf("summary = %+v, want reading stopped after the one failed batch", sum)
	}
}

// TestTruncatedKeepsLines delivers the whole lines before a gzip stream is
// cut, and dead-letters the rest.
func TestTruncatedKeepsLines(t *testing.T) {
	var text strings.Builder
	text.WriteString(header + "\n")
	for range 2000 {
		text.WriteString(lineAccept + "\n")
	}
	data := gz(text.String())
	e := newEnv(t, nil)
	sum, err := e.r.Run(context.Background(), []string{write(t, "cut.log.gz", data[:len(data)*3/4])})
	if err != nil || sum.Records < 100 || sum.Records >= 2000 || sum.Failures != 1 {
		t.Fatalf("summary %+v, err %v: want the lines before the cut and one dead letter", sum, err)
	}
}
