package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowhose/flowhose/internal/servicetest"
)

// ackingHEC is a minimal HEC endpoint with indexer acknowledgement whose
// acks can be held back.
type ackingHEC struct {
	mu     sync.Mutex
	token  string
	hold   bool
	next   uint64
	events [][]byte // raw events of requests acknowledged true
	sent   map[uint64][][]byte
}

func (h *ackingHEC) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if r.Header.Get("Authorization") != "Splunk "+h.token {
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `{"text":"Invalid token","code":4}`)
		return
	}
	switch r.URL.Path {
	case "/services/collector/event":
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			body = zr
		}
		dec := json.NewDecoder(body)
		var evs [][]byte
		for dec.More() {
			var e json.RawMessage
			if err := dec.Decode(&e); err != nil {
				w.WriteHeader(http.StatusBadRequest)
				io.WriteString(w, `{"text":"Invalid data format","code":6}`)
				return
			}
			evs = append(evs, e)
		}
		h.sent[h.next] = evs
		fmt.Fprintf(w, `{"text":"Success","code":0,"ackId":%d}`, h.next)
		h.next++
	case "/services/collector/ack":
		var q struct{ Acks []uint64 }
		json.NewDecoder(r.Body).Decode(&q)
		out := map[string]bool{}
		for _, id := range q.Acks {
			evs, ok := h.sent[id]
			out[strconv.FormatUint(id, 10)] = ok && !h.hold
			if ok && !h.hold {
				h.events = append(h.events, evs...)
				delete(h.sent, id)
			}
		}
		json.NewEncoder(w).Encode(map[string]any{"acks": out})
	default:
		http.NotFound(w, r)
	}
}

// A Firehose request goes to NDJSON, Splunk and, when the test node runs
// (FLOWHOSE_TEST_ES_URL), Elasticsearch; it is answered 200 only once
// Splunk has acknowledged its events, and then every sink has every record.
func TestServeSplunkEndToEnd(t *testing.T) {
	hec := &ackingHEC{token: "e2e-token", hold: true, sent: map[uint64][][]byte{}}
	srv := httptest.NewServer(hec)
	defer srv.Close()
	dir := t.TempDir()
	out := filepath.Join(dir, "flows.ndjson")
	esURL := os.Getenv("FLOWHOSE_TEST_ES_URL")
	if esURL != "" {
		servicetest.Env(t, "FLOWHOSE_TEST_ES_URL")
	}
	namespace := fmt.Sprintf("e2e_splunk_%d", time.Now().UnixNano())
	es := ""
	if esURL != "" {
		es = fmt.Sprintf(`
  elasticsearch:
    enabled: true
    urls: [%q]
    namespace: %s
    replicas: 0
    flush_interval: 10ms`, esURL, namespace)
	}
	s := startServe(t, fmt.Sprintf(`sources:
  firehose:
    access_keys: [test-key]
sinks:
  ndjson:
    path: %q
  dead_letter:
    path: %q
  splunk:
    enabled: true
    urls: [%q]
    token: e2e-token
    flush_interval: 10ms
    ack_poll_interval: 20ms%s
`, out, filepath.Join(dir, "dead.ndjson"), srv.URL, es), io.Discard)

	type answer struct {
		code int
		body string
		err  error
	}
	done := make(chan answer, 1)
	go func() {
		code, body, err := postFirehose(s.base)
		done <- answer{code, body, err}
	}()
	select {
	case a := <-done:
		t.Fatalf("Firehose answered %d %s before Splunk acknowledged", a.code, a.body)
	case <-time.After(500 * time.Millisecond):
	}
	hec.mu.Lock()
	hec.hold = false
	hec.mu.Unlock()
	a := <-done
	if a.err != nil || a.code != http.StatusOK {
		t.Fatalf("Firehose answered %d %s %v", a.code, a.body, a.err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	docs := ndjsonLines(t, string(data))
	hec.mu.Lock()
	events := hec.events
	hec.mu.Unlock()
	if len(docs) < 3 || len(events) != len(docs) {
		t.Fatalf("%d NDJSON documents, %d Splunk events; want the same, at least 3", len(docs), len(events))
	}
	for _, want := range []string{"172.31.16.139", "172.31.9.69"} {
		if !bytes.Contains(bytes.Join(events, nil), []byte(want)) {
			t.Errorf("Splunk events lack %s", want)
		}
	}
	if esURL != "" {
		// The 200 came after Elasticsearch confirmed every document too.
		index := esURL + "/logs-aws.vpcflow-" + namespace
		if res, err := http.Post(index+"/_refresh", "application/json", nil); err == nil {
			res.Body.Close()
		}
		res, err := http.Get(index + "/_count")
		if err != nil {
			t.Fatal(err)
		}
		var c struct{ Count int }
		json.NewDecoder(res.Body).Decode(&c)
		res.Body.Close()
		// Records of the same line (the sample wraps one line twice) are
		// one document: as many as distinct ids among the Splunk events.
		ids := map[string]bool{}
		for _, e := range events {
			var ev struct {
				Fields struct {
					ID string `json:"flowhose_id"`
				}
			}
			json.Unmarshal(e, &ev)
			ids[ev.Fields.ID] = true
		}
		if c.Count != len(ids) || len(ids) < 3 {
			t.Errorf("Elasticsearch holds %d documents, want %d (the distinct ids)", c.Count, len(ids))
		}
	}
	if code, m := s.get(t, "/metrics"); code != http.StatusOK || !strings.Contains(m, fmt.Sprintf("flowhose_splunk_events_delivered_total %d", len(events))) {
		t.Errorf("/metrics lacks flowhose_splunk_events_delivered_total %d", len(events))
	}

	// A token HEC refuses: the request waits, readiness fails with the
	// reason, and both recover once the token is accepted again.
	hec.mu.Lock()
	hec.token = "rotated"
	hec.mu.Unlock()
	go func() {
		code, body, err := postFirehose(s.base)
		done <- answer{code, body, err}
	}()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		code, body := s.get(t, "/readyz")
		if code == http.StatusServiceUnavailable && strings.Contains(body, "code 4") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz = %d %q while HEC refuses the token", code, body)
		}
	}
	hec.mu.Lock()
	hec.token = "e2e-token"
	hec.mu.Unlock()
	if a := <-done; a.err != nil || a.code != http.StatusOK {
		t.Fatalf("Firehose answered %d %s %v after the token was fixed", a.code, a.body, a.err)
	}
	if code, body := s.get(t, "/readyz"); code != http.StatusOK {
		t.Errorf("/readyz = %d %q after the fix", code, body)
	}
}
