package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// backfillBucket fills a bucket with flow logs of two days in both key
// layouts and formats, plus objects a backfill must cope with.
func backfillBucket(t *testing.T, c Clients) string {
	t.Helper()
	b := newBucket(t, c)
	put(t, c, b, plainDay+"123456789012_vpcflowlogs_us-east-1_fl-1_20240501T0005Z_aa.log.gz", gz(lines(header, lineAccept)))
	put(t, c, b, hiveHour+"123456789012_vpcflowlogs_us-east-1_fl-1_20240501T1305Z_bb.log.parquet", readFile(t, "../../../testdata/flowlogs/sample-v5.parquet"))
	put(t, c, b, plainDay+"123456789012_vpcflowlogs_us-east-1_fl-1_20240501T0010Z_cc.log.gz", []byte("\x1f\x8bnot really gzip"))
	put(t, c, b, "AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/05/02/123456789012_vpcflowlogs_us-east-1_fl-1_20240502T0005Z_dd.log.gz", gz(lines(header, lineReject)))
	put(t, c, b, "AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/04/30/x.log.parquet", readFile(t, "../../../testdata/flowlogs/sample-v2.parquet"))
	put(t, c, b, "AWSLogs/notes.txt", []byte("not a flow log\n"))
	return b
}

func TestBackfillDateRange(t *testing.T) {
	cfg := motoConfig(t)
	c := motoClients(t, cfg)
	bucket := backfillBucket(t, c)
	e := newEnv(t)
	bf := NewBackfill(cfg, c.S3, e.r, nil)
	bf.Since, bf.Until = time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 5, 2, 0, 0, 0, 0, time.UTC)
	var progress bytes.Buffer
	bf.Progress, bf.ProgressEvery = &progress, 10*time.Millisecond
	sum, err := bf.Run(context.Background(), []string{"s3://" + bucket + "/AWSLogs/"})
	if err != nil {
		t.Fatal(err)
	}
	got := raws(e.sink.Records())
	slices.Sort(got)
	// The day's text object and the Parquet object of its hour 13 (two v5
	// records); not the days around it.
	if len(got) != 3 || !slices.Contains(got, lineAccept) || slices.Contains(got, lineReject) || !strings.HasPrefix(got[2], "5 ") {
		t.Errorf("records = %q", got)
	}
	fs := e.dl.Failures()
	if len(fs) != 1 || !strings.HasSuffix(fs[0].Ref, "_cc.log.gz") || !strings.Contains(fs[0].Reason, "gzip") || fs[0].Source != "s3" {
		t.Errorf("dead letters = %+v, want the corrupt object's", fs)
	}
	if sum.Objects != 3 || sum.Done != 3 || sum.Undated != 1 || sum.Errors != 0 {
		t.Errorf("summary = %+v", sum)
	}
	if !strings.Contains(progress.String(), "objects 3/3") {
		t.Errorf("progress = %q", progress.String())
	}
}

// TestBackfillResume stops a backfill whose sink fails: nothing is
// checkpointed, so the next run reads every object, and the run after that
// none.
func TestBackfillResume(t *testing.T) {
	cfg := motoConfig(t)
	c := motoClients(t, cfg)
	bucket := backfillBucket(t, c)
	url := "s3://" + bucket + "/AWSLogs/123456789012/"
	cp := filepath.Join(t.TempDir(), "checkpoint")

	e := newEnv(t)
	e.sink.SetErr(errors.New("cluster down"))
	bf := NewBackfill(cfg, c.S3, e.r, nil)
	bf.Checkpoint = cp
	sum, err := bf.Run(context.Background(), []string{url})
	if err == nil || sum.Done != 1 { // only the corrupt object: its dead letter was stored
		t.Fatalf("failing sink: summary %+v, err %v", sum, err)
	}

	e = newEnv(t)
	bf = NewBackfill(cfg, c.S3, e.r, nil)
	bf.Checkpoint = cp
	sum, err = bf.Run(context.Background(), []string{url})
	if err != nil || sum.Resumed != 1 || sum.Done != 3 || sum.Records != 402 {
		t.Fatalf("resumed: summary %+v, err %v", sum, err)
	}

	// A torn last line (the process stopped while writing it) is ignored.
	f, _ := os.OpenFile(cp, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`"s3://` + bucket)
	f.Close()
	e = newEnv(t)
	bf = NewBackfill(cfg, c.S3, e.r, nil)
	bf.Checkpoint = cp
	sum, err = bf.Run(context.Background(), []string{url})
	if err != nil || sum.Resumed != 4 || sum.Objects != 0 || len(e.sink.Records()) != 0 {
		t.Fatalf("complete: summary %+v, err %v", sum, err)
	}
}

// TestBackfillStopped stops a backfill (SIGTERM's cancellation) after two
// objects: the next run skips exactly the objects the checkpoint names and
// reads the others.
func TestBackfillStopped(t *testing.T) {
	cfg := motoConfig(t)
	cfg.Concurrency = 1
	c := motoClients(t, cfg)
	bucket := newBucket(t, c)
	for i := range 6 {
		put(t, c, bucket, plainDay+strconv.Itoa(i)+".log.gz", gz(lines(header, lineAccept)))
	}
	cp := filepath.Join(t.TempDir(), "checkpoint")
	url := "s3://" + bucket + "/AWSLogs/"

	e := newEnv(t)
	e.sink.SetDelay(50 * time.Millisecond)
	bf := NewBackfill(cfg, c.S3, e.r, nil)
	bf.Checkpoint = cp
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for {
			if data, _ := os.ReadFile(cp); strings.Count(string(data), "\n") >= 2 {
				cancel()
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	first, err := bf.Run(ctx, []string{url})
	if err == nil || !strings.Contains(err.Error(), "interrupted") || first.Done >= 6 {
		t.Fatalf("stopped run: summary %+v, err %v", first, err)
	}

	e = newEnv(t)
	bf = NewBackfill(cfg, c.S3, e.r, nil)
	bf.Checkpoint = cp
	second, err := bf.Run(context.Background(), []string{url})
	if err != nil || second.Resumed != first.Done || second.Done != 6-first.Done || second.Records != int64(6-first.Done) {
		t.Fatalf("resumed run: summary %+v after %+v, err %v", second, first, err)
	}
}

// listingCalls records the prefix and continuation token of every
// ListObjectsV2 call a client makes.
type listingCalls struct {
	mu    sync.Mutex
	calls []string
	rt    http.RoundTripper
}

func (l *listingCalls) RoundTrip(r *http.Request) (*http.Response, error) {
	if q := r.URL.Query(); q.Get("list-type") == "2" {
		l.mu.Lock()
		l.calls = append(l.calls, q.Get("prefix")+" "+q.Get("continuation-token"))
		l.mu.Unlock()
	}
	return l.rt.RoundTrip(r)
}

// TestBackfillListsPageByPage: a dated walk descends into the prefixes of
// a listing page before it asks for the next page, so a level with
// millions of prefixes is never held whole.
func TestBackfillListsPageByPage(t *testing.T) {
	defer func(n int32) { listPage = n }(listPage)
	listPage = 2
	cfg := motoConfig(t)
	c := motoClients(t, cfg)
	bucket := newBucket(t, c)
	for h := range 5 {
		put(t, c, bucket, fmt.Sprintf("%s%02d/x.log.gz", plainDay, h), gz(lines(header, lineAccept)))
	}
	calls := &listingCalls{rt: http.DefaultTransport}
	client := s3.New(c.S3.Options(), func(o *s3.Options) { o.HTTPClient = &http.Client{Transport: calls} })
	e := newEnv(t)
	bf := NewBackfill(cfg, client, e.r, nil)
	bf.Since, bf.Until = time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 5, 2, 0, 0, 0, 0, time.UTC)
	sum, err := bf.Run(context.Background(), []string{"s3://" + bucket + "/" + plainDay})
	if err != nil || sum.Done != 5 || len(e.sink.Records()) != 5 {
		t.Fatalf("summary %+v, %d records, err %v", sum, len(e.sink.Records()), err)
	}
	first, second := slices.Index(calls.calls, plainDay+"00/ "), -1
	for i, call := range calls.calls {
		if prefix, token, _ := strings.Cut(call, " "); prefix == plainDay && token != "" {
			second = i
			break
		}
	}
	if first < 0 || second < 0 || first > second {
		t.Errorf("listing calls %q: want the first page's prefixes listed before the second page", calls.calls)
	}
}
