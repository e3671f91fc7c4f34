package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowhose/flowhose/internal/servicetest"
)

// motoPut creates an object (or, with no key, a bucket) in moto with a
// plain path-style PUT, which moto accepts unsigned.
func motoPut(t *testing.T, base, path string, body []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, base+"/"+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT %s: %s", path, resp.Status)
	}
}

// TestReplayS3 backfills a day of a bucket in moto, then resumes from the
// checkpoint and reads nothing twice.
func TestReplayS3(t *testing.T) {
	moto := servicetest.Env(t, "FLOWHOSE_TEST_MOTO_URL")
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	var b [4]byte
	_, _ = rand.Read(b[:])
	bucket := "replay-" + hex.EncodeToString(b[:])
	motoPut(t, moto, bucket, nil)
	text, err := os.ReadFile("../../testdata/flowlogs/sample-v2.log.gz")
	if err != nil {
		t.Fatal(err)
	}
	pq, err := os.ReadFile("../../testdata/flowlogs/sample-v2.parquet")
	if err != nil {
		t.Fatal(err)
	}
	motoPut(t, moto, bucket+"/AWSLogs/123456789012/vpcflowlogs/eu-west-1/2024/05/01/a.log.gz", text)
	motoPut(t, moto, bucket+"/AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=eu-west-1/year=2024/month=05/day=01/b.log.parquet", pq)
	motoPut(t, moto, bucket+"/AWSLogs/123456789012/vpcflowlogs/eu-west-1/2024/05/02/c.log.gz", text)

	dir := t.TempDir()
	cfg := writeConfig(t, fmt.Sprintf("sinks:\n  ndjson:\n    path: %q\n  dead_letter:\n    path: %q\nsources:\n  s3:\n    region: eu-west-1\n    s3_endpoint: %q\n    path_style: true\n",
		filepath.Join(dir, "out.ndjson"), filepath.Join(dir, "dead.ndjson"), moto))
	checkpoint := filepath.Join(dir, "checkpoint")
	replayS3 := func() replaySummary {
		var stderr bytes.Buffer
		err := run(context.Background(), []string{"-config", cfg, "replay", "-since", "2024-05-01", "-until", "2024-05-02", "-checkpoint", checkpoint, "s3://" + bucket + "/AWSLogs/"}, &bytes.Buffer{}, &stderr)
		if err != nil {
			t.Fatalf("replay: %v\n%s", err, stderr.String())
		}
		lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
		var sum replaySummary
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil {
			t.Fatalf("no JSON summary: %v\n%s", err, stderr.String())
		}
		return sum
	}
	if sum := replayS3(); !sum.OK || sum.Objects != 2 || sum.Records != 800 {
		t.Errorf("first run: %+v, want the day's 2 objects, 400 records each", sum)
	}
	if sum := replayS3(); !sum.OK || sum.Objects != 0 || sum.Resumed != 2 || sum.Records != 0 {
		t.Errorf("second run: %+v, want both objects skipped as done", sum)
	}
}
