package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// A sink's routing filter is wired from the configuration: the NDJSON
// sink receives only the REJECT, and the run still succeeds, since the
// dropped records are acknowledged.
func TestReplayFilteredSink(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, fmt.Sprintf("sinks:\n  ndjson:\n    filter:\n      keep: [{action: REJECT}]\n  dead_letter:\n    path: %q\n", filepath.Join(dir, "dead.ndjson")))
	in := strings.NewReader(`2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK
2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 3389 6 20 4249 1418530010 1418530070 REJECT OK
2 123456789010 eni-1235b8ca123456789 172.31.16.21 172.31.16.139 22 20641 6 20 4249 1418530010 1418530070 ACCEPT OK
`)
	var stdout, stderr bytes.Buffer
	if err := replay(context.Background(), cfg, replayArgs{}, in, &stdout, &stderr); err != nil {
		t.Fatalf("replay: %v\n%s", err, stderr.String())
	}
	docs := ndjsonLines(t, stdout.String())
	if len(docs) != 1 || !strings.Contains(stdout.String(), "172.31.9.69") {
		t.Fatalf("want the REJECT only, got %d documents:\n%s", len(docs), stdout.String())
	}
}
