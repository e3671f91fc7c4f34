package transform

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/decode"
	"github.com/flowhose/flowhose/stream/membudget"
	"github.com/flowhose/flowhose/stream/sinktest"
	"github.com/flowhose/flowhose/stream/source/accesskey"
)

// eventBody is an HTTP transformation request carrying payloads as records r0, r1, ….
func eventBody(payloads ...[]byte) string {
	var b strings.Builder
	b.WriteString(`{"invocationId":"i","records":[`)
	for i, p := range payloads {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"recordId":"r%d","data":"%s"}`, i, b64(string(p)))
	}
	b.WriteString(`]}`)
	return b.String()
}

func newLimitedHandler(t *testing.T, mut func(*Config), deps Deps) *Handler {
	t.Helper()
	cfg := DefaultConfig()
	if mut != nil {
		mut(&cfg)
	}
	deps.DeadLetter = &sinktest.DeadLetter{}
	h, err := New(cfg, decode.Options{}, deps)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func serve(h *Handler, body, key string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/firehose/transform", strings.NewReader(body))
	if key != "" {
		r.Header.Set(accesskey.Header, key)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// The HTTP transformation endpoint checks the same access keys as the
// Firehose endpoint.
func TestHTTPAccessKeys(t *testing.T) {
	h := newLimitedHandler(t, nil, Deps{Keys: accesskey.New([]string{"k1", "k2"})})
	body := eventBody([]byte(lineAccept))
	for _, tt := range []struct {
		key  string
		code int
	}{{"", 401}, {"k", 401}, {"k1x", 401}, {"k1", 200}, {"k2", 200}} {
		if w := serve(h, body, tt.key); w.Code != tt.code {
			t.Errorf("key %q: got %d %s, want %d", tt.key, w.Code, w.Body, tt.code)
		}
	}
}

// A small gzip record that expands to hundreds of thousands of records is
// cut off while decoding (by max_records or by the memory budget) and
// answered ProcessingFailed with every later record; earlier records keep
// their output.
func TestBombAnsweredProcessingFailed(t *testing.T) {
	line := "2 - - - - - - - - - - - - -\n"
	bomb := gz(strings.Repeat(line, (8<<20)/len(line)))
	for _, tt := range []struct {
		name   string
		mut    func(*Config)
		budget int64
	}{
		{"max_records", func(c *Config) { c.MaxRecords = 1000 }, 0},
		{"budget", nil, 16 << 20},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var deps Deps
			if tt.budget > 0 {
				b, err := membudget.New(tt.budget, prometheus.NewRegistry())
				if err != nil {
					t.Fatal(err)
				}
				deps.Budget = b
				defer func() {
					if b.InFlight() != 0 {
						t.Errorf("%d bytes still reserved after the request", b.InFlight())
					}
				}()
			}
			h := newLimitedHandler(t, tt.mut, deps)
			w := serve(h, eventBody([]byte(lineAccept), bomb, []byte(lineReject)), "")
			if w.Code != http.StatusOK {
				t.Fatalf("got %d %s", w.Code, w.Body)
			}
			want := []string{`"recordId":"r0","result":"Ok"`, `"recordId":"r1","result":"ProcessingFailed"`, `"recordId":"r2","result":"ProcessingFailed"`}
			for _, s := range want {
				if !strings.Contains(w.Body.String(), s) {
					t.Errorf("response lacks %s: %.300s", s, w.Body)
				}
			}
		})
	}
}

// A budget held by other requests fails the call as a whole (retryable).
func TestBudgetExhausted(t *testing.T) {
	b, err := membudget.New(1<<20, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	other := b.Lease("other")
	if err := other.Grow(1<<20 - 64); err != nil {
		t.Fatal(err)
	}
	h := newLimitedHandler(t, nil, Deps{Budget: b})
	if w := serve(h, eventBody([]byte(lineAccept)), ""); w.Code != http.StatusServiceUnavailable {
		t.Fatalf("got %d %s, want 503", w.Code, w.Body)
	}
	other.Release()
	if w := serve(h, eventBody([]byte(lineAccept)), ""); w.Code != http.StatusOK {
		t.Fatalf("got %d %s, want 200", w.Code, w.Body)
	}
	if b.InFlight() != 0 {
		t.Errorf("%d bytes still reserved", b.InFlight())
	}
}

// The response limit is checked as a record's output grows: a record of
// many lines stops being encoded once it cannot fit.
func TestResponseLimitStopsEncoding(t *testing.T) {
	h := newLimitedHandler(t, func(c *Config) { c.MaxResponseBytes = 10_000 }, Deps{})
	calls := 0
	encode := h.encode
	h.encode = func(dst []byte, r *stream.Record) []byte {
		calls++
		return encode(dst, r)
	}
	resp, err := h.Transform(context.Background(), []Input{{"big", []byte(strings.Repeat(lineAccept+"\n", 20_000))}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Records[0].Result != ResultProcessingFailed {
		t.Fatalf("result %s, want ProcessingFailed", resp.Records[0].Result)
	}
	if calls > 20 {
		t.Errorf("encoded %d documents of a record whose output could not fit 10,000 bytes", calls)
	}
}
