package elasticsearch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/flowhose/flowhose/internal/servicetest"
	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/decode"
	"github.com/flowhose/flowhose/stream/ecs"
	"github.com/flowhose/flowhose/stream/sinktest"
)

// esURL returns the real node's URL from FLOWHOSE_TEST_ES_URL (written to
// .services/env by scripts/services start; see servicetest.Env).
func esURL(t testing.TB) string {
	t.Helper()
	return servicetest.Env(t, "FLOWHOSE_TEST_ES_URL")
}

// uniqueNamespace gives each test its own data stream: this distribution
// cannot delete data streams, so tests never reuse one.
func uniqueNamespace(t testing.TB) string {
	name := strings.ToLower(strings.NewReplacer("/", "_", " ", "_", "-", "_").Replace(t.Name()))
	return fmt.Sprintf("%s_%d", name, time.Now().UnixNano())
}

// integrationConfig writes to a fresh data stream on the real node.
func integrationConfig(t testing.TB, url string) Config {
	c := DefaultConfig()
	c.URLs = []string{url}
	c.Namespace = uniqueNamespace(t)
	c.TemplateOverwrite = true // keep the shared template in step with the code
	c.Replicas = 0
	c.FlushInterval = 50 * time.Millisecond
	c.RetryInitial = 20 * time.Millisecond
	c.RetryMax = 200 * time.Millisecond
	return c
}

// esJSON performs a request on the real node and decodes the answer.
func esJSON(t testing.TB, method, url string, body any, out any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 300 {
		t.Fatalf("%s %s: %s: %s", method, url, res.Status, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, url, err, raw)
		}
	}
}

func esCount(t testing.TB, base, index string) int {
	t.Helper()
	esJSON(t, "POST", base+"/"+index+"/_refresh", nil, nil)
	var c struct{ Count int }
	esJSON(t, "GET", base+"/"+index+"/_count", nil, &c)
	return c.Count
}

// distinct counts records with distinct document ids.
func distinct(recs []stream.Record) int {
	seen := map[string]bool{}
	for i := range recs {
		seen[string(ecs.AppendID(nil, &recs[i]))] = true
	}
	return len(seen)
}

// ingest runs recs through a fresh sink as batches of size n and waits for
// every ack.
func ingest(t testing.TB, s *Sink, recs []stream.Record, n int) []error {
	t.Helper()
	var acks []*stream.Ack
	for i := 0; i < len(recs); i += n {
		ack := stream.NewAck()
		ack.Add(1)
		if err := s.Accept(context.Background(), &stream.Batch{Records: recs[i:min(i+n, len(recs))], Ack: ack}); err != nil {
			t.Fatalf("Accept: %v", err)
		}
		ack.Done(nil)
		acks = append(acks, ack)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var errs []error
	for _, a := range acks {
		if err := a.Wait(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

func setupSink(t testing.TB, cfg Config, dl stream.DeadLetterWriter) *Sink {
	t.Helper()
	s, err := newSink(cfg, dl, nil, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestIntegrationDocumentsAndMappings(t *testing.T) { checkDocumentsAndMappings(t, esURL(t)) }

// checkDocumentsAndMappings indexes sample records into a data stream of
// the node at base and checks the stored documents and their field types.
func checkDocumentsAndMappings(t *testing.T, base string) {
	cfg := integrationConfig(t, base)
	s := setupSink(t, cfg, &sinktest.DeadLetter{})
	recs := sampleRecords(t, 400)
	if errs := ingest(t, s, recs, 37); len(errs) > 0 {
		t.Fatalf("%d batches failed, first: %v", len(errs), errs[0])
	}
	ds := cfg.dataStream()
	want := distinct(recs)
	if got := esCount(t, base, ds); got != want {
		t.Fatalf("count %d, want %d", got, want)
	}

	// One document, fetched back, against what the encoder wrote.
	r := &recs[0]
	id := string(ecs.AppendID(nil, r))
	var res struct {
		Hits struct {
			Hits []struct {
				Index  string          `json:"_index"`
				Source json.RawMessage `json:"_source"`
			}
		}
	}
	esJSON(t, "POST", base+"/"+ds+"/_search", map[string]any{"query": map[string]any{"ids": map[string]any{"values": []string{id}}}}, &res)
	if len(res.Hits.Hits) != 1 {
		t.Fatalf("document %s: %d hits", id, len(res.Hits.Hits))
	}
	if !strings.HasPrefix(res.Hits.Hits[0].Index, ".ds-"+ds+"-") {
		t.Errorf("document in %s, want a backing index of data stream %s", res.Hits.Hits[0].Index, ds)
	}
	var got, wantDoc map[string]any
	enc := ecs.Encoder{Dataset: cfg.Dataset, Namespace: cfg.Namespace}
	if err := json.Unmarshal(enc.Append(nil, r), &wantDoc); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(res.Hits.Hits[0].Source, &got); err != nil {
		t.Fatal(err)
	}
	if g, w := fmt.Sprint(got), fmt.Sprint(wantDoc); g != w {
		t.Errorf("stored document\n got %s\nwant %s", g, w)
	}

	// The mapping gives the searchable types, not dynamic guesses.
	var mapping map[string]struct {
		Mappings json.RawMessage
	}
	esJSON(t, "GET", base+"/"+ds+"/_mapping", nil, &mapping)
	for _, m := range mapping {
		for field, typ := range map[string]string{
			"@timestamp":               "date",
			"source.ip":                "ip",
			"destination.ip":           "ip",
			"related.ip":               "ip",
			"source.port":              "long",
			"destination.port":         "long",
			"network.bytes":            "long",
			"network.transport":        "keyword",
			"network.community_id":     "keyword",
			"event.action":             "keyword",
			"event.duration":           "long",
			"aws.vpcflow.srcaddr":      "ip",
			"aws.vpcflow.interface_id": "keyword",
			"aws.vpcflow.version":      "keyword",
			"source.geo.location":      "geo_point",
		} {
			if got := fieldType(m.Mappings, field); got != typ {
				t.Errorf("mapping of %s: %q, want %q", field, got, typ)
			}
		}
	}
}

// fieldType digs a dotted field's type out of a mapping.
func fieldType(mappings json.RawMessage, field string) string {
	var node struct {
		Type       string                     `json:"type"`
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(mappings, &node); err != nil {
		return ""
	}
	head, rest, nested := strings.Cut(field, ".")
	if field == "@timestamp" {
		head, nested = field, false
	}
	child, ok := node.Properties[head]
	if !ok {
		return ""
	}
	if !nested {
		var leaf struct{ Type string }
		json.Unmarshal(child, &leaf)
		return leaf.Type
	}
	return fieldType(child, rest)
}

func TestIntegrationRedeliveryCreatesNoDuplicates(t *testing.T) { checkRedelivery(t, esURL(t)) }

// checkRedelivery sends the same records twice to the node at base: the
// second time every document is a 409 that counts as delivered.
func checkRedelivery(t *testing.T, base string) {
	cfg := integrationConfig(t, base)
	s := setupSink(t, cfg, &sinktest.DeadLetter{})
	recs := sampleRecords(t, 120)
	if errs := ingest(t, s, recs, 50); len(errs) > 0 {
		t.Fatal(errs[0])
	}
	before := esCount(t, base, cfg.dataStream())
	// The source lost our acks and sends everything again.
	if errs := ingest(t, s, recs, 40); len(errs) > 0 {
		t.Fatalf("redelivery must succeed: %v", errs[0])
	}
	if after := esCount(t, base, cfg.dataStream()); after != before || after != distinct(recs) {
		t.Fatalf("count %d after redelivery, %d before, want %d", after, before, distinct(recs))
	}
	if got := testutil.ToFloat64(s.m.duplicates); got != float64(len(recs)) {
		t.Errorf("duplicates metric %v, want %d", got, len(recs))
	}
}

func TestIntegrationUnindexableDocumentIsDeadLettered(t *testing.T) {
	checkUnindexableDocument(t, esURL(t))
}

// checkUnindexableDocument sends the node at base a document its mapping
// refuses: it goes to the dead-letter writer, its batch still succeeds.
func checkUnindexableDocument(t *testing.T, base string) {
	// A daily-index target whose template types network.bytes as integer:
	// a flow of 5 GB cannot be stored there, the other one can.
	prefix := "flowhose-it-dl-" + fmt.Sprint(time.Now().UnixNano()) + "-"
	esJSON(t, "PUT", base+"/_index_template/"+strings.TrimSuffix(prefix, "-"), map[string]any{
		"index_patterns": []string{prefix + "*"},
		"priority":       500,
		"template": map[string]any{
			"settings": map[string]any{"number_of_replicas": 0},
			"mappings": map[string]any{"properties": map[string]any{"network": map[string]any{"properties": map[string]any{"bytes": map[string]any{"type": "integer"}}}}},
		},
	}, nil)
	t.Cleanup(func() {
		esJSON(t, "DELETE", base+"/"+prefix+"2023.11.14", nil, nil)
		esJSON(t, "DELETE", base+"/_index_template/"+strings.TrimSuffix(prefix, "-"), nil, nil)
	})
	cfg := integrationConfig(t, base)
	cfg.Target = TargetIndex
	cfg.IndexPrefix = prefix
	cfg.Template = false
	dl := &sinktest.DeadLetter{}
	s := setupSink(t, cfg, dl)
	lines := "2 123456789012 eni-0a1 10.0.0.1 10.0.0.2 443 51000 6 10 840 1700000000 1700000060 ACCEPT OK\n" +
		"2 123456789012 eni-0a1 10.0.0.1 10.0.0.3 443 51001 6 4000000 5000000000 1700000000 1700000060 ACCEPT OK\n"
	recs := decodeLines(t, lines)
	if errs := ingest(t, s, recs, 2); len(errs) > 0 {
		t.Fatalf("batch failed although the refused document was dead-lettered: %v", errs[0])
	}
	fs := dl.Failures()
	if len(fs) != 1 || fs[0].Input != recs[1].Raw || !strings.Contains(fs[0].Reason, "400") {
		t.Fatalf("dead letters %+v, want the 5 GB record with a 400 reason", fs)
	}
	if got := esCount(t, base, prefix+"2023.11.14"); got != 1 {
		t.Errorf("count %d in %s2023.11.14, want 1", got, prefix)
	}
}

func decodeLines(t testing.TB, lines string) []stream.Record {
	t.Helper()
	d, err := decode.New(decode.Options{Source: "test"})
	if err != nil {
		t.Fatal(err)
	}
	var out decode.Output
	d.Text(lines, &out)
	if len(out.Failures) > 0 {
		t.Fatalf("decode: %+v", out.Failures)
	}
	return out.Records
}

// flakyProxy forwards to the real node, or fails every request while down:
// with a 503, or by closing the connection without an answer.
type flakyProxy struct {
	*httptest.Server
	mode    atomic.Value // "up", "503", "close"
	refused atomic.Int64
}

func newFlakyProxy(t *testing.T, target string) *flakyProxy {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	p := &flakyProxy{}
	p.mode.Store("up")
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch p.mode.Load() {
		case "503":
			p.refused.Add(1)
			w.Header().Set("X-Elastic-Product", "Elasticsearch")
			http.Error(w, `{"error":"proxy down"}`, http.StatusServiceUnavailable)
		case "close":
			p.refused.Add(1)
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		default:
			rp.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(p.Close)
	return p
}

func TestIntegrationOutageLosesNothing(t *testing.T) {
	base := esURL(t)
	for _, mode := range []string{"503", "close"} {
		t.Run(mode, func(t *testing.T) {
			proxy := newFlakyProxy(t, base)
			cfg := integrationConfig(t, proxy.URL)
			cfg.RetryFor = 0 // wait out the outage
			cfg.FlushDocs = 25
			s := setupSink(t, cfg, &sinktest.DeadLetter{})
			recs := sampleRecords(t, 300)
			// Half before the outage, half during it.
			if errs := ingest(t, s, recs[:150], 30); len(errs) > 0 {
				t.Fatal(errs[0])
			}
			proxy.mode.Store(mode)
			done := make(chan []error, 1)
			go func() { done <- ingest(t, s, recs[150:], 30) }()
			// Let the sink hit the outage several times, then recover.
			deadline := time.Now().Add(30 * time.Second)
			for proxy.refused.Load() < 5 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if proxy.refused.Load() < 5 {
				t.Fatal("the sink never retried against the failing node")
			}
			select {
			case errs := <-done:
				t.Fatalf("batches settled during the outage: %v", errs)
			default:
			}
			proxy.mode.Store("up")
			if errs := <-done; len(errs) > 0 {
				t.Fatalf("batches failed after recovery: %v", errs[0])
			}
			if got, want := esCount(t, base, cfg.dataStream()), distinct(recs); got != want {
				t.Fatalf("count %d after the outage, want %d", got, want)
			}
		})
	}
}

func TestIntegrationDailyIndices(t *testing.T) { checkDailyIndices(t, esURL(t)) }

// checkDailyIndices writes records of two days into daily indices of the
// node at base, which must get the template's mapping.
func checkDailyIndices(t *testing.T, base string) {
	cfg := integrationConfig(t, base)
	cfg.Target = TargetIndex
	cfg.IndexPrefix = "flowhose-it-daily-" + fmt.Sprint(time.Now().UnixNano()) + "-"
	cfg.TemplateName = strings.TrimSuffix(cfg.IndexPrefix, "-")
	t.Cleanup(func() {
		// Wildcard deletes are refused (destructive_requires_name).
		esJSON(t, "DELETE", base+"/"+cfg.IndexPrefix+"2023.11.14,"+cfg.IndexPrefix+"2023.11.15", nil, nil)
		esJSON(t, "DELETE", base+"/_index_template/"+cfg.TemplateName, nil, nil)
	})
	s := setupSink(t, cfg, &sinktest.DeadLetter{})
	lines := "2 123456789012 eni-0a1 10.0.0.1 10.0.0.2 443 51000 6 10 840 1700000000 1700000060 ACCEPT OK\n" +
		"2 123456789012 eni-0a1 10.0.0.1 10.0.0.2 443 51000 6 10 840 1700086400 1700086460 ACCEPT OK\n"
	if errs := ingest(t, s, decodeLines(t, lines), 2); len(errs) > 0 {
		t.Fatal(errs[0])
	}
	for _, day := range []string{"2023.11.14", "2023.11.15"} {
		if got := esCount(t, base, cfg.IndexPrefix+day); got != 1 {
			t.Errorf("%s%s holds %d documents, want 1", cfg.IndexPrefix, day, got)
		}
	}
	var m map[string]struct{ Mappings json.RawMessage }
	esJSON(t, "GET", base+"/"+cfg.IndexPrefix+"2023.11.14/_mapping", nil, &m)
	for _, v := range m {
		if got := fieldType(v.Mappings, "source.ip"); got != "ip" {
			t.Errorf("daily index source.ip mapped as %q, want ip (template not applied)", got)
		}
	}
}

// TestIntegrationFrozenNode stops the real node's process (SIGSTOP) while
// batches are in flight, so requests hang and time out as with a dead or
// overloaded cluster, then resumes it. Requests that Elasticsearch applied
// but could not answer are retried into 409s: still no loss, no duplicate.
func TestIntegrationFrozenNode(t *testing.T) {
	base := servicetest.Disrupt(t, "FLOWHOSE_TEST_ES_URL")
	pidfile := os.Getenv("FLOWHOSE_TEST_ES_PIDFILE")
	if pidfile == "" {
		t.Skip("FLOWHOSE_TEST_ES_PIDFILE unset: the node was not started by scripts/services")
	}
	raw, err := os.ReadFile(pidfile)
	if err != nil {
		t.Skipf("cannot read the node's pid: %v", err)
	}
	var pid int
	if _, err := fmt.Sscan(string(raw), &pid); err != nil {
		t.Fatalf("pid file %s: %v", pidfile, err)
	}
	proc, err := os.FindProcess(pid)
	if err != nil {
		t.Fatal(err)
	}
	cfg := integrationConfig(t, base)
	cfg.RetryFor = 0
	cfg.RequestTimeout = 500 * time.Millisecond
	cfg.FlushDocs = 20
	s := setupSink(t, cfg, &sinktest.DeadLetter{})
	recs := sampleRecords(t, 400)
	if errs := ingest(t, s, recs[:100], 25); len(errs) > 0 {
		t.Fatal(errs[0])
	}

	if err := proc.Signal(syscall.SIGSTOP); err != nil {
		t.Skipf("cannot pause the node (not allowed to signal it?): %v", err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			if err := proc.Signal(syscall.SIGCONT); err != nil {
				t.Errorf("resume node: %v", err)
			}
		}
	}
	t.Cleanup(resume)
	done := make(chan []error, 1)
	go func() { done <- ingest(t, s, recs[100:], 25) }()
	// Several request timeouts pass while the node is frozen.
	time.Sleep(2 * time.Second)
	select {
	case errs := <-done:
		t.Fatalf("batches settled while the node was frozen: %v", errs)
	default:
	}
	resume()
	if errs := <-done; len(errs) > 0 {
		t.Fatalf("batches failed after the node resumed: %v", errs[0])
	}
	if got, want := esCount(t, base, cfg.dataStream()), distinct(recs); got != want {
		t.Fatalf("count %d after the freeze, want %d", got, want)
	}
	if testutil.ToFloat64(s.m.retried) == 0 {
		t.Error("no document was retried: the freeze did not reach the sink")
	}
}

// TestIntegrationRestartedNode stops the real node and starts it again on
// the same port and data (scripts/services restart elasticsearch, about
// 10-20 s) while batches keep coming: connections are refused meanwhile,
// and everything must be there afterwards, once. It needs a node started
// by scripts/services (FLOWHOSE_TEST_ES_PIDFILE set); set
// FLOWHOSE_TEST_ES_NO_RESTART=1 to spare a node others are using.
func TestIntegrationRestartedNode(t *testing.T) {
	base := servicetest.Disrupt(t, "FLOWHOSE_TEST_ES_URL")
	if os.Getenv("FLOWHOSE_TEST_ES_PIDFILE") == "" {
		t.Skip("FLOWHOSE_TEST_ES_PIDFILE unset: the node was not started by scripts/services")
	}
	if os.Getenv("FLOWHOSE_TEST_ES_NO_RESTART") != "" {
		t.Skip("FLOWHOSE_TEST_ES_NO_RESTART is set")
	}
	cfg := integrationConfig(t, base)
	cfg.RetryFor = 0
	cfg.RetryMax = time.Second
	cfg.RequestTimeout = 5 * time.Second
	cfg.FlushDocs = 20
	s := setupSink(t, cfg, &sinktest.DeadLetter{})
	recs := sampleRecords(t, 400)
	if errs := ingest(t, s, recs[:100], 25); len(errs) > 0 {
		t.Fatal(errs[0])
	}

	restarted := make(chan error, 1)
	go func() {
		out, err := exec.Command("../../scripts/services", "restart", "elasticsearch").CombinedOutput()
		if err != nil {
			err = fmt.Errorf("%w: %s", err, out)
		}
		restarted <- err
	}()
	// Wait until the node is really gone before sending the rest.
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, err := http.Get(base + "/_cluster/health")
		if err != nil {
			break
		}
		res.Body.Close()
		if time.Now().After(deadline) {
			t.Fatal("the node did not stop")
		}
		time.Sleep(50 * time.Millisecond)
	}
	begin := time.Now()
	errs := ingest(t, s, recs[100:], 25)
	if err := <-restarted; err != nil {
		t.Fatalf("restart: %v", err)
	}
	if len(errs) > 0 {
		t.Fatalf("batches failed across the restart: %v", errs[0])
	}
	t.Logf("batches sent while the node was down were all acknowledged %s later", time.Since(begin).Round(time.Second))
	if got, want := esCount(t, base, cfg.dataStream()), distinct(recs); got != want {
		t.Fatalf("count %d after the restart, want %d", got, want)
	}
}

// TestIntegrationRequestsSplitUnderSizeLimit sends through a proxy that
// answers 413 to bulk bodies over 64 KiB, as a node with a small
// http.max_content_length does (the shared node keeps its default):
// requests are split until they pass, and the one document too large on
// its own is dead-lettered.
func TestIntegrationRequestsSplitUnderSizeLimit(t *testing.T) {
	const limit = 64 << 10
	base := esURL(t)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	var refused atomic.Int64
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		if strings.HasSuffix(r.URL.Path, "/_bulk") && len(body) > limit {
			refused.Add(1)
			w.Header().Set("X-Elastic-Product", "Elasticsearch")
			http.Error(w, `{"error":"content too long"}`, http.StatusRequestEntityTooLarge)
			return
		}
		r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)

	cfg := integrationConfig(t, proxy.URL)
	cfg.Compress = false // the proxy measures the body as sent
	cfg.EventOriginal = true
	cfg.FlushDocs = 400
	cfg.FlushInterval = time.Hour
	dl := &sinktest.DeadLetter{}
	s := setupSink(t, cfg, dl)
	recs := sampleRecords(t, 400)
	recs[7].Raw += strings.Repeat(" ", limit)
	if errs := ingest(t, s, recs, 400); len(errs) > 0 {
		t.Fatalf("batch failed: %v", errs[0])
	}
	if refused.Load() == 0 {
		t.Fatal("the proxy never refused a request: nothing was split")
	}
	fs := dl.Failures()
	if len(fs) != 1 || fs[0].Input != recs[7].Raw || !strings.Contains(fs[0].Reason, "413") {
		t.Fatalf("dead letters %d, want record 7 with a 413 reason", len(fs))
	}
	if got, want := esCount(t, base, cfg.dataStream()), distinct(recs)-1; got != want {
		t.Fatalf("count %d, want %d", got, want)
	}
}
