package firehose

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/membudget"
	"github.com/flowhose/flowhose/stream/source/accesskey"
)

// bomb is one gzip record of well under 1 MB that expands to 16 MiB of
// the shortest valid flow-log line: 620,000 records, over 550 MiB of them.
var bomb = sync.OnceValue(func() string {
	line := "2 - - - - - - - - - - - - -\n"
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	_, _ = w.Write([]byte(strings.Repeat(line, (16<<20)/len(line))))
	_ = w.Close()
	return buf.String()
})

func newBudget(t *testing.T, limit int64) *membudget.Budget {
	t.Helper()
	b, err := membudget.New(limit, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// waitReleased waits until every lease of b is given back.
func waitReleased(t *testing.T, b *membudget.Budget) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for b.InFlight() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d bytes still reserved after the request ended", b.InFlight())
		}
		time.Sleep(time.Millisecond)
	}
}

// A small request that expands to millions of records is refused while
// decoding, within the budget, instead of after all of them are decoded.
func TestBombRefusedWithinBudget(t *testing.T) {
	const limit = 8 << 20
	data := body(requestID, bomb())
	// Without a budget the payload is still gunzipped whole (up to
	// decode.max_decompressed_bytes) and copied once; the budget bounds
	// that too.
	tests := []struct {
		name     string
		cfg      func(*Config)
		budget   bool
		want     string
		maxAlloc uint64
	}{
		{"record limit", func(c *Config) { c.MaxRecords = 10_000 }, false, "max_records 10000", 160 << 20},
		{"budget", nil, true, "larger than the whole memory budget", 8 * limit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := envOpts{cfg: tt.cfg}
			if tt.budget {
				o.budget = newBudget(t, limit)
			}
			e := newEnv(t, o)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			checkResponse(t, e.do(call{body: data, key: "key-one"}), http.StatusRequestEntityTooLarge, tt.want)
			runtime.ReadMemStats(&after)
			// Before the fix the whole payload was decoded first: about
			// 2.4 million records of ~1 KiB, over 2 GiB allocated.
			if got := after.TotalAlloc - before.TotalAlloc; got > tt.maxAlloc {
				t.Errorf("allocated %d MiB for a refused request, want under %d MiB", got>>20, tt.maxAlloc>>20)
			}
			if o.budget != nil {
				waitReleased(t, o.budget)
			}
		})
	}
}

// A request that would fit an empty budget but not the part others hold is
// told to retry (503), not to give up (413).
func TestBudgetExhaustedIsRetryable(t *testing.T) {
	b := newBudget(t, 1<<20)
	e := newEnv(t, envOpts{budget: b})
	other := b.Lease("other")
	if err := other.Grow(1<<20 - 100); err != nil {
		t.Fatal(err)
	}
	checkResponse(t, e.do(call{body: body(requestID, lineAccept, lineReject), key: "key-one"}), http.StatusServiceUnavailable, "memory budget exhausted")
	other.Release()
	checkResponse(t, e.do(call{body: body(requestID, lineAccept, lineReject), key: "key-one"}), http.StatusOK, "")
	waitReleased(t, b)
	if e.sink.Accepted() != 2 {
		t.Errorf("sink got %d records, want 2", e.sink.Accepted())
	}
}

// Every way a request can end gives its reservation back.
func TestBudgetReleased(t *testing.T) {
	tests := []struct {
		name  string
		setup func(*env)
		call  call
		code  int
	}{
		{"delivered", nil, call{body: body(requestID, lineAccept, lineBad)}, 200},
		{"malformed", nil, call{body: body(requestID, lineAccept)[:40]}, 400},
		{"sink fails", func(e *env) { e.sink.SetErr(io.ErrUnexpectedEOF) }, call{body: body(requestID, lineAccept, lineReject)}, 503},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBudget(t, 64<<20)
			e := newEnv(t, envOpts{budget: b, cfg: func(c *Config) { c.BatchSize = 1 }})
			if tt.setup != nil {
				tt.setup(e)
			}
			tt.call.key = "key-one"
			checkResponse(t, e.do(tt.call), tt.code, "")
			waitReleased(t, b)
		})
	}
}

// A request that gave up (503) leaves batches queued behind a stuck worker.
// They must not be delivered later, and what they hold must be given back
// when a worker reaches them, not kept for as long as the slowest sink.
func TestAbandonedBatchesReleased(t *testing.T) {
	blocker := make(chan struct{})
	b := newBudget(t, 64<<20)
	e := newEnv(t, envOpts{
		budget:    b,
		queue:     8,
		enrichers: []stream.Enricher{blockingEnricher(blocker)},
		unblock:   func() {},
		cfg:       func(c *Config) { c.BatchSize = 1; c.AckTimeout = 30 * time.Millisecond },
	})
	checkResponse(t, e.do(call{body: body(requestID, lineAccept, lineReject, lineAccept, lineReject), key: "key-one"}),
		http.StatusServiceUnavailable, "not acknowledged")
	if b.InFlight() == 0 {
		t.Fatal("queued batches hold nothing: the test does not exercise them")
	}
	close(blocker)
	waitReleased(t, b)
	// The worker was already enriching the first batch; the three queued
	// behind it were abandoned.
	if got := e.sink.Accepted(); got > 1 {
		t.Errorf("sink got %d records of an abandoned request, want at most 1", got)
	}
}

// slowBody yields its content only after a delay, like a slow upload.
type slowBody struct {
	r     io.Reader
	delay time.Duration
	slept bool
}

func (s *slowBody) Read(p []byte) (int, error) {
	if !s.slept {
		time.Sleep(s.delay)
		s.slept = true
	}
	return s.r.Read(p)
}

// The ack deadline counts from the request's start: a body that took the
// whole ack_timeout to arrive is not delivered and then answered on a
// connection the server has already timed out.
func TestAckClockStartsWithRequest(t *testing.T) {
	e := newEnv(t, envOpts{cfg: func(c *Config) { c.AckTimeout = 40 * time.Millisecond }})
	r := httptest.NewRequest(http.MethodPost, "/firehose", &slowBody{r: strings.NewReader(body(requestID, lineAccept)), delay: 60 * time.Millisecond})
	r.Header.Set(accesskey.Header, "key-one")
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	checkResponse(t, w, http.StatusServiceUnavailable, "ack_timeout 40ms passed while reading")
	if e.sink.Accepted() != 0 {
		t.Errorf("sink got %d records of a request answered 503", e.sink.Accepted())
	}
}

// A request of many small gzip records reserves one inflate buffer, not
// one per record: each used to reserve 32 KiB, so 1,000 one-line records
// (about 1 MiB of records) were refused by an 8 MiB budget as larger than
// all of it.
func TestSmallGzipRecordsReserveOneBuffer(t *testing.T) {
	b := newBudget(t, 8<<20)
	e := newEnv(t, envOpts{budget: b})
	records := make([]string, 1000)
	for i := range records {
		records[i] = gz(lineAccept)
	}
	checkResponse(t, e.do(call{body: body(requestID, records...), key: "key-one"}), http.StatusOK, "")
	waitReleased(t, b)
	if got := e.sink.Accepted(); got != len(records) {
		t.Errorf("sink got %d records, want %d", got, len(records))
	}
}
