package splunk

import (
	"bytes"
	"compress/gzip"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/decode"
)

// fakeHEC is a fault-injecting HEC endpoint. It checks every request as
// Splunk would (token, channel, gzip, concatenated events), "indexes" the
// events of each request it accepts, and answers ack queries per channel.
// Behaviour is switched by the exported fields, under mu.
type fakeHEC struct {
	*httptest.Server
	t testing.TB

	mu sync.Mutex
	// Token is the accepted token.
	Token string
	// Ack makes event answers carry ackIds.
	Ack bool
	// Answer, when set, answers request n (counted from 0) with status
	// and body instead of accepting it, when it returns status != 0.
	Answer func(n int, events []hecEvent) (status int, body string)
	// HoldAcks answers every ack query false while true.
	HoldAcks bool
	// DropAck loses request n's ack: its ackId is never answered true.
	DropAck func(n int) bool
	// Down drops every connection (events, acks and health) unanswered.
	Down bool
	// AckHang makes ack queries hang until the client gives up (a node
	// that accepts connections and never answers).
	AckHang bool
	// AckAnswer, when set, answers ack queries with body instead of the
	// truth (a misbehaving proxy or receiver).
	AckAnswer func(asked []uint64) (body string)
	// AnswerDelay holds back a success answer with an ackId after the
	// ackId is given, with the fake unlocked (a slow network).
	AnswerDelay time.Duration

	requests int
	indexed  map[string]int // flowhose_id → times indexed
	events   []hecEvent     // every event indexed, in order
	nextAck  map[string]uint64
	pending  map[string]map[uint64][]hecEvent // channel → ackId → events
	dropped  map[string]map[uint64]bool
	channels map[string]bool
	ackPolls int
}

// hecEvent is one event as the fake read it.
type hecEvent struct {
	Time       *json.Number    `json:"time"`
	Event      json.RawMessage `json:"event"`
	Host       string          `json:"host"`
	Source     string          `json:"source"`
	Sourcetype string          `json:"sourcetype"`
	Index      string          `json:"index"`
	Fields     map[string]any  `json:"fields"`
	raw        []byte
}

// id is the event's flowhose_id.
func (e hecEvent) id() string { s, _ := e.Fields["flowhose_id"].(string); return s }

var guid = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func newFakeHEC(t testing.TB) *fakeHEC { return startFakeHEC(t, nil) }

// startFakeHEC starts a fake on HTTP, or with tlsConfig on HTTPS with a
// certificate of its own (f.Certificate()).
func startFakeHEC(t testing.TB, tlsConfig *tls.Config) *fakeHEC {
	f := &fakeHEC{t: t, Token: "00000000-1111-2222-3333-444444444444", Ack: true,
		indexed: map[string]int{}, nextAck: map[string]uint64{}, pending: map[string]map[uint64][]hecEvent{},
		dropped: map[string]map[uint64]bool{}, channels: map[string]bool{}}
	f.Server = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	if tlsConfig != nil {
		f.TLS = tlsConfig
		f.StartTLS()
	} else {
		f.Start()
	}
	t.Cleanup(f.Close)
	return f
}

func (f *fakeHEC) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	down := f.Down
	f.mu.Unlock()
	if down {
		// A dead node: the connection closes without an answer.
		hj, _ := w.(http.Hijacker)
		c, _, _ := hj.Hijack()
		c.Close()
		return
	}
	switch r.URL.Path {
	case "/services/collector/health":
		fmt.Fprint(w, `{"text":"HEC is healthy","code":17}`)
	case "/services/collector/event":
		f.event(w, r)
	case "/services/collector/ack":
		f.ack(w, r)
	default:
		http.NotFound(w, r)
	}
}

func answer(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// auth checks the token as Splunk does.
func (f *fakeHEC) auth(w http.ResponseWriter, r *http.Request) bool {
	h := r.Header.Get("Authorization")
	switch {
	case h == "":
		answer(w, 401, `{"text":"Token is required","code":2}`)
	case !strings.HasPrefix(h, "Splunk "):
		answer(w, 401, `{"text":"Invalid authorization","code":3}`)
	case strings.TrimPrefix(h, "Splunk ") != f.Token:
		answer(w, 403, `{"text":"Invalid token","code":4}`)
	default:
		return true
	}
	return false
}

func (f *fakeHEC) event(w http.ResponseWriter, r *http.Request) {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			answer(w, 400, `{"text":"Invalid data format","code":6}`)
			return
		}
		body = zr
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		answer(w, 400, `{"text":"Invalid data format","code":6}`)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.auth(w, r) {
		return
	}
	ch := r.Header.Get("X-Splunk-Request-Channel")
	switch {
	case f.Ack && ch == "":
		answer(w, 400, `{"text":"Data channel is missing","code":10}`)
		return
	case ch != "" && !guid.MatchString(ch):
		answer(w, 400, `{"text":"Invalid data channel","code":11}`)
		return
	}
	var events []hecEvent
	dec := json.NewDecoder(bytes.NewReader(raw))
	for dec.More() {
		var e hecEvent
		if err := dec.Decode(&e); err != nil {
			answer(w, 400, fmt.Sprintf(`{"text":"Invalid data format","code":6,"invalid-event-number":%d}`, len(events)))
			return
		}
		events = append(events, e)
	}
	if len(events) == 0 {
		answer(w, 400, `{"text":"No data","code":5}`)
		return
	}
	n := f.requests
	f.requests++
	if f.Answer != nil {
		if status, b := f.Answer(n, events); status != 0 {
			answer(w, status, b)
			return
		}
	}
	if !f.Ack {
		f.index(events)
		answer(w, 200, `{"text":"Success","code":0}`)
		return
	}
	f.channels[ch] = true
	id := f.nextAck[ch]
	f.nextAck[ch]++
	if f.pending[ch] == nil {
		f.pending[ch] = map[uint64][]hecEvent{}
		f.dropped[ch] = map[uint64]bool{}
	}
	f.pending[ch][id] = events
	if f.DropAck != nil && f.DropAck(n) {
		f.dropped[ch][id] = true
	}
	// Spaces as the OpenTelemetry receiver writes them: the sink must parse, not match.
	ok := fmt.Sprintf(`{"text": "Success", "code": 0, "ackId": %d}`, id)
	if d := f.AnswerDelay; d > 0 {
		f.mu.Unlock()
		time.Sleep(d)
		f.mu.Lock()
	}
	answer(w, 200, ok)
}

// index records events as indexed. f.mu must be held.
func (f *fakeHEC) index(events []hecEvent) {
	for _, e := range events {
		f.indexed[e.id()]++
		f.events = append(f.events, e)
	}
}

func (f *fakeHEC) ack(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	if f.AckHang {
		f.mu.Unlock()
		io.Copy(io.Discard, r.Body) // so the server notices the client leaving
		<-r.Context().Done()
		return
	}
	defer f.mu.Unlock()
	if !f.auth(w, r) {
		return
	}
	ch := r.URL.Query().Get("channel")
	if ch == "" {
		ch = r.Header.Get("X-Splunk-Request-Channel")
	}
	var q struct {
		Acks []uint64 `json:"acks"`
	}
	if err := json.NewDecoder(r.Body).Decode(&q); err != nil {
		answer(w, 400, `{"text":"Invalid data format","code":6}`)
		return
	}
	f.ackPolls++
	if f.AckAnswer != nil {
		answer(w, 200, f.AckAnswer(q.Acks))
		return
	}
	out := map[string]bool{}
	for _, id := range q.Acks {
		evs, ok := f.pending[ch][id]
		done := ok && !f.HoldAcks && !f.dropped[ch][id]
		if done {
			// Indexed now; Splunk forgets an ackId once reported true.
			f.index(evs)
			delete(f.pending[ch], id)
		}
		out[strconv.FormatUint(id, 10)] = done
	}
	b, _ := json.Marshal(map[string]any{"acks": out})
	answer(w, 200, string(b))
}

// set runs fn under the fake's lock.
func (f *fakeHEC) set(fn func(f *fakeHEC)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// counts returns a copy of the indexed counts and the events.
func (f *fakeHEC) counts() (map[string]int, []hecEvent) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := make(map[string]int, len(f.indexed))
	for k, v := range f.indexed {
		m[k] = v
	}
	return m, append([]hecEvent(nil), f.events...)
}

// makeRecords decodes n distinct v2 lines.
func makeRecords(t testing.TB, n int) []stream.Record {
	t.Helper()
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "2 123456789010 eni-0a1b2c3d4e5f6%04x 10.0.%d.%d 172.31.16.21 %d 443 6 10 840 1418530010 %d %s OK\n",
			i%65536, i/250%250, i%250+1, 1024+i%60000, 1418530070+i%50, []string{"ACCEPT", "REJECT"}[i%2])
	}
	d, err := decode.New(decode.Options{Source: "test"})
	if err != nil {
		t.Fatal(err)
	}
	var out decode.Output
	d.Text(b.String(), &out)
	if len(out.Failures) > 0 || len(out.Records) != n {
		t.Fatalf("decoded %d records, %d failures", len(out.Records), len(out.Failures))
	}
	return out.Records
}
