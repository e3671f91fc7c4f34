package deadletter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/flowhose/flowhose/sinks/internal/linefile"
	"github.com/flowhose/flowhose/sinks/internal/linefiletest"
	"github.com/flowhose/flowhose/stream"
)

type entry struct {
	Time      time.Time `json:"time"`
	Source    string    `json:"source"`
	Ref       string    `json:"ref"`
	Line      int       `json:"line"`
	Field     string    `json:"field"`
	Reason    string    `json:"reason"`
	Input     string    `json:"input"`
	Truncated bool      `json:"truncated"`
}

func readEntries(t *testing.T, path string) []entry {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return parseEntries(t, data)
}

func parseEntries(t *testing.T, data []byte) []entry {
	t.Helper()
	var out []entry
	for i, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if line == "" {
			continue
		}
		var e entry
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("line %d %q: %v", i+1, line, err)
		}
		out = append(out, e)
	}
	return out
}

func newWriter(t *testing.T, edit func(*Config)) (*Writer, Config) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Path = filepath.Join(t.TempDir(), "dl.ndjson")
	if edit != nil {
		edit(&cfg)
	}
	w, err := New(cfg, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w, cfg
}

func TestWriteFailuresContent(t *testing.T) {
	fixed := time.Date(2026, 11, 3, 10, 4, 5, 6000, time.UTC)
	tests := []struct {
		name    string
		maxIn   int
		failure stream.Failure
		want    entry
	}{
		{
			name:    "plain",
			failure: stream.Failure{Source: "firehose", Ref: "request r-1 records[2]", Input: "2 123 eni-1 x", Line: 3, Field: "srcaddr", Reason: "not an IP address"},
			want:    entry{Source: "firehose", Ref: "request r-1 records[2]", Input: "2 123 eni-1 x", Line: 3, Field: "srcaddr", Reason: "not an IP address"},
		},
		{
			name:    "escapes, control bytes and invalid UTF-8",
			failure: stream.Failure{Source: "file", Input: "a\"b\\c\nd\te\x00\x1f\xff\u2028é", Reason: "bad"},
			want:    entry{Source: "file", Input: "a\"b\\c\nd\te\x00\x1f\ufffd\u2028é", Reason: "bad"},
		},
		{
			name:    "truncated input",
			maxIn:   4,
			failure: stream.Failure{Source: "file", Input: "0123456789", Reason: "line too long"},
			want:    entry{Source: "file", Input: "0123", Reason: "line too long", Truncated: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, cfg := newWriter(t, func(c *Config) {
				if tt.maxIn > 0 {
					c.MaxInputBytes = tt.maxIn
				}
			})
			w.now = func() time.Time { return fixed }
			if err := w.WriteFailures(context.Background(), []stream.Failure{tt.failure}); err != nil {
				t.Fatal(err)
			}
			got := readEntries(t, cfg.Path)
			tt.want.Time = fixed
			if len(got) != 1 || got[0] != tt.want {
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestMetricCountsBySource(t *testing.T) {
	w, _ := newWriter(t, nil)
	fs := []stream.Failure{{Source: "firehose"}, {Source: "firehose"}, {Source: "transform"}}
	if err := w.WriteFailures(context.Background(), fs); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(w.records.WithLabelValues("firehose")); got != 2 {
		t.Errorf("firehose = %v, want 2", got)
	}
	if got := testutil.ToFloat64(w.records.WithLabelValues("transform")); got != 1 {
		t.Errorf("transform = %v, want 1", got)
	}
}

func TestAppendsToExistingFile(t *testing.T) {
	w, cfg := newWriter(t, nil)
	if err := w.WriteFailures(context.Background(), []stream.Failure{{Input: "one"}}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	w2, err := New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	if err := w2.WriteFailures(context.Background(), []stream.Failure{{Input: "two"}}); err != nil {
		t.Fatal(err)
	}
	got := readEntries(t, cfg.Path)
	if len(got) != 2 || got[0].Input != "one" || got[1].Input != "two" {
		t.Fatalf("got %+v, want the old and the new entry", got)
	}
}

// TestTornLastLineEndedOnOpen: a crash mid-write leaves a partial last
// line; the next entry must start on a line of its own.
func TestTornLastLineEndedOnOpen(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Path = filepath.Join(t.TempDir(), "dl.ndjson")
	whole := `{"time":"2026-01-01T00:00:00Z","source":"s","line":1,"field":"","reason":"r","input":"one"}` + "\n"
	if err := os.WriteFile(cfg.Path, []byte(whole+`{"time":"2026-01-01T00:00:00Z","sou`), 0o640); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	w, err := New(cfg, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.WriteFailures(context.Background(), []stream.Failure{{Input: "two"}}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(cfg.Path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("file has %d lines, want the whole entry, the torn one and the new one:\n%s", len(lines), data)
	}
	if got := parseEntries(t, []byte(lines[2])); len(got) != 1 || got[0].Input != "two" {
		t.Fatalf("last line %q, want the new entry on its own", lines[2])
	}
	if n := testutil.ToFloat64(w.torn); n != 1 {
		t.Errorf("torn lines = %v, want 1", n)
	}
	if w.size != int64(len(data)) {
		t.Errorf("size = %d, want the file's %d (rotation counts on it)", w.size, len(data))
	}
}

func TestRotation(t *testing.T) {
	tests := []struct {
		name     string
		maxFiles int
		writes   int
		// wantFiles are the files that must exist afterwards, newest first.
		wantFiles []string
		gone      []string
		// deleted is how many old files the rotations deleted.
		deleted int
	}{
		{"keeps two old files", 2, 5, []string{"", ".1", ".2"}, []string{".3"}, 2},
		{"keeps one", 1, 3, []string{"", ".1"}, []string{".2"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, cfg := newWriter(t, func(c *Config) {
				c.MaxFileBytes = minFileBytes
				c.MaxFiles = tt.maxFiles
			})
			// A fixed time gives entries of one size (RFC 3339 drops
			// trailing zeros of the fraction).
			w.now = func() time.Time { return time.Date(2026, 11, 3, 10, 4, 5, 123456789, time.UTC) }
			// Each write is a little over half the limit, so every write
			// after the first rotates.
			input := strings.Repeat("x", minFileBytes/2+100)
			for i := range tt.writes {
				f := stream.Failure{Source: "s", Line: i + 1, Input: input}
				if err := w.WriteFailures(context.Background(), []stream.Failure{f}); err != nil {
					t.Fatal(err)
				}
			}
			for i, suffix := range tt.wantFiles {
				got := readEntries(t, cfg.Path+suffix)
				if len(got) != 1 || got[0].Line != tt.writes-i {
					t.Errorf("file %q holds %d entries, want only line %d", suffix, len(got), tt.writes-i)
				}
				st, err := os.Stat(cfg.Path + suffix)
				if err != nil {
					t.Fatal(err)
				}
				if st.Size() > cfg.MaxFileBytes {
					t.Errorf("file %q is %d bytes, over the %d limit", suffix, st.Size(), cfg.MaxFileBytes)
				}
			}
			for _, suffix := range tt.gone {
				if _, err := os.Stat(cfg.Path + suffix); !os.IsNotExist(err) {
					t.Errorf("file %q should have been deleted: %v", suffix, err)
				}
			}
			// Every file holds one entry of the same size.
			st, err := os.Stat(cfg.Path)
			if err != nil {
				t.Fatal(err)
			}
			if n := testutil.ToFloat64(w.filesDeleted); n != float64(tt.deleted) {
				t.Errorf("flowhose_deadletter_files_deleted_total = %v, want %d", n, tt.deleted)
			}
			if n := testutil.ToFloat64(w.bytesDeleted); n != float64(int64(tt.deleted)*st.Size()) {
				t.Errorf("flowhose_deadletter_deleted_bytes_total = %v, want %d", n, int64(tt.deleted)*st.Size())
			}
		})
	}
}

func TestConcurrentWritesKeepLinesWhole(t *testing.T) {
	w, cfg := newWriter(t, func(c *Config) { c.MaxFileBytes = 1 << 20 })
	const writers, per = 8, 100
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range per {
				f := stream.Failure{Source: "s", Line: g*per + i, Input: strings.Repeat("y", 200)}
				if err := w.WriteFailures(context.Background(), []stream.Failure{f}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	got := readEntries(t, cfg.Path)
	seen := map[int]bool{}
	for _, e := range got {
		seen[e.Line] = true
	}
	if len(got) != writers*per || len(seen) != writers*per {
		t.Fatalf("got %d entries (%d distinct), want %d", len(got), len(seen), writers*per)
	}
}

func TestStderr(t *testing.T) {
	var buf bytes.Buffer
	cfg := DefaultConfig()
	cfg.Path = Stderr
	w, err := New(cfg, &buf, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFailures(context.Background(), []stream.Failure{{Source: "x", Input: "bad"}}); err != nil {
		t.Fatal(err)
	}
	if got := parseEntries(t, buf.Bytes()); len(got) != 1 || got[0].Input != "bad" {
		t.Fatalf("stderr got %q", buf.String())
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"unwritable path", func(c *Config) { c.Path = filepath.Join(t.TempDir(), "no", "such", "dir.ndjson") }, "open"},
		{"directory as path", func(c *Config) { c.Path = t.TempDir() }, "open"},
		{"empty path", func(c *Config) { c.Path = "" }, "path:"},
		{"tiny file size", func(c *Config) { c.MaxFileBytes = 10 }, "max_file_bytes: must be between"},
		{"negative max files", func(c *Config) { c.MaxFiles = -1 }, "max_files: must be between 1 and 1000 rotated files kept"},
		// Rotating with no old file kept would delete acknowledged entries.
		{"no rotated file kept", func(c *Config) { c.MaxFiles = 0 }, "max_files: must be between 1 and 1000 rotated files kept (0 would delete the current file"},
		{"zero input bytes", func(c *Config) { c.MaxInputBytes = 0 }, "max_input_bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.edit(&cfg)
			if _, err := New(cfg, nil, nil); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New() error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestWriteAfterClose(t *testing.T) {
	w, _ := newWriter(t, nil)
	w.Close()
	if err := w.WriteFailures(context.Background(), []stream.Failure{{Input: "x"}}); err == nil {
		t.Fatal("write after close succeeded")
	}
}

func BenchmarkWriteFailures(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Path = filepath.Join(b.TempDir(), "dl.ndjson")
	cfg.Fsync = false
	cfg.MaxFileBytes = 64 << 20
	w, err := New(cfg, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	fs := []stream.Failure{{Source: "firehose", Line: 7, Field: "srcaddr", Reason: "not an IP address", Input: "2 123456789010 eni-0a1b2c3d4e5f60718 x 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK"}}
	b.ReportAllocs()
	for b.Loop() {
		if err := w.WriteFailures(context.Background(), fs); err != nil {
			b.Fatal(err)
		}
	}
}

// A rotation that fails must fail only the writes it affects: once the
// cause is gone (or was only the file having been moved away), writing
// resumes without a restart.
func TestRotationFailureRecovers(t *testing.T) {
	tests := []struct {
		name string
		// breakRotation runs after the first write; fix undoes it (may be nil).
		breakRotation func(t *testing.T, path string)
		fix           func(t *testing.T, path string)
	}{
		{
			name: "file removed by an operator",
			breakRotation: func(t *testing.T, path string) {
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "oldest file cannot be deleted",
			breakRotation: func(t *testing.T, path string) {
				if err := os.MkdirAll(filepath.Join(path+".1", "busy"), 0o755); err != nil {
					t.Fatal(err)
				}
			},
			fix: func(t *testing.T, path string) {
				if err := os.RemoveAll(path + ".1"); err != nil {
					t.Fatal(err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, cfg := newWriter(t, func(c *Config) {
				c.MaxFileBytes = minFileBytes
				c.MaxFiles = 1
			})
			input := strings.Repeat("x", minFileBytes/2+100)
			write := func(line int) error {
				return w.WriteFailures(context.Background(), []stream.Failure{{Source: "s", Line: line, Input: input}})
			}
			if err := write(1); err != nil {
				t.Fatal(err)
			}
			tt.breakRotation(t, cfg.Path)
			err := write(2)
			if tt.fix != nil {
				if err == nil {
					t.Fatal("write 2 succeeded although rotation could not delete the oldest file")
				}
				tt.fix(t, cfg.Path)
			} else if err != nil {
				t.Fatalf("write 2: %v", err)
			}
			if err := write(3); err != nil {
				t.Fatalf("write 3 after the cause was gone: %v", err)
			}
			if got := readEntries(t, cfg.Path); len(got) != 1 || got[0].Line != 3 {
				t.Errorf("current file holds %+v, want only line 3", got)
			}
		})
	}
}

// A write that fails part-way must leave only whole entries, so that the
// next, acknowledged one is not glued onto a partial line: a file is cut
// back, standard error gets a newline before the next entry.
func TestFailedWriteLeavesNoPartialLine(t *testing.T) {
	tests := []struct {
		name string
		// setup returns the writer, a function making its next write fail
		// after n bytes (-1: never) and one reading what it holds.
		setup func(t *testing.T) (*Writer, func(n int), func() []byte)
		torn  float64
	}{
		{
			name: "file out of space",
			setup: func(t *testing.T) (*Writer, func(int), func() []byte) {
				w, cfg := newWriter(t, nil)
				disk := &linefiletest.FullDisk{File: w.file, Left: -1}
				w.w = linefile.New(disk)
				return w, func(n int) { disk.Left = int64(n) }, func() []byte {
					data, err := os.ReadFile(cfg.Path)
					if err != nil {
						t.Fatal(err)
					}
					return data
				}
			},
		},
		{
			name: "standard error",
			setup: func(t *testing.T) (*Writer, func(int), func() []byte) {
				p := &linefiletest.Pipe{Left: -1, Err: errors.New("short write")}
				cfg := DefaultConfig()
				cfg.Path = Stderr
				w, err := New(cfg, p, prometheus.NewRegistry())
				if err != nil {
					t.Fatal(err)
				}
				return w, func(n int) { p.Left = n }, p.Bytes
			},
			torn: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, failAfter, contents := tt.setup(t)
			write := func(line int) error {
				return w.WriteFailures(context.Background(), []stream.Failure{{Source: "s", Line: line, Input: "bad input"}})
			}
			if err := write(1); err != nil {
				t.Fatal(err)
			}
			failAfter(40)
			if err := write(2); err == nil {
				t.Fatal("a write that failed part-way reported success")
			}
			failAfter(-1)
			if err := write(3); err != nil {
				t.Fatal(err)
			}
			data := contents()
			lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
			if tt.torn == 0 {
				if got := parseEntries(t, data); len(got) != 2 || got[0].Line != 1 || got[1].Line != 3 {
					t.Fatalf("file holds %+v, want whole entries for lines 1 and 3", got)
				}
			} else if got := parseEntries(t, []byte(lines[len(lines)-1])); got[0].Line != 3 {
				t.Fatalf("last entry is %+v, want line 3", got)
			}
			if n := testutil.ToFloat64(w.torn); n != tt.torn {
				t.Errorf("flowhose_deadletter_torn_lines_total = %v, want %v", n, tt.torn)
			}
		})
	}
}

// TestFailedOpenLeavesRegistryAlone: a writer that could not open its file
// must not keep its metrics registered, or the next try panics.
func TestFailedOpenLeavesRegistryAlone(t *testing.T) {
	reg := prometheus.NewRegistry()
	cfg := DefaultConfig()
	cfg.Path = filepath.Join(t.TempDir(), "missing-dir", "dl.ndjson")
	if _, err := New(cfg, nil, reg); err == nil {
		t.Fatal("New opened a file in a directory that does not exist")
	}
	cfg.Path = filepath.Join(t.TempDir(), "dl.ndjson")
	w, err := New(cfg, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
}
