package elasticsearch

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/decode"
)

// fakeDoc is one action+source pair a fake node received.
type fakeDoc struct {
	Index  string // _index from the action line, or the URL's index
	ID     string
	Source json.RawMessage
}

// fakeBulk is one bulk request a fake node received.
type fakeBulk struct {
	Path    string
	Gzipped bool
	Size    int       // uncompressed body bytes
	Docs    []fakeDoc // nil when refused with 413
}

// answer decides a fake node's reply to the n-th (0-based) bulk request:
// a whole-request status (0 or 200 means answer per item) and one status
// per document (nil: all 201).
type answer func(n int, docs []fakeDoc) (status int, items []int)

// fakeES is an httptest server speaking just enough of the bulk API.
type fakeES struct {
	*httptest.Server
	mu      sync.Mutex
	answer  answer
	bulks   []fakeBulk
	stored  map[string]json.RawMessage // _id -> source, for 201s
	release chan struct{}              // when non-nil, requests wait on it
	// raw, when set and returning a non-empty string, replaces the 200
	// answer to the n-th request with that body; nothing is stored.
	raw func(n int) string
	// maxBody, when positive, answers 413 to bulk bodies longer than
	// this many uncompressed bytes, as http.max_content_length does.
	maxBody int
}

func newFakeES(t *testing.T, a answer) *fakeES {
	t.Helper()
	f := &fakeES{answer: a, stored: map[string]json.RawMessage{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeES) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	w.Header().Set("Content-Type", "application/json")
	if !strings.HasSuffix(r.URL.Path, "/_bulk") {
		w.WriteHeader(404)
		return
	}
	f.mu.Lock()
	rel := f.release
	f.mu.Unlock()
	if rel != nil {
		select {
		case <-rel:
		case <-r.Context().Done():
			return
		}
	}
	var body io.Reader = r.Body
	gz := r.Header.Get("Content-Encoding") == "gzip"
	if gz {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		body = zr
	}
	urlIndex := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/"), "/_bulk")
	all, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	if f.maxBody > 0 && len(all) > f.maxBody {
		f.mu.Lock()
		f.bulks = append(f.bulks, fakeBulk{Path: r.URL.Path, Gzipped: gz, Size: len(all)})
		f.mu.Unlock()
		http.Error(w, `{"error":"content too long"}`, 413)
		return
	}
	var docs []fakeDoc
	sc := bufio.NewScanner(bytes.NewReader(all))
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var action map[string]struct {
			Index string `json:"_index"`
			ID    string `json:"_id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &action); err != nil {
			http.Error(w, "bad action line: "+err.Error(), 400)
			return
		}
		a, ok := action["create"]
		if !ok || !sc.Scan() {
			http.Error(w, "want create action and source", 400)
			return
		}
		d := fakeDoc{Index: a.Index, ID: a.ID, Source: append(json.RawMessage(nil), sc.Bytes()...)}
		if d.Index == "" {
			d.Index = urlIndex
		}
		docs = append(docs, d)
	}
	f.mu.Lock()
	n := len(f.bulks)
	f.bulks = append(f.bulks, fakeBulk{Path: r.URL.Path, Gzipped: gz, Size: len(all), Docs: docs})
	if f.raw != nil {
		if body := f.raw(n); body != "" {
			f.mu.Unlock()
			io.WriteString(w, body)
			return
		}
	}
	status, items := f.answer(n, docs)
	if status != 0 && status != 200 {
		f.mu.Unlock()
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":{"type":"fake","reason":"status %d"},"status":%d}`, status, status)
		return
	}
	var list bytes.Buffer
	errs := false
	for i, d := range docs {
		st := 201
		if items != nil {
			st = items[i]
		}
		if st == 201 {
			if _, dup := f.stored[d.ID]; dup {
				st = 409
			} else {
				f.stored[d.ID] = d.Source
			}
		}
		if i > 0 {
			list.WriteByte(',')
		}
		if st < 300 {
			fmt.Fprintf(&list, `{"create":{"status":%d}}`, st)
		} else {
			errs = true
			fmt.Fprintf(&list, `{"create":{"status":%d,"error":{"type":"fake_%d","reason":"doc %s"}}}`, st, st, d.ID)
		}
	}
	f.mu.Unlock()
	fmt.Fprintf(w, `{"errors":%t,"items":[%s]}`, errs, list.Bytes())
}

func (f *fakeES) requests() []fakeBulk {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeBulk(nil), f.bulks...)
}

func (f *fakeES) storedCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.stored)
}

// quiet discards the sink's logs in tests; set FLOWHOSE_TEST_LOG=1 to see them.
var quiet = func() *slog.Logger {
	if os.Getenv("FLOWHOSE_TEST_LOG") != "" {
		return slog.Default()
	}
	return slog.New(slog.DiscardHandler)
}()

// allOK answers every item with 201 (409 for ids seen before).
func allOK(int, []fakeDoc) (int, []int) { return 0, nil }

// sampleRecords decodes n records of the v2 sample in testdata.
func sampleRecords(t testing.TB, n int) []stream.Record {
	t.Helper()
	raw, err := os.ReadFile("../../testdata/flowlogs/sample-v2.log")
	if err != nil {
		t.Fatal(err)
	}
	d, err := decode.New(decode.Options{Source: "test"})
	if err != nil {
		t.Fatal(err)
	}
	var out decode.Output
	d.Text(string(raw), &out)
	if len(out.Failures) > 0 {
		t.Fatalf("sample failures: %+v", out.Failures[0])
	}
	if len(out.Records) < n {
		t.Fatalf("sample has %d records, want %d", len(out.Records), n)
	}
	return out.Records[:n]
}
