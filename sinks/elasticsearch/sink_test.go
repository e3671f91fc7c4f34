package elasticsearch

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/ecs"
	"github.com/flowhose/flowhose/stream/sinktest"
)

// testConfig is a fast configuration for a fake node at url.
func testConfig(url string) Config {
	c := DefaultConfig()
	c.URLs = []string{url}
	c.FlushInterval = time.Hour // tests flush by count or Close
	c.RetryInitial = time.Millisecond
	c.RetryMax = 4 * time.Millisecond
	c.RetryFor = 0
	c.Compress = false
	return c
}

func newTestSink(t *testing.T, cfg Config, dl stream.DeadLetterWriter) *Sink {
	t.Helper()
	s, err := newSink(cfg, dl, prometheus.NewRegistry(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

func TestDeliversDocumentsAndAcks(t *testing.T) {
	for _, tc := range []struct {
		name      string
		target    string
		compress  bool
		wantIndex string
	}{
		{"data stream", TargetDataStream, false, "logs-aws.vpcflow-default"},
		{"daily index gzip", TargetIndex, true, "flowhose-vpcflow-2023.11.14"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			es := newFakeES(t, allOK)
			cfg := testConfig(es.URL)
			cfg.Target = tc.target
			cfg.Compress = tc.compress
			cfg.FlushDocs = 4
			cfg.Workers = 1 // requests arrive in order
			s := newTestSink(t, cfg, &sinktest.DeadLetter{})
			recs := sampleRecords(t, 10)
			ack := sinktest.Accept(t, s, recs)
			if err := s.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			if err := sinktest.Wait(t, ack, 10*time.Second); err != nil {
				t.Fatalf("ack: %v", err)
			}
			reqs := es.requests()
			if len(reqs) != 3 {
				t.Fatalf("got %d bulk requests, want 3 (4+4+2 docs)", len(reqs))
			}
			var docs []fakeDoc
			for _, r := range reqs {
				if r.Gzipped != tc.compress {
					t.Errorf("gzipped = %v, want %v", r.Gzipped, tc.compress)
				}
				docs = append(docs, r.Docs...)
			}
			for i, d := range docs {
				if d.Index != tc.wantIndex {
					t.Errorf("doc %d index %q, want %q", i, d.Index, tc.wantIndex)
				}
				var src struct {
					Timestamp string `json:"@timestamp"`
					AWS       struct {
						VPCFlow struct {
							InterfaceID string `json:"interface_id"`
						} `json:"vpcflow"`
					} `json:"aws"`
				}
				if err := json.Unmarshal(d.Source, &src); err != nil {
					t.Fatalf("doc %d: %v", i, err)
				}
				if src.AWS.VPCFlow.InterfaceID != recs[i].InterfaceID {
					t.Errorf("doc %d interface %q, want %q (order lost?)", i, src.AWS.VPCFlow.InterfaceID, recs[i].InterfaceID)
				}
				if len(d.ID) != 22 {
					t.Errorf("doc %d id %q", i, d.ID)
				}
			}
			if got := testutil.ToFloat64(s.m.indexed); got != 10 {
				t.Errorf("indexed metric %v, want 10", got)
			}
		})
	}
}

func TestItemOutcomes(t *testing.T) {
	// First request: 201, 429, 503, 409 (exists), 400 (mapping), 404
	// (no such index: the cluster's fault, not the document's). The second
	// request must carry exactly the 429, 503 and 404 documents.
	es := newFakeES(t, func(n int, docs []fakeDoc) (int, []int) {
		if n == 0 {
			return 0, []int{201, 429, 503, 409, 400, 404}
		}
		return 0, nil
	})
	dl := &sinktest.DeadLetter{}
	s := newTestSink(t, testConfig(es.URL), dl)
	recs := sampleRecords(t, 6)
	ack := sinktest.Accept(t, s, recs)
	s.Close(context.Background())
	if err := sinktest.Wait(t, ack, 10*time.Second); err != nil {
		t.Fatalf("ack: %v", err)
	}
	reqs := es.requests()
	if len(reqs) != 2 {
		t.Fatalf("got %d requests, want 2", len(reqs))
	}
	first, retried := reqs[0].Docs, reqs[1].Docs
	if len(retried) != 3 || retried[0].ID != first[1].ID || retried[1].ID != first[2].ID || retried[2].ID != first[5].ID {
		t.Fatalf("retried %v, want docs 1, 2 and 5 of %v", ids(retried), ids(first))
	}
	fs := dl.Failures()
	if len(fs) != 1 || fs[0].Input != recs[4].Raw || !strings.Contains(fs[0].Reason, "400") {
		t.Fatalf("dead letters %+v, want record 4 with the 400 reason", fs)
	}
	for _, c := range []struct {
		name string
		got  float64
		want float64
	}{
		{"indexed", testutil.ToFloat64(s.m.indexed), 4},
		{"duplicates", testutil.ToFloat64(s.m.duplicates), 1},
		{"retried", testutil.ToFloat64(s.m.retried), 3},
		{"dead-lettered", testutil.ToFloat64(s.m.deadLettered), 1},
		{"failed", testutil.ToFloat64(s.m.failed), 0},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func ids(docs []fakeDoc) []string {
	var out []string
	for _, d := range docs {
		out = append(out, d.ID)
	}
	return out
}

func TestRequestFailures(t *testing.T) {
	for _, tc := range []struct {
		name      string
		statuses  []int // whole-request status per attempt; past the end: 200
		retryFor  time.Duration
		wantReqs  int
		wantErr   bool
		wantFails float64
	}{
		{"503 then ok", []int{503, 503}, 0, 3, false, 0},
		{"429 then ok", []int{429}, 0, 2, false, 0},
		{"401 is retried", []int{401}, 0, 2, false, 0},
		{"400 splits the request", []int{400}, 0, 3, false, 0},
		{"413 splits the request", []int{413}, 0, 3, false, 0},
		{"gives up after retry_for", []int{503, 503, 503, 503, 503, 503, 503, 503, 503, 503}, 5 * time.Millisecond, -1, true, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			es := newFakeES(t, func(n int, docs []fakeDoc) (int, []int) {
				if n < len(tc.statuses) {
					return tc.statuses[n], nil
				}
				return 0, nil
			})
			cfg := testConfig(es.URL)
			cfg.RetryFor = tc.retryFor
			dl := &sinktest.DeadLetter{}
			s := newTestSink(t, cfg, dl)
			ack := sinktest.Accept(t, s, sampleRecords(t, 5))
			s.Close(context.Background())
			err := sinktest.Wait(t, ack, 10*time.Second)
			if (err != nil) != tc.wantErr {
				t.Fatalf("ack err = %v, want error: %v", err, tc.wantErr)
			}
			if err != nil && stream.IsPermanent(err) {
				t.Errorf("request failures must stay retryable for the source, got permanent %v", err)
			}
			if tc.wantReqs >= 0 && len(es.requests()) != tc.wantReqs {
				t.Errorf("got %d requests, want %d", len(es.requests()), tc.wantReqs)
			}
			if !tc.wantErr && es.storedCount() != 5 {
				t.Errorf("stored %d docs, want 5", es.storedCount())
			}
			if len(dl.Failures()) != 0 {
				t.Errorf("request failures must not dead-letter documents: %+v", dl.Failures())
			}
			if got := testutil.ToFloat64(s.m.failed); got != tc.wantFails {
				t.Errorf("failed metric %v, want %v", got, tc.wantFails)
			}
		})
	}
}

func TestBatchesAndRequestsInterleave(t *testing.T) {
	// Three batches of 3 with requests of 4 documents: batch 1 spans two
	// requests, request 2 carries parts of all three batches. Request 2
	// (docs 4-7) keeps failing with 503 until retry_for, so batches 2 and
	// 3 fail and batch 1 (docs 0-2) succeeds... except doc 3 of batch 2 is
	// in request 1.
	var bad string // first id of request 2
	es := newFakeES(t, func(n int, docs []fakeDoc) (int, []int) {
		if n == 1 {
			bad = docs[0].ID
		}
		if docs[0].ID == bad {
			return 503, nil
		}
		return 0, nil
	})
	cfg := testConfig(es.URL)
	cfg.FlushDocs = 4
	cfg.Workers = 1
	cfg.RetryFor = 10 * time.Millisecond
	s := newTestSink(t, cfg, &sinktest.DeadLetter{})
	recs := sampleRecords(t, 9)
	acks := []*stream.Ack{sinktest.Accept(t, s, recs[0:3]), sinktest.Accept(t, s, recs[3:6]), sinktest.Accept(t, s, recs[6:9])}
	s.Close(context.Background())
	want := []bool{false, true, true}
	for i, ack := range acks {
		err := sinktest.Wait(t, ack, 10*time.Second)
		if (err != nil) != want[i] {
			t.Errorf("batch %d: err = %v, want error: %v", i, err, want[i])
		}
	}
	if n := es.storedCount(); n != 5 {
		t.Errorf("stored %d docs, want 5 (requests 1 and 3)", n)
	}
}

// TestRefusedRequestsAreSplit: a bulk request refused as a whole (413:
// too large; 400: one bad document spoils the body) is split in halves
// until the rest is delivered and the one document still refused on its
// own is dead-lettered with the reason.
func TestRefusedRequestsAreSplit(t *testing.T) {
	const bad = 5
	recs := sampleRecords(t, 8)
	for _, tc := range []struct {
		name     string
		status   int
		compress bool
	}{
		{"413 above the size limit", 413, false},
		{"413 above the size limit, gzip", 413, true},
		{"400 for a body with a bad document", 400, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs := append([]stream.Record(nil), recs...)
			cfg := testConfig("")
			cfg.Compress = tc.compress
			cfg.Workers = 1
			var badID string
			es := newFakeES(t, func(n int, docs []fakeDoc) (int, []int) {
				for _, d := range docs {
					if tc.status == 400 && d.ID == badID {
						return 400, nil
					}
				}
				return 0, nil
			})
			if tc.status == 413 {
				// Room for about three documents; the bad one is
				// larger than that on its own.
				es.maxBody = 3000
				cfg.EventOriginal = true
				recs[bad].Raw += strings.Repeat(" ", es.maxBody)
			}
			cfg.URLs = []string{es.URL}
			dl := &sinktest.DeadLetter{}
			s := newTestSink(t, cfg, dl)
			badID = string(ecs.AppendID(nil, &recs[bad]))
			ack := sinktest.Accept(t, s, recs)
			if err := s.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			if err := sinktest.Wait(t, ack, 10*time.Second); err != nil {
				t.Fatalf("ack: %v", err)
			}
			if n := es.storedCount(); n != len(recs)-1 {
				t.Errorf("stored %d docs, want %d", n, len(recs)-1)
			}
			fs := dl.Failures()
			if len(fs) != 1 || fs[0].Input != recs[bad].Raw || !strings.Contains(fs[0].Reason, fmt.Sprint(tc.status)) {
				t.Fatalf("dead letters %+v, want record %d with the %d reason", fs, bad, tc.status)
			}
			for _, r := range es.requests() {
				if tc.status == 413 && r.Docs != nil && r.Size > es.maxBody {
					t.Errorf("a %d-byte request was indexed above the limit", r.Size)
				}
			}
			for _, c := range []struct {
				name      string
				got, want float64
			}{
				{"indexed", testutil.ToFloat64(s.m.indexed), float64(len(recs) - 1)},
				{"dead-lettered", testutil.ToFloat64(s.m.deadLettered), 1},
				{"failed", testutil.ToFloat64(s.m.failed), 0},
				{"retried", testutil.ToFloat64(s.m.retried), 0},
			} {
				if c.got != c.want {
					t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
				}
			}
			if testutil.ToFloat64(s.m.splits) == 0 {
				t.Error("splits metric not counted")
			}
		})
	}
}

// TestSplitAfterRetry: a part whose documents were resent from the
// worker's retry buffers and is then refused as a whole must split
// without later retries overwriting its halves.
func TestSplitAfterRetry(t *testing.T) {
	es := newFakeES(t, func(n int, docs []fakeDoc) (int, []int) {
		switch n {
		case 0: // docs 1-4 and 6-7 come back
			return 0, []int{201, 429, 429, 429, 429, 201, 429, 429}
		case 1: // the 6 resent documents, refused as a whole
			return 413, nil
		case 2: // the first 3 of them: one retried twice, through both
			// retry buffers
			return 0, []int{201, 503, 201}
		case 3:
			return 503, nil
		}
		return 0, nil
	})
	s := newTestSink(t, testConfig(es.URL), &sinktest.DeadLetter{})
	recs := sampleRecords(t, 8)
	ack := sinktest.Accept(t, s, recs)
	s.Close(context.Background())
	if err := sinktest.Wait(t, ack, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	reqs := es.requests()
	first := reqs[0].Docs
	want := [][]fakeDoc{
		{first[1], first[2], first[3], first[4], first[6], first[7]},
		{first[1], first[2], first[3]},
		{first[2]},
		{first[2]},
		{first[4], first[6], first[7]},
	}
	if len(reqs) != 1+len(want) {
		t.Fatalf("got %d requests, want %d", len(reqs), 1+len(want))
	}
	for i, w := range want {
		got := reqs[i+1].Docs
		if len(got) != len(w) {
			t.Fatalf("request %d carried %v, want %v", i+1, ids(got), ids(w))
		}
		for j := range got {
			if got[j].ID != w[j].ID || string(got[j].Source) != string(w[j].Source) {
				t.Errorf("request %d doc %d: %s, want %s", i+1, j, got[j].ID, w[j].ID)
			}
		}
	}
	if es.storedCount() != 8 {
		t.Errorf("stored %d, want 8", es.storedCount())
	}
}

func TestRedeliveryIsDuplicateFree(t *testing.T) {
	es := newFakeES(t, allOK)
	s := newTestSink(t, testConfig(es.URL), &sinktest.DeadLetter{})
	recs := sampleRecords(t, 6)
	a1 := sinktest.Accept(t, s, recs)
	a2 := sinktest.Accept(t, s, recs) // the source redelivered the same batch
	s.Close(context.Background())
	if err := sinktest.Wait(t, a1, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := sinktest.Wait(t, a2, 10*time.Second); err != nil {
		t.Fatalf("redelivered batch must succeed (409 = delivered): %v", err)
	}
	if es.storedCount() != 6 {
		t.Errorf("stored %d, want 6", es.storedCount())
	}
	if got := testutil.ToFloat64(s.m.duplicates); got != 6 {
		t.Errorf("duplicates metric %v, want 6", got)
	}
}

func TestDeadLetterFailureFailsBatch(t *testing.T) {
	es := newFakeES(t, func(int, []fakeDoc) (int, []int) { return 0, []int{201, 400} })
	dl := &sinktest.DeadLetter{}
	dl.SetErr(errors.New("disk full"))
	s := newTestSink(t, testConfig(es.URL), dl)
	ack := sinktest.Accept(t, s, sampleRecords(t, 2))
	s.Close(context.Background())
	if err := sinktest.Wait(t, ack, 10*time.Second); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("ack err = %v, want the dead-letter error", err)
	}
}

func TestCloseGivesUpWhenContextEnds(t *testing.T) {
	es := newFakeES(t, func(int, []fakeDoc) (int, []int) { return 503, nil })
	cfg := testConfig(es.URL)
	cfg.RetryFor = 0 // forever, until Close gives up
	s := newTestSink(t, cfg, &sinktest.DeadLetter{})
	ack := sinktest.Accept(t, s, sampleRecords(t, 3))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close = %v, want deadline exceeded", err)
	}
	if err := sinktest.Wait(t, ack, 10*time.Second); err == nil {
		t.Fatal("batch acknowledged although nothing was indexed")
	}
	if err := s.Accept(context.Background(), &stream.Batch{Records: sampleRecords(t, 1), Ack: stream.NewAck()}); !errors.Is(err, ErrClosed) {
		t.Errorf("Accept after Close = %v, want ErrClosed", err)
	}
}

func TestAcceptBlocksWhileSaturated(t *testing.T) {
	es := newFakeES(t, allOK)
	release := make(chan struct{})
	es.release = release
	cfg := testConfig(es.URL)
	cfg.FlushDocs = 1
	cfg.Workers = 1
	cfg.QueuedRequests = 0
	s := newTestSink(t, cfg, &sinktest.DeadLetter{})
	recs := sampleRecords(t, 3)
	// Request 1 occupies the worker, request 2 waits in Accept's hand-over.
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		sinktest.Accept(t, s, recs)
	}()
	select {
	case <-returned:
		t.Fatal("Accept returned while the only worker was stuck")
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	<-returned
}

func TestFlushInterval(t *testing.T) {
	es := newFakeES(t, allOK)
	cfg := testConfig(es.URL)
	cfg.FlushInterval = 10 * time.Millisecond
	s := newTestSink(t, cfg, &sinktest.DeadLetter{})
	ack := sinktest.Accept(t, s, sampleRecords(t, 2))
	// No Close: only the timer can send the request.
	if err := sinktest.Wait(t, ack, 10*time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestEmptyBatch(t *testing.T) {
	es := newFakeES(t, allOK)
	s := newTestSink(t, testConfig(es.URL), &sinktest.DeadLetter{})
	if err := sinktest.Wait(t, sinktest.Accept(t, s, nil), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if n := len(es.requests()); n != 0 {
		t.Errorf("empty batch sent %d requests", n)
	}
}

// shortAndMalformed are 200 answers to a request of 5 documents that do
// not prove every document indexed.
var shortAndMalformed = []struct{ name, body string }{
	{"one item for five", `{"errors":false,"items":[{"create":{"status":201}}]}`},
	{"no items", `{"errors":false}`},
	{"empty object", `{}`},
	{"null", `null`},
	{"took only", `{"took":1}`},
	{"empty items with errors", `{"errors":true,"items":[]}`},
	{"too many items", `{"errors":false,"items":[` + strings.Repeat(`{"create":{"status":201}},`, 5) + `{"create":{"status":201}}]}`},
	{"wrong action", `{"errors":false,"items":[` + strings.Repeat(`{"create":{"status":201}},`, 4) + `{"index":{"status":201}}]}`},
	{"two actions in an item", `{"errors":false,"items":[` + strings.Repeat(`{"create":{"status":201}},`, 4) + `{"create":{"status":201},"index":{"status":201}}]}`},
	{"item without status", `{"errors":true,"items":[` + strings.Repeat(`{"create":{"status":201}},`, 4) + `{"create":{}}]}`},
	{"status out of range", `{"errors":false,"items":[` + strings.Repeat(`{"create":{"status":201}},`, 4) + `{"create":{"status":2010}}]}`},
	{"not json", `<html>ok</html>`},
	{"truncated", `{"errors":false,"items":[{"create":{"status":201}},{"create":{"stat`},
	{"trailing garbage", `{"errors":false,"items":[` + strings.Repeat(`{"create":{"status":201}},`, 4) + `{"create":{"status":201}}]}x`},
}

func TestShortOrMalformedResponsesAcknowledgeNothing(t *testing.T) {
	for _, tc := range shortAndMalformed {
		t.Run(tc.name, func(t *testing.T) {
			if res, err := parseBulk([]byte(tc.body), 5); err == nil {
				t.Fatalf("parseBulk accepted %q as %v", tc.body, res)
			}
			// Through the sink: the first answer is the bad body; the
			// whole request must be sent again and only its real answer
			// acknowledges the batch.
			es := newFakeES(t, allOK)
			es.raw = func(n int) string {
				if n == 0 {
					return tc.body
				}
				return ""
			}
			s := newTestSink(t, testConfig(es.URL), &sinktest.DeadLetter{})
			ack := sinktest.Accept(t, s, sampleRecords(t, 5))
			s.Close(context.Background())
			if err := sinktest.Wait(t, ack, 10*time.Second); err != nil {
				t.Fatalf("ack: %v", err)
			}
			reqs := es.requests()
			if len(reqs) != 2 || len(reqs[1].Docs) != 5 {
				t.Fatalf("got %d requests, want the 5 documents sent again", len(reqs))
			}
			if got := testutil.ToFloat64(s.m.indexed); got != 5 {
				t.Errorf("indexed metric %v, want 5 (the bad answer counted?)", got)
			}
		})
	}
	t.Run("never a proper answer", func(t *testing.T) {
		es := newFakeES(t, allOK)
		es.raw = func(int) string { return shortAndMalformed[0].body }
		cfg := testConfig(es.URL)
		cfg.RetryFor = 10 * time.Millisecond
		dl := &sinktest.DeadLetter{}
		s := newTestSink(t, cfg, dl)
		ack := sinktest.Accept(t, s, sampleRecords(t, 5))
		s.Close(context.Background())
		err := sinktest.Wait(t, ack, 10*time.Second)
		if err == nil || stream.IsPermanent(err) {
			t.Fatalf("ack err = %v, want a retryable failure", err)
		}
		if got := testutil.ToFloat64(s.m.indexed); got != 0 {
			t.Errorf("indexed metric %v, want 0", got)
		}
		if got := testutil.ToFloat64(s.m.failed); got != 5 {
			t.Errorf("failed metric %v, want 5", got)
		}
		if len(dl.Failures()) != 0 {
			t.Errorf("dead-lettered %+v", dl.Failures())
		}
	})
}

func TestParseBulkJudgesEveryItem(t *testing.T) {
	ok := func(n int) string {
		return `{"errors":false,"items":[` + strings.Repeat(`{"create":{"status":201}},`, n-1) + `{"create":{"status":201}}]}`
	}
	for _, tc := range []struct {
		name, body string
		n          int
		want       []int // nil: all created
	}{
		{"all created", ok(3), 3, nil},
		{"all created, other layout", `{"took":3, "errors":false, "items":[{"create":{"status":201}},{"create":{"status":200}}]}`, 2, nil},
		{"errors false but a 400", `{"errors":false,"items":[{"create":{"status":201}},{"create":{"status":400}}]}`, 2, []int{201, 400}},
		{"errors true", `{"errors":true,"items":[{"create":{"status":409,"error":{"type":"version_conflict_engine_exception"}}},{"create":{"status":201}}]}`, 2, []int{409, 201}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := parseBulk([]byte(tc.body), tc.n)
			if err != nil {
				t.Fatal(err)
			}
			if (res == nil) != (tc.want == nil) || len(res) != len(tc.want) {
				t.Fatalf("got %+v, want statuses %v", res, tc.want)
			}
			for i, r := range res {
				if r.Status != tc.want[i] {
					t.Errorf("item %d status %d, want %d", i, r.Status, tc.want[i])
				}
			}
		})
	}
	if false && ok(3) == "" && (false || allCreated([]byte(ok(3)), 4)) {
		t.Error("allCreated does not count items")
	}
}

func FuzzParseBulk(f *testing.F) {
	f.Add([]byte(`{"errors":false,"items":[{"create":{"status":201}}]}`), 1)
	f.Add([]byte(`{"errors":true,"items":[{"create":{"status":429,"error":{"type":"x","reason":"y"}}}]}`), 1)
	f.Add([]byte(`{"errors":true,"items":[{"create":{"status":201}},{"index":{"status":400}}]}`), 2)
	for _, tc := range shortAndMalformed {
		f.Add([]byte(tc.body), 5)
	}
	f.Fuzz(func(t *testing.T, body []byte, n int) {
		if n < 0 || n > 1000 {
			return
		}
		res, err := parseBulk(body, n)
		if err != nil {
			return
		}
		// Whatever was accepted must account for every document: n
		// create items, each with a status, all 2xx when res is nil.
		var top struct {
			Items []map[string]struct {
				Status *int `json:"status"`
			} `json:"items"`
		}
		if err := json.Unmarshal(body, &top); err != nil || len(top.Items) != n {
			t.Fatalf("accepted %q for %d documents", body, n)
		}
		if res != nil && len(res) != n {
			t.Fatalf("got %d results for %d items", len(res), n)
		}
		for i, m := range top.Items {
			r, ok := m["create"]
			if !ok || r.Status == nil {
				t.Fatalf("item %d of %q accepted without a create status", i, body)
			}
			if res == nil && (*r.Status < 200 || *r.Status > 299) {
				t.Fatalf("item %d status %d reported as created", i, *r.Status)
			}
		}
	})
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string // substring of the error; "" = valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"index target", func(c *Config) { c.Target = TargetIndex }, ""},
		{"cloud id without urls", func(c *Config) { c.URLs = nil; c.CloudID = "x:eA==" }, ""},
		{"no urls", func(c *Config) { c.URLs = nil }, "urls:"},
		{"bad url", func(c *Config) { c.URLs = []string{"127.0.0.1:9200"} }, "urls:"},
		{"half basic auth", func(c *Config) { c.Username = "u" }, "username, password"},
		{"bad target", func(c *Config) { c.Target = "alias" }, "target:"},
		{"bad dataset", func(c *Config) { c.Dataset = "AWS-vpc" }, "dataset:"},
		{"bad namespace", func(c *Config) { c.Namespace = "" }, "namespace:"},
		{"bad prefix", func(c *Config) { c.Target = TargetIndex; c.IndexPrefix = "_x" }, "index_prefix:"},
		{"flush bytes", func(c *Config) { c.FlushBytes = 0 }, "flush_bytes: must be between 1024 and 67108864, got 0"},
		{"flush bytes at the cap", func(c *Config) { c.FlushBytes = maxFlushBytes }, ""},
		{"flush bytes over max_content_length", func(c *Config) { c.FlushBytes = 100 << 20 }, "flush_bytes: must be between 1024 and 67108864, got 104857600"},
		{"flush docs", func(c *Config) { c.FlushDocs = 0 }, "flush_docs:"},
		{"flush interval", func(c *Config) { c.FlushInterval = 0 }, "flush_interval:"},
		{"workers", func(c *Config) { c.Workers = 0 }, "workers:"},
		{"queued", func(c *Config) { c.QueuedRequests = -1 }, "queued_requests:"},
		{"level", func(c *Config) { c.CompressionLevel = 0 }, "compression_level:"},
		{"level ignored without compression", func(c *Config) { c.Compress = false; c.CompressionLevel = 0 }, ""},
		{"timeout", func(c *Config) { c.RequestTimeout = 0 }, "request_timeout:"},
		{"retry initial", func(c *Config) { c.RetryInitial = 0 }, "retry_initial:"},
		{"retry max", func(c *Config) { c.RetryMax = time.Millisecond }, "retry_max:"},
		{"retry for", func(c *Config) { c.RetryFor = -1 }, "retry_for:"},
		{"replicas", func(c *Config) { c.Replicas = -1 }, "replicas:"},
		{"shards", func(c *Config) { c.Shards = 0 }, "shards:"},
		{"template name", func(c *Config) { c.TemplateName = "" }, "template_name:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mod(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestRepeatedItemRetriesShrink(t *testing.T) {
	es := newFakeES(t, func(n int, docs []fakeDoc) (int, []int) {
		switch n {
		case 0:
			return 0, []int{201, 429, 429, 201}
		case 1:
			return 0, []int{201, 503}
		}
		return 0, nil
	})
	s := newTestSink(t, testConfig(es.URL), &sinktest.DeadLetter{})
	ack := sinktest.Accept(t, s, sampleRecords(t, 4))
	s.Close(context.Background())
	if err := sinktest.Wait(t, ack, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	reqs := es.requests()
	if len(reqs) != 3 {
		t.Fatalf("got %d requests, want 3", len(reqs))
	}
	first := reqs[0].Docs
	for i, want := range [][]fakeDoc{{first[1], first[2]}, {first[2]}} {
		got := reqs[i+1].Docs
		if len(got) != len(want) {
			t.Fatalf("retry %d carried %v, want %v", i+1, ids(got), ids(want))
		}
		for j := range got {
			if got[j].ID != want[j].ID || string(got[j].Source) != string(want[j].Source) {
				t.Errorf("retry %d doc %d: %s %s, want %s %s", i+1, j, got[j].ID, got[j].Source, want[j].ID, want[j].Source)
			}
		}
	}
	if es.storedCount() != 4 {
		t.Errorf("stored %d, want 4", es.storedCount())
	}
}

func TestAuthAndTLS(t *testing.T) {
	var gotAuth atomic.Value
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth.Store(r.Header.Get("Authorization"))
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		io.Copy(io.Discard, r.Body)
		fmt.Fprint(w, `{"errors":false,"items":[{"create":{"status":201}}]}`)
	}))
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(caFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"basic", func(c *Config) { c.Username, c.Password = "elastic", "secret" }, "Basic " + base64.StdEncoding.EncodeToString([]byte("elastic:secret"))},
		{"api key", func(c *Config) { c.APIKey = "aWQ6a2V5" }, "APIKey aWQ6a2V5"},
		{"bearer", func(c *Config) { c.BearerToken = "tok" }, "Bearer tok"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(srv.URL)
			cfg.CAFile = caFile
			tc.mod(&cfg)
			s := newTestSink(t, cfg, &sinktest.DeadLetter{})
			ack := sinktest.Accept(t, s, sampleRecords(t, 1))
			s.Close(context.Background())
			if err := sinktest.Wait(t, ack, 10*time.Second); err != nil {
				t.Fatalf("ack over TLS with ca_file: %v", err)
			}
			if got := gotAuth.Load(); got != tc.want {
				t.Errorf("Authorization %q, want %q", got, tc.want)
			}
		})
	}
	t.Run("untrusted certificate", func(t *testing.T) {
		cfg := testConfig(srv.URL)
		cfg.RetryFor = 20 * time.Millisecond
		s := newTestSink(t, cfg, &sinktest.DeadLetter{})
		ack := sinktest.Accept(t, s, sampleRecords(t, 1))
		s.Close(context.Background())
		if err := sinktest.Wait(t, ack, 10*time.Second); err == nil {
			t.Fatal("delivered to a server whose certificate is not trusted")
		}
	})
	t.Run("missing ca file", func(t *testing.T) {
		cfg := testConfig(srv.URL)
		cfg.CAFile = filepath.Join(t.TempDir(), "none.pem")
		if _, err := New(cfg, &sinktest.DeadLetter{}, nil); err == nil || !strings.Contains(err.Error(), "ca_file") {
			t.Fatalf("New = %v, want a ca_file error", err)
		}
	})
}

func TestCloseWhileAcceptIsBlocked(t *testing.T) {
	es := newFakeES(t, func(int, []fakeDoc) (int, []int) { return 503, nil })
	cfg := testConfig(es.URL)
	cfg.FlushDocs = 1
	cfg.Workers = 1
	cfg.QueuedRequests = 0
	s := newTestSink(t, cfg, &sinktest.DeadLetter{})
	ack := stream.NewAck()
	ack.Add(1)
	accepted := make(chan error, 1)
	go func() {
		accepted <- s.Accept(context.Background(), &stream.Batch{Records: sampleRecords(t, 3), Ack: ack})
	}()
	// The only worker is retrying the first document; Accept waits to
	// hand over the second.
	for len(es.requests()) < 2 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Close(ctx); err == nil {
		t.Error("Close reported success although it gave up")
	}
	if err := <-accepted; err != nil {
		t.Fatalf("Accept: %v", err)
	}
	ack.Done(nil)
	if err := sinktest.Wait(t, ack, 10*time.Second); err == nil {
		t.Fatal("batch acknowledged although nothing was indexed")
	}
}

func TestProductCheck(t *testing.T) {
	// A 200 that proves every document, from something that is not
	// Elasticsearch: nothing may be acknowledged from it.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		fmt.Fprint(w, `{"errors":false,"items":[{"create":{"status":201}}]}`)
	}))
	defer srv.Close()
	cfg := testConfig(srv.URL)
	cfg.RetryFor = 10 * time.Millisecond
	s := newTestSink(t, cfg, &sinktest.DeadLetter{})
	ack := sinktest.Accept(t, s, sampleRecords(t, 1))
	s.Close(context.Background())
	err := sinktest.Wait(t, ack, 10*time.Second)
	if err == nil || stream.IsPermanent(err) || !strings.Contains(err.Error(), "X-Elastic-Product") {
		t.Fatalf("ack err = %v, want a retryable product check failure", err)
	}
}

func TestCloudAddress(t *testing.T) {
	enc := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, tc := range []struct{ id, want string }{
		{"prod:" + enc("eu-west-1.aws.found.io:443$abc123$kib456"), "https://abc123.eu-west-1.aws.found.io:443"},
		{"prod:" + enc("example.com$abc"), "https://abc.example.com"},
		{"prod", ""},
		{"prod:%%%", ""},
		{"prod:" + enc("example.com"), ""},
		{"prod:" + enc("$abc"), ""},
	} {
		got, err := cloudAddress(tc.id)
		if got != tc.want || (err != nil) != (tc.want == "") {
			t.Errorf("cloudAddress(%q) = %q, %v; want %q", tc.id, got, err, tc.want)
		}
	}
}
