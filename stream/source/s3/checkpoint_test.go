package s3

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// TestCheckpointBounded reads a checkpoint a line at a time: an overlong
// line (32 MiB) is skipped without being held, names outside the URLs
// being replayed are not kept, and a torn last line is ignored and closed
// with a newline before the next name is appended.
func TestCheckpointBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "checkpoint")
	var data bytes.Buffer
	for _, name := range []string{"s3://logs/AWSLogs/a.log.gz", "s3://other/AWSLogs/b.log.gz", "s3://logs/AWSLogs/new\nline.log.gz"} {
		data.WriteString(strconv.Quote(name) + "\n")
	}
	data.WriteString(strings.Repeat("x", 32<<20) + "\n")
	data.WriteString(strconv.Quote("s3://logs/AWSLogs/c.log.gz") + "\n")
	data.WriteString(`"s3://logs/AWSLogs/torn.lo`)
	if err := os.WriteFile(path, data.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	cp, err := openCheckpoint(path, func(name string) bool { return strings.HasPrefix(name, "s3://logs/") })
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 4<<20 {
		t.Errorf("reading a 32 MiB checkpoint allocated %d MiB", n>>20)
	}
	for name, want := range map[string]bool{"s3://logs/AWSLogs/a.log.gz": true, "s3://logs/AWSLogs/new\nline.log.gz": true, "s3://logs/AWSLogs/c.log.gz": true,
		"s3://other/AWSLogs/b.log.gz": false, "s3://logs/AWSLogs/torn.lo": false, "s3://logs/AWSLogs/torn.log.gz": false} {
		if cp.has(name) != want {
			t.Errorf("has(%q) = %v", name, !want)
		}
	}
	if err := cp.add("s3://logs/AWSLogs/d.log.gz"); err != nil {
		t.Fatal(err)
	}
	cp.close()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(string(got), "torn.lo\n\"s3://logs/AWSLogs/d.log.gz\"\n") {
		t.Errorf("checkpoint ends %q", got[len(got)-60:])
	}
}
