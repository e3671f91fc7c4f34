package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMain runs main itself when FLOWHOSE_TEST_MAIN is set, so that tests
// can start the real process (signals, inherited file descriptors) from the
// test binary without building it.
func TestMain(m *testing.M) {
	if os.Getenv("FLOWHOSE_TEST_MAIN") != "" {
		main()
		os.Exit(0)
	}
	code := m.Run()
	if bin, err := binary(); err == nil {
		os.RemoveAll(filepath.Dir(bin))
	}
	os.Exit(code)
}

// flowhoseCommand returns the test binary set up to run main with args.
func flowhoseCommand(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "FLOWHOSE_TEST_MAIN=1")
	return cmd
}

// `flowhose replay … | head -1`: once the reader of standard output is
// gone, replay must stop with an error and exit 1, not die of SIGPIPE.
func TestReplayToClosedPipe(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, fmt.Sprintf("sources:\n  file:\n    batch_size: 10\nsinks:\n  dead_letter:\n    path: %q\n", filepath.Join(dir, "dead.ndjson")))
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	cmd := flowhoseCommand(t, "-config", cfg, "replay", "../../testdata/flowlogs/sample-v2.log.gz")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = w, &stderr
	err = cmd.Run()
	w.Close()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("replay to a closed pipe: %v (exit code 1 wanted, -1 is a signal)\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	var sum replaySummary
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil {
		t.Fatalf("last stderr line is not the JSON summary: %v\n%s", err, stderr.String())
	}
	all := strings.Join(sum.Errors, "\n")
	if sum.OK || sum.Failed == 0 || !strings.Contains(all, "broken pipe") || !strings.Contains(all, "failed permanently") {
		t.Errorf("summary %+v, want failed batches naming the broken pipe and reading stopped", sum)
	}
	// 400 records in batches of 10: reading stops long before the end.
	if sum.Batches >= 40 {
		t.Errorf("%d batches submitted: replay kept reading after the pipe closed", sum.Batches)
	}
}
