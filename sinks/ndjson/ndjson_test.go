package ndjson

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/flowhose/flowhose/sinks/internal/linefiletest"
	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/ecs"
)

// record builds a distinct v2 record: port and bytes make its document unique.
func record(port uint16, n uint64) stream.Record {
	r := stream.Record{
		Raw:         "2 123456789010 eni-0a1b2c3d4e5f60718 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK",
		Version:     2,
		AccountID:   "123456789010",
		InterfaceID: "eni-0a1b2c3d4e5f60718",
		SrcAddr:     netip.MustParseAddr("172.31.16.139"),
		DstAddr:     netip.MustParseAddr("172.31.16.21"),
		SrcPort:     port,
		DstPort:     22,
		Protocol:    6,
		Packets:     20,
		Bytes:       n,
		Start:       1418530010,
		End:         1418530070,
		Action:      "ACCEPT",
		LogStatus:   "OK",
	}
	for f := stream.FieldVersion; f <= stream.FieldLogStatus; f++ {
		r.Present.Add(f)
	}
	return r
}

func batch(recs ...stream.Record) *stream.Batch {
	a := stream.NewAck()
	a.Add(1) // the sink's share, as the pipeline takes it
	return &stream.Batch{Records: recs, Ack: a}
}

func fileConfig(t *testing.T) Config {
	cfg := DefaultConfig()
	cfg.Path = filepath.Join(t.TempDir(), "out.ndjson")
	return cfg
}

func lines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		t.Fatalf("output does not end with a newline: %q", data)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

func TestAcceptWritesOneDocumentPerLine(t *testing.T) {
	tests := []struct {
		name  string
		recs  []stream.Record
		fsync bool
		flush int
	}{
		{"one record", []stream.Record{record(1, 10)}, false, 0},
		{"several records with fsync", []stream.Record{record(1, 10), record(2, 20), record(3, 30)}, true, 0},
		{"batch larger than the flush size", manyRecords(500), false, minFlushBytes},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := fileConfig(t)
			cfg.Fsync = tt.fsync
			if tt.flush > 0 {
				cfg.FlushBytes = tt.flush
			}
			reg := prometheus.NewRegistry()
			s, err := New(cfg, nil, reg)
			if err != nil {
				t.Fatal(err)
			}
			b := batch(tt.recs...)
			if err := s.Accept(context.Background(), b); err != nil {
				t.Fatal(err)
			}
			// The sink settled its share; the creator's reference remains.
			b.Ack.Done(nil)
			if err := b.Ack.Wait(context.Background()); err != nil {
				t.Fatalf("ack error: %v", err)
			}
			if err := s.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			got := lines(t, cfg.Path)
			if len(got) != len(tt.recs) {
				t.Fatalf("got %d lines, want %d", len(got), len(tt.recs))
			}
			enc := ecs.Encoder{Dataset: cfg.Dataset, Namespace: cfg.Namespace}
			for i, line := range got {
				if !json.Valid([]byte(line)) {
					t.Fatalf("line %d is not JSON: %q", i+1, line)
				}
				if want := string(enc.Append(nil, &tt.recs[i])); line != want {
					t.Errorf("line %d:\n got %s\nwant %s", i+1, line, want)
				}
			}
			if n := testutil.ToFloat64(s.records); n != float64(len(tt.recs)) {
				t.Errorf("flowhose_ndjson_records_total = %v, want %d", n, len(tt.recs))
			}
		})
	}
}

func manyRecords(n int) []stream.Record {
	recs := make([]stream.Record, n)
	for i := range recs {
		recs[i] = record(uint16(i), uint64(i))
	}
	return recs
}

func TestStdoutWriter(t *testing.T) {
	var out bytes.Buffer
	s, err := New(DefaultConfig(), &out, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := batch(record(1, 1), record(2, 2))
	if err := s.Accept(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(out.String(), "\n"); got != 2 {
		t.Fatalf("got %d lines on stdout, want 2: %q", got, out.String())
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Accept(context.Background(), batch(record(3, 3))); !errors.Is(err, ErrClosed) {
		t.Fatalf("Accept after Close = %v, want ErrClosed", err)
	}
}

// TestConcurrentBatchesAreNotInterleaved checks that each batch's lines stay
// together when many goroutines write at once.
func TestConcurrentBatchesAreNotInterleaved(t *testing.T) {
	cfg := fileConfig(t)
	cfg.FlushBytes = minFlushBytes
	s, err := New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	const writers, perBatch = 8, 50
	enc := ecs.Encoder{Dataset: cfg.Dataset, Namespace: cfg.Namespace}
	owner := map[string]int{} // document -> batch
	batches := make([][]stream.Record, writers)
	for w := range batches {
		for i := range perBatch {
			r := record(uint16(w), uint64(i))
			batches[w] = append(batches[w], r)
			owner[string(enc.Append(nil, &r))] = w
		}
	}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			b := batch(batches[w]...)
			if err := s.Accept(context.Background(), b); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := lines(t, cfg.Path)
	if len(got) != writers*perBatch {
		t.Fatalf("got %d lines, want %d", len(got), writers*perBatch)
	}
	for start := 0; start < len(got); start += perBatch {
		w, ok := owner[got[start]]
		if !ok {
			t.Fatalf("line %d is no record's document: %q", start+1, got[start])
		}
		for i := start; i < start+perBatch; i++ {
			if owner[got[i]] != w {
				t.Fatalf("line %d belongs to batch %d inside batch %d's lines", i+1, owner[got[i]], w)
			}
		}
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestWriteErrorSettlesAckWithError(t *testing.T) {
	s, err := New(DefaultConfig(), failingWriter{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := batch(record(1, 1))
	if err := s.Accept(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	b.Ack.Done(nil)
	if err := b.Ack.Wait(context.Background()); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("ack error = %v, want the write error", err)
	}
	if n := testutil.ToFloat64(s.errors); n != 1 {
		t.Errorf("write errors = %v, want 1", n)
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"unwritable path", func(c *Config) { c.Path = filepath.Join(t.TempDir(), "missing", "out.ndjson") }, "open output"},
		{"empty path", func(c *Config) { c.Path = "" }, "path:"},
		{"flush too small", func(c *Config) { c.FlushBytes = 1 }, "flush_bytes: must be between"},
		{"empty dataset", func(c *Config) { c.Dataset = "" }, "dataset:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.edit(&cfg)
			_, err := New(cfg, nil, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New() error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func BenchmarkAccept(b *testing.B) {
	cfg := DefaultConfig()
	s, err := New(cfg, discard{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	recs := manyRecords(500)
	b.ReportAllocs()
	for b.Loop() {
		a := stream.NewAck()
		if err := s.Accept(context.Background(), &stream.Batch{Records: recs, Ack: a}); err != nil {
			b.Fatal(err)
		}
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// accept hands b to s and returns the batch's outcome.
func accept(t *testing.T, s *Sink, b *stream.Batch) error {
	t.Helper()
	if err := s.Accept(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	b.Ack.Done(nil)
	return b.Ack.Wait(context.Background())
}

// A write that fails part-way must not leave a partial document that the
// next, acknowledged one is glued onto: a file is cut back to the end of
// the last delivered batch, a pipe gets a newline before the next one.
func TestFailedWriteLeavesNoPartialLine(t *testing.T) {
	tests := []struct {
		name string
		// output returns the sink's writer, a function making its next
		// write fail after n bytes (-1: never) and one reading what it holds.
		output func(t *testing.T) (io.Writer, func(n int), func() string)
		torn   float64
	}{
		{
			name: "regular file out of space",
			output: func(t *testing.T) (io.Writer, func(int), func() string) {
				path := filepath.Join(t.TempDir(), "out.ndjson")
				f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { f.Close() })
				disk := &linefiletest.FullDisk{File: f, Left: -1}
				return disk, func(n int) { disk.Left = int64(n) }, func() string {
					data, err := os.ReadFile(path)
					if err != nil {
						t.Fatal(err)
					}
					return string(data)
				}
			},
		},
		{
			name: "pipe",
			output: func(*testing.T) (io.Writer, func(int), func() string) {
				p := &linefiletest.Pipe{Left: -1, Err: errors.New("short write")}
				return p, func(n int) { p.Left = n }, p.String
			},
			torn: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, failAfter, contents := tt.output(t)
			cfg := DefaultConfig()
			cfg.FlushBytes = minFlushBytes
			s, err := New(cfg, w, prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			if err := accept(t, s, batch(record(1, 1), record(2, 2))); err != nil {
				t.Fatal(err)
			}
			// The failing batch spans several flushes and breaks inside a
			// document of its second one.
			failAfter(minFlushBytes + 100)
			if err := accept(t, s, batch(manyRecords(20)...)); err == nil {
				t.Fatal("batch written past a failing write was acknowledged")
			}
			failAfter(-1)
			if err := accept(t, s, batch(record(3, 3))); err != nil {
				t.Fatal(err)
			}
			out := contents()
			docs := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			last := docs[len(docs)-1]
			var doc struct {
				Source struct{ Port int } `json:"source"`
			}
			if err := json.Unmarshal([]byte(last), &doc); err != nil || doc.Source.Port != 3 {
				t.Fatalf("the batch after the failure is not a line of its own (%v): %q", err, last)
			}
			if tt.torn == 0 {
				for i, d := range docs {
					if !json.Valid([]byte(d)) {
						t.Errorf("line %d is not a whole document: %q", i+1, d)
					}
				}
				if len(docs) != 3 {
					t.Errorf("file holds %d lines, want the 3 of the delivered batches", len(docs))
				}
			}
			if n := testutil.ToFloat64(s.torn); n != tt.torn {
				t.Errorf("flowhose_ndjson_torn_lines_total = %v, want %v", n, tt.torn)
			}
		})
	}
}

// A closed pipe (`flowhose replay … | head -1`) never comes back: the batch
// fails with a permanent error, which makes replay stop.
func TestBrokenPipeFailsBatchPermanently(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	defer w.Close()
	s, err := New(DefaultConfig(), w, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = accept(t, s, batch(record(1, 1)))
	if !errors.Is(err, syscall.EPIPE) || !stream.IsPermanent(err) {
		t.Fatalf("ack error = %v, want a permanent EPIPE", err)
	}
}
