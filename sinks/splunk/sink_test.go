package splunk

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/flowhose/flowhose/sinks"
	"github.com/flowhose/flowhose/sinks/filter"
	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/ecs"
	"github.com/flowhose/flowhose/stream/sinktest"
)

var quiet = slog.New(slog.DiscardHandler)

func testConfig(f *fakeHEC, more ...*fakeHEC) Config {
	c := DefaultConfig()
	c.URLs = []string{f.URL}
	for _, m := range more {
		c.URLs = append(c.URLs, m.URL)
	}
	c.Token = f.Token
	c.FlushInterval = 5 * time.Millisecond
	c.FlushEvents = 250
	c.AckPollInterval = 10 * time.Millisecond
	c.AckTimeout = 5 * time.Second
	c.HealthCheckInterval = 20 * time.Millisecond
	c.RetryInitial = time.Millisecond
	c.RetryMax = 5 * time.Millisecond
	c.RetryFor = 0
	return c
}

func newTestSink(t *testing.T, cfg Config, dl stream.DeadLetterWriter) (*Sink, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	s, err := New(cfg, dl, reg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Bounded: a test that leaves events undeliverable ends them.
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		s.Close(ctx)
	})
	return s, reg
}

// pendingFor asserts that ack stays uncompleted for d.
func pendingFor(t *testing.T, ack *stream.Ack, d time.Duration) {
	t.Helper()
	select {
	case <-ack.Completed():
		t.Fatalf("batch settled (%v) before Splunk acknowledged it", ack.Err())
	case <-time.After(d):
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func ids(recs []stream.Record) []string {
	out := make([]string, len(recs))
	for i := range recs {
		out[i] = string(ecs.AppendID(nil, &recs[i]))
	}
	return out
}

// checkAll asserts that every record was indexed: exactly once when
// exact, else at least once; and nothing else was.
func checkAll(t *testing.T, f *fakeHEC, recs []stream.Record, exact bool) {
	t.Helper()
	got, _ := f.counts()
	want := map[string]bool{}
	for _, id := range ids(recs) {
		want[id] = true
		switch n := got[id]; {
		case n == 0:
			t.Errorf("record %s never indexed", id)
		case exact && n != 1:
			t.Errorf("record %s indexed %d times", id, n)
		}
	}
	for id := range got {
		if !want[id] {
			t.Errorf("unexpected event %q indexed", id)
		}
	}
}

// readyChecks calls s.Ready until stop is closed, then sends how many
// times it did and the errors it got.
func readyChecks(s *Sink, stop <-chan struct{}) <-chan readySamples {
	out := make(chan readySamples, 1)
	go func() {
		var r readySamples
		for {
			r.checks++
			if err := s.Ready(); err != nil {
				r.errs = append(r.errs, err)
			}
			select {
			case <-stop:
				out <- r
				return
			case <-time.After(100 * time.Microsecond):
			}
		}
	}()
	return out
}

type readySamples struct {
	checks int
	errs   []error
}

// sendAll accepts recs in batches of per records and waits for each to
// be delivered.
func sendAll(t *testing.T, s *Sink, recs []stream.Record, per int) {
	t.Helper()
	var acks []*stream.Ack
	for i := 0; i < len(recs); i += per {
		acks = append(acks, sinktest.Accept(t, s, recs[i:min(i+per, len(recs))]))
	}
	for _, a := range acks {
		if err := sinktest.Wait(t, a, 20*time.Second); err != nil {
			t.Fatal(err)
		}
	}
}

// One indexer refusing the token while another accepts it: the sink is
// ready all along (it delivers), the refusing URL is skipped but for a
// request every health_check_interval and shows in config_error{url}.
// Readiness fails only while no URL accepts, and steadily so.
func TestReadinessWithOneURLRefusing(t *testing.T) {
	a, b := newFakeHEC(t), newFakeHEC(t)
	cfg := testConfig(a, b)
	a.Token = "rotated"
	cfg.FlushEvents = 20
	s, _ := newTestSink(t, cfg, &sinktest.DeadLetter{})
	recs := makeRecords(t, 800)
	stop := make(chan struct{})
	samples := readyChecks(s, stop)
	begin := time.Now()
	sendAll(t, s, recs[:400], 20)
	probes := cfg.Workers + int(time.Since(begin)/cfg.HealthCheckInterval)
	close(stop)
	if r := <-samples; len(r.errs) > 0 {
		t.Errorf("Ready failed %d times in %d while b accepted every request: %v", len(r.errs), r.checks, r.errs[0])
	}
	checkAll(t, b, recs[:400], true)
	if n := int(testutil.ToFloat64(s.m.requests.WithLabelValues("4"))); n < 1 || n > probes {
		t.Errorf("%d requests refused for the token, want 1 to %d (the workers' first, then a probe of a every health_check_interval)", n, probes)
	}
	if v := testutil.ToFloat64(s.m.configError.WithLabelValues(a.URL)); v != 1 {
		t.Errorf("config_error{a} = %v, want 1", v)
	}
	if v := testutil.ToFloat64(s.m.configError.WithLabelValues(b.URL)); v != 0 {
		t.Errorf("config_error{b} = %v, want 0", v)
	}

	// No URL accepts: not ready, and not ready at every look.
	b.set(func(f *fakeHEC) { f.Token = "rotated" })
	ack := sinktest.Accept(t, s, recs[400:420])
	eventually(t, "readiness to fail", func() bool { return s.Ready() != nil })
	stop = make(chan struct{})
	samples = readyChecks(s, stop)
	time.Sleep(200 * time.Millisecond)
	close(stop)
	if r := <-samples; len(r.errs) != r.checks || !strings.Contains(r.errs[0].Error(), "code 4") {
		t.Errorf("Ready failed %d times in %d with no URL accepting, want every time: %v", len(r.errs), r.checks, r.errs)
	}

	// a is fixed: it takes the requests again, and the sink is ready.
	a.set(func(f *fakeHEC) { f.Token = cfg.Token })
	if err := sinktest.Wait(t, ack, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := s.Ready(); err != nil {
		t.Errorf("Ready with a accepting again: %v", err)
	}
	if v := testutil.ToFloat64(s.m.configError.WithLabelValues(a.URL)); v != 0 {
		t.Errorf("config_error{a} = %v after its fix, want 0", v)
	}
	sendAll(t, s, recs[420:], 20)
	checkAll(t, a, recs[400:], true)
}

func TestDeliverWithAck(t *testing.T) {
	f := newFakeHEC(t)
	cfg := testConfig(f)
	cfg.Index, cfg.Source, cfg.Host = "aws_vpc", "vpcflow:test", "flowhose-test"
	s, reg := newTestSink(t, cfg, &sinktest.DeadLetter{})
	recs := makeRecords(t, 3000)
	sendAll(t, s, recs, 400)
	checkAll(t, f, recs, true)
	_, events := f.counts()
	byID := map[string]hecEvent{}
	for _, e := range events {
		byID[e.id()] = e
	}
	for i, id := range ids(recs) {
		e := byID[id]
		var line string
		if err := json.Unmarshal(e.Event, &line); err != nil || line != recs[i].Raw {
			t.Fatalf("event %d: %s, want the line %q", i, e.Event, recs[i].Raw)
		}
		if e.Time == nil || e.Time.String() != fmt.Sprint(recs[i].End) {
			t.Fatalf("event %d: time %v, want %d", i, e.Time, recs[i].End)
		}
		if e.Sourcetype != "aws:cloudwatchlogs:vpcflow" || e.Index != "aws_vpc" || e.Source != "vpcflow:test" || e.Host != "flowhose-test" {
			t.Fatalf("event %d: metadata %+v", i, e)
		}
	}
	if n := testutil.ToFloat64(s.m.delivered); n != 3000 {
		t.Errorf("delivered metric %v, want 3000", n)
	}
	if n := testutil.ToFloat64(s.m.acksPending); n != 0 {
		t.Errorf("acks pending %v after every ack", n)
	}
	f.mu.Lock()
	chans := len(f.channels)
	f.mu.Unlock()
	if chans < 1 || chans > cfg.Workers {
		t.Errorf("%d channels used, want 1 to %d (one per worker)", chans, cfg.Workers)
	}
	if _, err := testutil.GatherAndCount(reg, "flowhose_splunk_ack_wait_seconds"); err != nil {
		t.Error(err)
	}
}

func TestLateAcksHoldTheBatch(t *testing.T) {
	f := newFakeHEC(t)
	f.HoldAcks = true
	s, _ := newTestSink(t, testConfig(f), &sinktest.DeadLetter{})
	recs := makeRecords(t, 100)
	ack := sinktest.Accept(t, s, recs)
	eventually(t, "the request to be sent", func() bool { return testutil.ToFloat64(s.m.acksPending) == 1 })
	pendingFor(t, ack, 300*time.Millisecond)
	if got, _ := f.counts(); len(got) != 0 {
		t.Fatalf("%d events indexed while acks are held", len(got))
	}
	f.set(func(f *fakeHEC) { f.HoldAcks = false })
	if err := sinktest.Wait(t, ack, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	checkAll(t, f, recs, true)
}

func TestNeverArrivingAckIsResent(t *testing.T) {
	f := newFakeHEC(t)
	f.DropAck = func(n int) bool { return n == 0 } // the first request's ack is lost
	cfg := testConfig(f)
	cfg.AckTimeout = 300 * time.Millisecond
	s, _ := newTestSink(t, cfg, &sinktest.DeadLetter{})
	recs := makeRecords(t, 50)
	ack := sinktest.Accept(t, s, recs)
	pendingFor(t, ack, 200*time.Millisecond) // before ack_timeout: no upstream ack
	if err := sinktest.Wait(t, ack, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	if n := testutil.ToFloat64(s.m.resends); n != 1 {
		t.Errorf("resends %v, want 1", n)
	}
	checkAll(t, f, recs, true) // the lost request was never reported indexed
}

func TestConfigurationErrorsKeepFailing(t *testing.T) {
	for _, tc := range []struct {
		name   string
		break_ func(f *fakeHEC, c *Config)
		fix    func(f *fakeHEC)
	}{
		{"wrong token", func(f *fakeHEC, c *Config) { c.Token = "wrong" }, func(f *fakeHEC) { f.Token = "wrong" }},
		{"unknown index", func(f *fakeHEC, c *Config) {
			c.Index = "nope"
			f.Answer = func(_ int, evs []hecEvent) (int, string) {
				if evs[0].Index == "nope" {
					return 400, `{"text":"Incorrect index","code":7,"invalid-event-number":0}`
				}
				return 0, ""
			}
		}, func(f *fakeHEC) { f.Answer = nil }},
		{"ack disabled on the token", func(f *fakeHEC, c *Config) { f.Ack = false }, func(f *fakeHEC) { f.Ack = true }},
		{"ack enabled on the token only", func(f *fakeHEC, c *Config) { c.Ack = false }, func(f *fakeHEC) { f.Ack = false }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeHEC(t)
			cfg := testConfig(f)
			tc.break_(f, &cfg)
			dl := &sinktest.DeadLetter{}
			s, _ := newTestSink(t, cfg, dl)
			recs := makeRecords(t, 20)
			ack := sinktest.Accept(t, s, recs)
			eventually(t, "the configuration error to show", func() bool { return testutil.ToFloat64(s.m.configError.WithLabelValues(f.URL)) == 1 })
			pendingFor(t, ack, 200*time.Millisecond)
			if err := s.Ready(); err == nil {
				t.Error("Ready() = nil while HEC refuses the configuration")
			}
			if len(dl.Failures()) != 0 {
				t.Fatalf("dead-lettered %d events for a configuration error", len(dl.Failures()))
			}
			f.set(tc.fix)
			if err := sinktest.Wait(t, ack, 20*time.Second); err != nil {
				t.Fatal(err)
			}
			checkAll(t, f, recs, !strings.Contains(tc.name, "ack disabled"))
			if testutil.ToFloat64(s.m.configError.WithLabelValues(f.URL)) != 0 || s.Ready() != nil {
				t.Errorf("config_error %v, Ready() = %v after the fix", testutil.ToFloat64(s.m.configError.WithLabelValues(f.URL)), s.Ready())
			}
		})
	}
}

func TestBusyStorm(t *testing.T) {
	f := newFakeHEC(t)
	f.Answer = func(n int, _ []hecEvent) (int, string) {
		switch {
		case n < 20 && n%2 == 0:
			return 503, `{"text":"Server is busy","code":9}`
		case n < 20:
			return 500, `{"text":"Internal server error","code":8}`
		case n < 25:
			return 502, `<html>Bad Gateway</html>`
		}
		return 0, ""
	}
	s, _ := newTestSink(t, testConfig(f), &sinktest.DeadLetter{})
	recs := makeRecords(t, 1000)
	sendAll(t, s, recs, 100)
	checkAll(t, f, recs, true)
	if n := testutil.ToFloat64(s.m.retries); n < 25 {
		t.Errorf("retries %v, want at least 25", n)
	}
	if n := testutil.ToFloat64(s.m.requests.WithLabelValues("9")); n != 10 {
		t.Errorf("requests{code=9} %v, want 10", n)
	}
	if n := testutil.ToFloat64(s.m.requests.WithLabelValues("http_502")); n != 5 {
		t.Errorf("requests{code=http_502} %v, want 5", n)
	}
}

func TestURLDownAndBack(t *testing.T) {
	a, b := newFakeHEC(t), newFakeHEC(t)
	a.Down = true
	s, _ := newTestSink(t, testConfig(a, b), &sinktest.DeadLetter{})
	recs := makeRecords(t, 1000)
	sendAll(t, s, recs[:500], 50)
	if got, _ := a.counts(); len(got) != 0 {
		t.Fatalf("the down URL indexed %d events", len(got))
	}
	if h := testutil.ToFloat64(s.m.healthy.WithLabelValues(a.URL)); h != 0 {
		t.Fatalf("down URL healthy = %v", h)
	}
	a.set(func(f *fakeHEC) { f.Down = false })
	eventually(t, "the URL to be healthy again", func() bool { return testutil.ToFloat64(s.m.healthy.WithLabelValues(a.URL)) == 1 })
	sendAll(t, s, recs[500:], 50)
	ga, _ := a.counts()
	gb, _ := b.counts()
	if len(ga) == 0 || len(gb) == 0 {
		t.Errorf("after recovery: %d events on a, %d on b; want both used", len(ga), len(gb))
	}
	for id, n := range gb {
		ga[id] += n
	}
	for _, id := range ids(recs) {
		if ga[id] != 1 {
			t.Errorf("record %s indexed %d times", id, ga[id])
		}
	}
}

// A URL that dies after answering: its pending acks can no longer be
// asked, so the requests are resent elsewhere after ack_timeout.
func TestURLDiesWithPendingAcks(t *testing.T) {
	a, b := newFakeHEC(t), newFakeHEC(t)
	a.HoldAcks = true
	b.Down = true
	cfg := testConfig(a, b)
	cfg.AckTimeout = 300 * time.Millisecond
	s, _ := newTestSink(t, cfg, &sinktest.DeadLetter{})
	recs := makeRecords(t, 100)
	ack := sinktest.Accept(t, s, recs)
	eventually(t, "the request to wait for its ack", func() bool { return testutil.ToFloat64(s.m.acksPending) == 1 })
	a.set(func(f *fakeHEC) { f.Down = true })
	b.set(func(f *fakeHEC) { f.Down = false })
	if err := sinktest.Wait(t, ack, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	if n := testutil.ToFloat64(s.m.resends); n < 1 {
		t.Errorf("resends %v, want at least 1", n)
	}
	checkAll(t, b, recs, true)
}

func TestContentRejectionDeadLetters(t *testing.T) {
	for _, withIndex := range []bool{true, false} {
		t.Run(fmt.Sprintf("invalid-event-number=%v", withIndex), func(t *testing.T) {
			f := newFakeHEC(t)
			recs := makeRecords(t, 200)
			bad := map[string]bool{ids(recs)[17]: true, ids(recs)[150]: true}
			f.Answer = func(_ int, evs []hecEvent) (int, string) {
				for i, e := range evs {
					if bad[e.id()] {
						if withIndex {
							return 400, fmt.Sprintf(`{"text":"Error in handling indexed fields","code":15,"invalid-event-number":%d}`, i)
						}
						return 400, `{"text":"Invalid data format","code":6}`
					}
				}
				return 0, ""
			}
			dl := &sinktest.DeadLetter{}
			cfg := testConfig(f)
			cfg.FlushEvents = 200
			s, _ := newTestSink(t, cfg, dl)
			if err := sinktest.Wait(t, sinktest.Accept(t, s, recs), 20*time.Second); err != nil {
				t.Fatal(err)
			}
			got, _ := f.counts()
			for i, id := range ids(recs) {
				if want := map[bool]int{true: 0, false: 1}[bad[id]]; got[id] != want {
					t.Errorf("record %d indexed %d times, want %d", i, got[id], want)
				}
			}
			fs := dl.Failures()
			if len(fs) != 2 || fs[0].Input != recs[17].Raw || fs[1].Input != recs[150].Raw ||
				!strings.Contains(fs[0].Reason, "code 1") && !strings.Contains(fs[0].Reason, "code 6") {
				t.Fatalf("dead letters %+v", fs)
			}
		})
	}
}

func TestAckOffChecksTheCode(t *testing.T) {
	f := newFakeHEC(t)
	f.Ack = false
	f.Answer = func(n int, _ []hecEvent) (int, string) {
		switch n {
		case 0:
			return 200, `{"text":"Success"}` // no code: proves nothing
		case 1:
			return 200, `ok`
		case 2:
			return 200, `{"text":"Success","code":24}`
		}
		return 0, ""
	}
	cfg := testConfig(f)
	cfg.Ack = false
	s, _ := newTestSink(t, cfg, &sinktest.DeadLetter{})
	recs := makeRecords(t, 30)
	if err := sinktest.Wait(t, sinktest.Accept(t, s, recs), 20*time.Second); err != nil {
		t.Fatal(err)
	}
	checkAll(t, f, recs, true)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.requests != 4 {
		t.Errorf("%d requests, want 4 (three unproven answers retried)", f.requests)
	}
}

func TestRetryForFailsTheBatch(t *testing.T) {
	f := newFakeHEC(t)
	f.Answer = func(int, []hecEvent) (int, string) { return 503, `{"text":"Server is busy","code":9}` }
	cfg := testConfig(f)
	cfg.RetryFor = 100 * time.Millisecond
	s, _ := newTestSink(t, cfg, &sinktest.DeadLetter{})
	err := sinktest.Wait(t, sinktest.Accept(t, s, makeRecords(t, 10)), 20*time.Second)
	if err == nil || stream.IsPermanent(err) || !strings.Contains(err.Error(), "Server is busy") {
		t.Fatalf("err = %v, want a retryable error naming the busy answer", err)
	}
}

func TestCloseGivesUpOnPendingAcks(t *testing.T) {
	f := newFakeHEC(t)
	f.HoldAcks = true
	s, _ := newTestSink(t, testConfig(f), &sinktest.DeadLetter{})
	ack := sinktest.Accept(t, s, makeRecords(t, 10))
	eventually(t, "the request to wait for its ack", func() bool { return testutil.ToFloat64(s.m.acksPending) == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Close(ctx); err == nil {
		t.Fatal("Close returned nil with an ack outstanding")
	}
	if err := sinktest.Wait(t, ack, 20*time.Second); err == nil {
		t.Fatal("batch acknowledged without Splunk's ack")
	}
	if err := s.Accept(context.Background(), &stream.Batch{Records: makeRecords(t, 1), Ack: stream.NewAck()}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
}

func TestDocumentShape(t *testing.T) {
	f := newFakeHEC(t)
	cfg := testConfig(f)
	cfg.Shape = ShapeECS
	s, _ := newTestSink(t, cfg, &sinktest.DeadLetter{})
	recs := makeRecords(t, 10)
	if err := sinktest.Wait(t, sinktest.Accept(t, s, recs), 20*time.Second); err != nil {
		t.Fatal(err)
	}
	checkAll(t, f, recs, true)
	_, events := f.counts()
	for _, e := range events {
		var doc struct {
			Source struct{ IP string } `json:"source"`
			Event  struct{ Action string }
		}
		if err := json.Unmarshal(e.Event, &doc); err != nil || doc.Source.IP == "" {
			t.Fatalf("event is not the ECS document: %s (%v)", e.Event, err)
		}
		if e.Sourcetype != DefaultECSSourcetype {
			t.Fatalf("sourcetype %q", e.Sourcetype)
		}
	}
}

// The token is never logged, even when HEC refuses it, and token_file
// is read once at start.
func TestTokenFileNeverLogged(t *testing.T) {
	f := newFakeHEC(t)
	f.Token = "5ecret-70ken-0000-0000-000000000000"
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte("wrong-"+f.Token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(f)
	cfg.Token, cfg.TokenFile = "", path
	var logs sinktest.Buffer
	s, err := New(cfg, &sinktest.DeadLetter{}, nil, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	ack := sinktest.Accept(t, s, makeRecords(t, 5))
	eventually(t, "a logged refusal", func() bool { return strings.Contains(logs.String(), "code 4") })
	if err := os.WriteFile(path, []byte(f.Token), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	s.Close(ctx)
	if err := sinktest.Wait(t, ack, 20*time.Second); err == nil {
		t.Fatal("acknowledged with a wrong token")
	}
	if strings.Contains(logs.String(), "70ken") {
		t.Fatalf("the token was logged:\n%s", logs.String())
	}
}

// The routing filter in front of the sink: only REJECTs reach Splunk,
// and the batch's ack still completes once.
func TestWithRoutingFilter(t *testing.T) {
	f := newFakeHEC(t)
	sec := &sinks.Section[Config]{Enabled: true, Config: testConfig(f),
		Filter: filter.Config{Keep: []filter.Condition{{"action": filter.Values{"REJECT"}}}}}
	fs := []sinks.Factory{sinks.Register("splunk", sec, DefaultConfig, Open)}
	out, err := sinks.OpenAll(context.Background(), fs, sinks.Deps{DeadLetter: &sinktest.DeadLetter{}, Registerer: prometheus.NewRegistry(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer out[0].Close(context.Background())
	recs := makeRecords(t, 100)
	if err := sinktest.Wait(t, sinktest.Accept(t, out[0], recs), 20*time.Second); err != nil {
		t.Fatal(err)
	}
	var rejects []stream.Record
	for _, r := range recs {
		if r.Action == "REJECT" {
			rejects = append(rejects, r)
		}
	}
	checkAll(t, f, rejects, true)
	f.set(func(f *fakeHEC) { f.Token = "rotated" })
	ack := sinktest.Accept(t, out[0], recs)
	eventually(t, "readiness to fail through the filter", func() bool { return sinks.Ready(out) != nil })
	if err := sinks.Ready(out); !strings.Contains(err.Error(), "sink splunk: HEC refuses the configuration: HTTP 403, code 4") {
		t.Errorf("Ready: %v", err)
	}
	f.set(func(f *fakeHEC) { f.Token = "00000000-1111-2222-3333-444444444444" })
	if err := sinktest.Wait(t, ack, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := sinks.Ready(out); err != nil {
		t.Errorf("Ready after the fix: %v", err)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"ok", func(c *Config) { c.Token = "t" }, ""},
		{"no token", func(c *Config) {}, "token, token_file: set exactly one"},
		{"both tokens", func(c *Config) { c.Token, c.TokenFile = "t", "f" }, "set exactly one"},
		{"url with credentials", func(c *Config) { c.Token = "t"; c.URLs = []string{"https://u:secret@h:8088"} }, "must not carry credentials"},
		{"url query", func(c *Config) { c.Token = "t"; c.URLs = []string{"https://h:8088?token=x"} }, "REDACTED"},
		{"duplicate url", func(c *Config) { c.Token = "t"; c.URLs = []string{"https://h:8088", "https://h:8088/"} }, "listed twice"},
		{"shape", func(c *Config) { c.Token = "t"; c.Shape = "json" }, `shape: must be "line" or "ecs"`},
		{"ack timeout", func(c *Config) { c.Token = "t"; c.AckTimeout = time.Second }, "ack_timeout: must be longer"},
		{"flush bytes", func(c *Config) { c.Token = "t"; c.FlushBytes = 10 }, "flush_bytes"},
		{"client cert", func(c *Config) { c.Token = "t"; c.ClientCertFile = "x" }, "client_cert_file, client_key_file"},
		{"index", func(c *Config) { c.Token = "t"; c.Index = "\xff" }, "index:"},
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
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Fatalf("error shows a credential: %v", err)
			}
		})
	}
}

// A node that restarts loses its ack state and numbers ackIds from 0
// again: the request whose ackId is reused is resent, not forgotten.
func TestReusedAckIDResends(t *testing.T) {
	f := newFakeHEC(t)
	f.HoldAcks = true
	cfg := testConfig(f)
	cfg.Workers = 1
	s, _ := newTestSink(t, cfg, &sinktest.DeadLetter{})
	recs := makeRecords(t, 20)
	first := sinktest.Accept(t, s, recs[:10])
	eventually(t, "the first request to wait for its ack", func() bool { return testutil.ToFloat64(s.m.acksPending) == 1 })
	f.set(func(f *fakeHEC) {
		f.pending, f.nextAck, f.HoldAcks = map[string]map[uint64][]hecEvent{}, map[string]uint64{}, false
		// The answer giving the first request's ackId to the second
		// travels slowly: ack queries meanwhile must not ask for it.
		f.AnswerDelay = 100 * time.Millisecond
	})
	second := sinktest.Accept(t, s, recs[10:])
	for _, a := range []*stream.Ack{first, second} {
		if err := sinktest.Wait(t, a, 20*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	checkAll(t, f, recs, true)
	if n := testutil.ToFloat64(s.m.resends); n != 1 {
		t.Errorf("resends %v, want 1", n)
	}
}

// A request refused for half its events is split into a part per good
// run, each awaiting its own ack under the root's one slot; a node that
// restarts halfway hands their ackIds out again, and every part so
// displaced is sent again. The queue of requests to send again was a
// channel of workers+max_pending_acks: more displaced parts than that
// blocked the worker, its only reader, on it for good.
func TestRestartDisplacingManyParts(t *testing.T) {
	f := newFakeHEC(t)
	f.HoldAcks = true // so the parts are still pending when the node restarts
	recs := makeRecords(t, 40)
	bad := map[string]bool{}
	for i, id := range ids(recs) {
		if i%2 == 1 {
			bad[id] = true
		}
	}
	// Even requests are refused at their second event, odd ones are the
	// good event before it: parts 1, 3, … 19 get ackIds 0-9, then the
	// node restarts and gives parts 21 … 39 the same ones.
	f.Answer = func(n int, evs []hecEvent) (int, string) {
		if n == 21 {
			f.pending, f.nextAck, f.HoldAcks = map[string]map[uint64][]hecEvent{}, map[string]uint64{}, false
		}
		for i, e := range evs {
			if bad[e.id()] {
				return 400, fmt.Sprintf(`{"text":"Error in handling indexed fields","code":15,"invalid-event-number":%d}`, i)
			}
		}
		return 0, ""
	}
	cfg := testConfig(f)
	cfg.Workers, cfg.MaxPendingAcks, cfg.FlushEvents = 1, 1, len(recs)
	dl := &sinktest.DeadLetter{}
	s, _ := newTestSink(t, cfg, dl)
	if err := sinktest.Wait(t, sinktest.Accept(t, s, recs), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	var good []stream.Record
	for i := 0; i < len(recs); i += 2 {
		good = append(good, recs[i])
	}
	checkAll(t, f, good, true) // the displaced parts' events were lost with the restart
	if n := len(dl.Failures()); n != len(recs)/2 {
		t.Errorf("%d dead letters, want %d", n, len(recs)/2)
	}
	if n := testutil.ToFloat64(s.m.resends); n != 10 {
		t.Errorf("resends %v, want 10 (one per displaced part)", n)
	}
}

func TestTLS(t *testing.T) {
	f := startFakeHEC(t, &tls.Config{})
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	recs := makeRecords(t, 10)

	// Unknown CA: nothing is delivered.
	s, _ := newTestSink(t, testConfig(f), &sinktest.DeadLetter{})
	ack := sinktest.Accept(t, s, recs)
	eventually(t, "a refused handshake", func() bool { return testutil.ToFloat64(s.m.requests.WithLabelValues("error")) > 0 })
	pendingFor(t, ack, 50*time.Millisecond)

	for _, tc := range []struct {
		name string
		mod  func(*Config)
		warn bool
	}{
		{"ca_file", func(c *Config) { c.CAFile = ca }, false},
		{"insecure_skip_verify", func(c *Config) { c.InsecureSkipVerify = true }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(f)
			tc.mod(&cfg)
			var logs sinktest.Buffer
			s, err := New(cfg, &sinktest.DeadLetter{}, nil, slog.New(slog.NewTextHandler(&logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close(context.Background())
			if err := sinktest.Wait(t, sinktest.Accept(t, s, recs), 20*time.Second); err != nil {
				t.Fatal(err)
			}
			if warned := strings.Contains(logs.String(), "level=WARN") && strings.Contains(logs.String(), "insecure_skip_verify"); warned != tc.warn {
				t.Errorf("warning logged: %v, want %v:\n%s", warned, tc.warn, logs.String())
			}
		})
	}

	cfg := testConfig(f)
	cfg.ClientCertFile, cfg.ClientKeyFile = ca, filepath.Join(t.TempDir(), "missing.pem")
	if _, err := New(cfg, &sinktest.DeadLetter{}, nil, quiet); err == nil || !strings.Contains(err.Error(), "client_cert_file, client_key_file") {
		t.Errorf("New with a missing client key: %v", err)
	}
}

// The HEC code table, as the sink reads it.
func TestClassify(t *testing.T) {
	code := func(c int) *int { return &c }
	id := uint64(3)
	for _, tc := range []struct {
		status int
		r      reply
		ack    bool
		want   outcome
	}{
		{200, reply{Code: code(0), AckID: &id}, true, sent},
		{200, reply{Code: code(0)}, false, sent},
		{200, reply{Code: code(0)}, true, misconfigured}, // ack off on the token
		{200, reply{}, false, transient},                 // no code proves nothing
		{200, reply{Code: code(24)}, false, transient},
		{503, reply{Code: code(9)}, true, transient},
		{500, reply{Code: code(8)}, true, transient},
		{503, reply{Code: code(18)}, true, transient},
		{503, reply{Code: code(20)}, true, transient},
		{429, reply{}, true, transient},
		{502, reply{}, true, transient},
		{413, reply{}, true, refused},
		{400, reply{Code: code(5)}, true, refused},
		{400, reply{Code: code(6)}, true, refused},
		{400, reply{Code: code(12)}, true, refused},
		{400, reply{Code: code(13)}, true, refused},
		{400, reply{Code: code(15)}, true, refused},
		{403, reply{Code: code(1)}, true, misconfigured},
		{401, reply{Code: code(2)}, true, misconfigured},
		{401, reply{Code: code(3)}, true, misconfigured},
		{403, reply{Code: code(4)}, true, misconfigured},
		{400, reply{Code: code(7)}, true, misconfigured},
		{400, reply{Code: code(10)}, true, misconfigured},
		{400, reply{Code: code(11)}, true, misconfigured},
		{400, reply{Code: code(14)}, true, misconfigured},
		{400, reply{Code: code(16)}, true, misconfigured},
		{404, reply{}, true, misconfigured},
	} {
		got, err := classify(tc.status, tc.r, tc.ack)
		if got != tc.want {
			t.Errorf("HTTP %d %s ack=%v: outcome %d, want %d (%v)", tc.status, tc.r, tc.ack, got, tc.want, err)
		}
		if got != sent && (err == nil || (tc.r.Code != nil && *tc.r.Code != 0 && !strings.Contains(err.Error(), fmt.Sprintf("code %d", *tc.r.Code)))) {
			t.Errorf("HTTP %d %s: error %v does not name the code", tc.status, tc.r, err)
		}
	}
}

// A HEC input that requires a client certificate gets the configured one.
func TestClientCertificate(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "flowhose"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, caFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem"), filepath.Join(dir, "ca.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)

	clients := x509.NewCertPool()
	clients.AddCert(mustParse(t, der))
	f := startFakeHEC(t, &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clients})
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.Certificate().Raw}), 0o600)
	recs := makeRecords(t, 5)

	cfg := testConfig(f)
	cfg.CAFile = caFile
	without, _ := newTestSink(t, cfg, &sinktest.DeadLetter{})
	pendingFor(t, sinktest.Accept(t, without, recs), 300*time.Millisecond)

	cfg.ClientCertFile, cfg.ClientKeyFile = certFile, keyFile
	s, _ := newTestSink(t, cfg, &sinktest.DeadLetter{})
	if err := sinktest.Wait(t, sinktest.Accept(t, s, recs), 20*time.Second); err != nil {
		t.Fatal(err)
	}
	checkAll(t, f, recs, true)
}

func mustParse(t *testing.T, der []byte) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// An ack answer that does not name each asked ackId once, in decimal,
// with true or false settles nothing: the batch waits for a proper answer.
func TestLooseAckAnswersSettleNothing(t *testing.T) {
	for name, body := range map[string]string{
		"other spelling":      `{"acks":{"00":true}}`,
		"duplicate spellings": `{"acks":{"0":false,"00":true}}`,
		"duplicate keys":      `{"acks":{"0":false,"0":true}}`,
		"leading plus":        `{"acks":{"+0":true}}`,
		"string value":        `{"acks":{"0":"true"}}`,
		"trailing junk":       `{"acks":{"0":true}} {"acks":{"0":false}}`,
	} {
		t.Run(name, func(t *testing.T) {
			f := newFakeHEC(t)
			f.AckAnswer = func([]uint64) string { return body }
			cfg := testConfig(f)
			cfg.Workers = 1
			s, _ := newTestSink(t, cfg, &sinktest.DeadLetter{})
			ack := sinktest.Accept(t, s, makeRecords(t, 10))
			eventually(t, "ack queries", func() bool {
				var n int
				f.set(func(f *fakeHEC) { n = f.ackPolls })
				return n >= 1
			})
			pendingFor(t, ack, 100*time.Millisecond)
			if n := testutil.ToFloat64(s.m.ackPollErrors); n == 0 {
				t.Error("no ack poll error counted")
			}
		})
	}
}

// The requests metric's code label takes the HEC codes flowhose knows;
// any other number a server answers is "other", so a misbehaving server
// cannot make a series per answer.
func TestRequestCodeLabelsBounded(t *testing.T) {
	f := newFakeHEC(t)
	f.Answer = func(n int, _ []hecEvent) (int, string) {
		if n < 30 {
			return 503, fmt.Sprintf(`{"text":"odd","code":%d}`, 1000+n)
		}
		return 0, ""
	}
	s, _ := newTestSink(t, testConfig(f), &sinktest.DeadLetter{})
	if err := sinktest.Wait(t, sinktest.Accept(t, s, makeRecords(t, 10)), 20*time.Second); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(s.m.requests); n != 2 {
		t.Errorf("%d code series, want 2 (0 and other)", n)
	}
	if n := testutil.ToFloat64(s.m.requests.WithLabelValues("other")); n != 30 {
		t.Errorf("requests{code=other} %v, want 30", n)
	}
}

// A request whose ack never comes (a load balancer without sticky
// sessions answers every ackId false) is resent at each ack_timeout only
// until retry_for: then its batch fails for the source to redeliver,
// rather than holding its slot and being indexed again forever.
func TestAcksNeverComingFailAfterRetryFor(t *testing.T) {
	f := newFakeHEC(t)
	f.HoldAcks = true
	cfg := testConfig(f)
	cfg.AckTimeout = 100 * time.Millisecond
	cfg.RetryFor = 450 * time.Millisecond
	s, _ := newTestSink(t, cfg, &sinktest.DeadLetter{})
	ack := sinktest.Accept(t, s, makeRecords(t, 10))
	select {
	case <-ack.Completed():
	case <-time.After(3 * time.Second):
		t.Fatalf("batch still unsettled after %v resends", testutil.ToFloat64(s.m.resends))
	}
	if err := ack.Err(); err == nil || stream.IsPermanent(err) {
		t.Fatalf("err = %v, want a retryable error", err)
	}
	if n := testutil.ToFloat64(s.m.resends); n < 3 || n > 5 {
		t.Errorf("resends %v, want 3 to 5 (every ack_timeout within retry_for)", n)
	}
	if n := testutil.ToFloat64(s.m.acksPending); n != 0 {
		t.Errorf("acks pending %v, want 0", n)
	}
}

// A URL whose ack queries hang holds up the acks of no other URL: each
// URL is polled on its own.
func TestHangingAckQueriesDelayNoOtherURL(t *testing.T) {
	a, b := newFakeHEC(t), newFakeHEC(t)
	a.AckHang = true
	cfg := testConfig(a, b)
	cfg.Workers = 1
	cfg.RequestTimeout = 3 * time.Second
	s, _ := newTestSink(t, cfg, &sinktest.DeadLetter{})
	recs := makeRecords(t, 40)
	// URLs are taken in turn, b first: batches 1 and 3 go to a.
	for i := 0; i < len(recs); i += 10 {
		onA := i/10%2 == 1
		ack := sinktest.Accept(t, s, recs[i:i+10])
		got := func() int { n, _ := b.counts(); return len(n) }
		select {
		case <-ack.Completed():
		case <-time.After(time.Second):
			if onA {
				continue // its acks never come
			}
			t.Fatalf("batch %d, sent to the healthy URL, not settled within 1s (%d events indexed there)", i/10, got())
		}
		if onA {
			t.Fatalf("batch %d settled without an ack from a", i/10)
		}
	}
}

// Answers from one URL that come at once, a refusal and a success, leave
// its config_error and url_healthy agreeing with the state they mark,
// whichever lands last.
func TestURLStateAndMetricsAgree(t *testing.T) {
	f := newFakeHEC(t)
	cfg := testConfig(f)
	cfg.HealthCheckInterval = time.Hour // no health check changes the state meanwhile
	s, _ := newTestSink(t, cfg, &sinktest.DeadLetter{})
	tg := s.targets[0]
	refusal := errors.New("HTTP 403, code 4")
	for range 3000 {
		var start, done sync.WaitGroup
		start.Add(1)
		done.Add(2)
		go func() { defer done.Done(); start.Wait(); s.setRefused(tg, refusal); s.setHealthy(tg, false, refusal) }()
		go func() { defer done.Done(); start.Wait(); s.setRefused(tg, nil); s.setHealthy(tg, true, nil) }()
		start.Done()
		done.Wait()
		refused, healthy := tg.refused.Load() != nil, tg.healthy.Load()
		if m := testutil.ToFloat64(s.m.configError.WithLabelValues(f.URL)); m != b2f(refused) {
			t.Fatalf("config_error %v with the URL refusing: %v", m, refused)
		}
		if m := testutil.ToFloat64(s.m.healthy.WithLabelValues(f.URL)); m != b2f(healthy) {
			t.Fatalf("url_healthy %v with the URL healthy: %v", m, healthy)
		}
	}
}
