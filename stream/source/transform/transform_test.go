package transform

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/decode"
	"github.com/flowhose/flowhose/stream/sinktest"
)

const (
	lineAccept = "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK"
	lineReject = "2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 3389 6 20 4249 1418530010 1418530070 REJECT OK"
	lineBad    = "2 123456789010 eni-1235b8ca123456789 172.31.16.139 not-an-address 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK"
)

func gz(s string) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	_, _ = w.Write([]byte(s))
	_ = w.Close()
	return buf.Bytes()
}

var controlMessage = gz(`{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"",` +
	`"subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1432826855000,"message":"CWL CONTROL MESSAGE: Checking health of destination Firehose."}]}`)

// countingEnricher records how many records it saw.
type countingEnricher struct {
	mu sync.Mutex
	n  int
}

func (c *countingEnricher) Enrich(_ context.Context, recs []stream.Record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n += len(recs)
}

func newHandler(t *testing.T, mut func(*Config), enrichers ...stream.Enricher) (*Handler, *sinktest.DeadLetter) {
	t.Helper()
	cfg := DefaultConfig()
	if mut != nil {
		mut(&cfg)
	}
	dl := &sinktest.DeadLetter{}
	h, err := New(cfg, decode.Options{}, Deps{Enrichers: enrichers, DeadLetter: dl})
	if err != nil {
		t.Fatal(err)
	}
	return h, dl
}

func TestResults(t *testing.T) {
	in := []Input{
		{"plain", []byte(lineAccept)},
		{"control", controlMessage},
		{"empty", nil},
		{"hello", []byte("Hello World")},
		{"mixed", []byte(lineReject + "\n" + lineBad + "\n")},
		{"wrapped", []byte(`{"message":"` + lineAccept + `"}`)},
		{"allbad", []byte(lineBad)},
	}
	want := []string{ResultOk, ResultDropped, ResultDropped, ResultProcessingFailed, ResultOk, ResultOk, ResultProcessingFailed}
	enr := &countingEnricher{}
	h, dl := newHandler(t, func(c *Config) { c.Output = OutputOriginal }, enr)
	resp, err := h.Transform(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Records) != len(in) {
		t.Fatalf("%d results for %d records", len(resp.Records), len(in))
	}
	for i, rr := range resp.Records {
		if rr.RecordID != in[i].RecordID || rr.Result != want[i] {
			t.Errorf("result %d = %s %s, want %s %s", i, rr.RecordID, rr.Result, in[i].RecordID, want[i])
		}
		if (rr.Result == ResultOk) != (rr.Data != nil) {
			t.Errorf("%s: result %s with %d bytes of data", rr.RecordID, rr.Result, len(rr.Data))
		}
	}
	if got := string(resp.Records[4].Data); got != lineReject+"\n" {
		t.Errorf("mixed data = %q", got)
	}
	// Only the bad line of the record answered Ok is dead-lettered: Firehose
	// keeps the ProcessingFailed ones itself.
	fs := dl.Failures()
	if len(fs) != 1 || fs[0].Input != lineBad || fs[0].Source != "transform" || fs[0].Line != 2 || fs[0].Ref != "recordId mixed" {
		t.Errorf("dead letters = %+v", fs)
	}
	if enr.n != 3 {
		t.Errorf("enricher saw %d records, want 3", enr.n)
	}
}

func TestOutputs(t *testing.T) {
	tests := []struct {
		output string
		check  func(t *testing.T, line string)
	}{
		{OutputOriginal, func(t *testing.T, line string) {
			if line != lineAccept {
				t.Errorf("line = %q", line)
			}
		}},
		{OutputECS, func(t *testing.T, line string) {
			var doc struct {
				Timestamp string `json:"@timestamp"`
				Source    struct {
					IP   string `json:"ip"`
					Port int    `json:"port"`
				} `json:"source"`
				Event struct {
					Action string `json:"action"`
				} `json:"event"`
			}
			if err := json.Unmarshal([]byte(line), &doc); err != nil {
				t.Fatalf("%v: %s", err, line)
			}
			if doc.Source.IP != "172.31.16.139" || doc.Source.Port != 20641 || doc.Timestamp == "" {
				t.Errorf("document = %s", line)
			}
		}},
		{OutputSplunkHEC, func(t *testing.T, line string) {
			var ev struct {
				Time       int64  `json:"time"`
				Event      string `json:"event"`
				Sourcetype string `json:"sourcetype"`
				Index      string `json:"index"`
			}
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				t.Fatalf("%v: %s", err, line)
			}
			if ev.Time != 1418530070 || ev.Event != lineAccept || ev.Sourcetype != "aws:cloudwatchlogs:vpcflow" || ev.Index != "aws_vpc" {
				t.Errorf("event = %s", line)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.output, func(t *testing.T) {
			h, _ := newHandler(t, func(c *Config) { c.Output = tt.output; c.HEC.Index = "aws_vpc" })
			resp, err := h.Transform(context.Background(), []Input{{"r1", []byte(lineAccept + "\n" + lineAccept)}})
			if err != nil {
				t.Fatal(err)
			}
			data := string(resp.Records[0].Data)
			lines := strings.SplitAfter(data, "\n")
			if len(lines) != 3 || lines[2] != "" {
				t.Fatalf("want two newline-terminated lines, got %q", data)
			}
			for _, l := range lines[:2] {
				tt.check(t, strings.TrimSuffix(l, "\n"))
			}
		})
	}
}

func TestResponseLimit(t *testing.T) {
	in := []Input{
		{"a", []byte(lineAccept)},
		{"b", []byte(lineReject)},
		{"c", []byte(lineAccept)},
		{"d", nil}, // would be Dropped, but may follow the cut
		{"bad", []byte(lineBad + "\n" + lineAccept)},
	}
	h, _ := newHandler(t, func(c *Config) { c.Output = OutputOriginal })
	full, err := h.Transform(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	// failedFrom is full with records from i on failed, as a cut at i makes it.
	failedFrom := func(i int) Response {
		r := Response{Records: append([]ResponseRecord(nil), full.Records...)}
		for ; i < len(in); i++ {
			r.Records[i] = ResponseRecord{RecordID: in[i].RecordID, Result: ResultProcessingFailed}
		}
		return r
	}
	const ok, dropped, failed = ResultOk, ResultDropped, ResultProcessingFailed
	for _, tt := range []struct {
		name  string
		limit int64
		want  []string
	}{
		{"everything fits", marshalledLen(t, full), []string{ok, ok, ok, dropped, ok}},
		{"exactly two fit", marshalledLen(t, failedFrom(2)), []string{ok, ok, failed, failed, failed}},
		{"one byte short of two", marshalledLen(t, failedFrom(2)) - 1, []string{ok, failed, failed, failed, failed}},
		{"last does not fit", marshalledLen(t, full) - 1, []string{ok, ok, ok, dropped, failed}},
		{"nothing fits", 10, []string{failed, failed, failed, failed, failed}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h, dl := newHandler(t, func(c *Config) { c.Output = OutputOriginal; c.MaxResponseBytes = tt.limit })
			resp, err := h.Transform(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			if got := marshalledLen(t, resp); got > tt.limit && tt.limit > 10 {
				t.Errorf("response is %d bytes, over %d", got, tt.limit)
			}
			for i, want := range tt.want {
				if rr := resp.Records[i]; rr.RecordID != in[i].RecordID || rr.Result != want || (want != ok && rr.Data != nil) {
					t.Errorf("record %s = %s with %d bytes, want %s", rr.RecordID, rr.Result, len(rr.Data), want)
				}
			}
			// A record with a bad line is dead-lettered only if answered Ok;
			// otherwise Firehose keeps the whole record.
			wantDead := 0
			if tt.want[4] == ok {
				wantDead = 1
			}
			if got := len(dl.Failures()); got != wantDead {
				t.Errorf("dead letters = %d, want %d", got, wantDead)
			}
		})
	}
}

// marshalledLen is the response's size as the Lambda runtime sends it.
func marshalledLen(t *testing.T, r Response) int64 {
	t.Helper()
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(r); err != nil {
		t.Fatal(err)
	}
	return int64(buf.Len())
}

func TestLambdaSampleEvent(t *testing.T) {
	data, err := os.ReadFile("testdata/kinesis-firehose-event.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev events.KinesisFirehoseEvent
	if err := json.Unmarshal(data, &ev); err != nil {
		t.Fatal(err)
	}
	h, _ := newHandler(t, nil)
	resp, err := h.HandleEvent(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	// The sample's data is "Hello World", not a flow log.
	b, _ := json.Marshal(resp)
	want := `{"records":[{"recordId":"record1","result":"ProcessingFailed"},{"recordId":"record2","result":"ProcessingFailed"}]}`
	if string(b) != want {
		t.Fatalf("response %s\nwant     %s", b, want)
	}
}

func TestLambdaFlowLogEvent(t *testing.T) {
	ev := events.KinesisFirehoseEvent{InvocationID: "inv", Records: []events.KinesisFirehoseEventRecord{
		{RecordID: "1", Data: []byte(`{"message":"` + lineAccept + `"}`)},
		{RecordID: "2", Data: controlMessage},
	}}
	h, _ := newHandler(t, func(c *Config) { c.Output = OutputOriginal })
	resp, err := h.HandleEvent(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(resp)
	want := `{"records":[{"recordId":"1","result":"Ok","data":"` + b64(lineAccept+"\n") + `"},{"recordId":"2","result":"Dropped"}]}`
	if string(b) != want {
		t.Fatalf("response %s\nwant     %s", b, want)
	}
}

func b64(s string) string {
	b, _ := json.Marshal([]byte(s))
	return strings.Trim(string(b), `"`)
}

func TestDeadLetterFailure(t *testing.T) {
	h, dl := newHandler(t, nil)
	dl.SetErr(errors.New("disk full"))
	ev := events.KinesisFirehoseEvent{Records: []events.KinesisFirehoseEventRecord{{RecordID: "1", Data: []byte(lineAccept + "\n" + lineBad)}}}
	if _, err := h.HandleEvent(context.Background(), ev); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("err = %v, want the dead-letter failure", err)
	}
	body, _ := json.Marshal(ev)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/firehose/transform", bytes.NewReader(body)))
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("HTTP status = %d", w.Code)
	}
}

func TestHTTP(t *testing.T) {
	okBody := `{"invocationId":"i","records":[{"recordId":"r1","approximateArrivalTimestamp":1,"data":"` + b64(lineAccept) + `",` +
		`"kinesisRecordMetadata":{"approximateArrivalTimestamp":"2016-12-01T00:00:00Z","subsequenceNumber":""}}]}`
	tests := []struct {
		name     string
		method   string
		body     string
		encoding string
		limit    int64
		wantCode int
		wantBody string
	}{
		{"ok", http.MethodPost, okBody, "", 0, 200,
			`{"records":[{"recordId":"r1","result":"Ok","data":"` + b64(lineAccept+"\n") + `"}]}`},
		{"GET", http.MethodGet, "", "", 0, 405, "method not allowed"},
		{"malformed", http.MethodPost, `{"records":[`, "", 0, 400, "malformed event JSON"},
		{"bad base64", http.MethodPost, `{"records":[{"recordId":"r","data":"!"}]}`, "", 0, 400, "malformed event JSON"},
		{"too large", http.MethodPost, okBody, "", int64(len(okBody) - 1), 413, "over"},
		{"gzip", http.MethodPost, okBody, "gzip", 0, 415, "Content-Encoding"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, _ := newHandler(t, func(c *Config) {
				c.Output = OutputOriginal
				if tt.limit > 0 {
					c.MaxBodyBytes = tt.limit
				}
			})
			r := httptest.NewRequest(tt.method, "/firehose/transform", strings.NewReader(tt.body))
			if tt.encoding != "" {
				r.Header.Set("Content-Encoding", tt.encoding)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.wantCode || !strings.Contains(w.Body.String(), tt.wantBody) {
				t.Fatalf("got %d %s, want %d containing %q", w.Code, w.Body, tt.wantCode, tt.wantBody)
			}
			if tt.wantCode == 200 && w.Header().Get("Content-Type") != "application/json" {
				t.Errorf("Content-Type = %q", w.Header().Get("Content-Type"))
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	tests := []struct {
		name string
		mut  func(*Config)
		want string
	}{
		{"output", func(c *Config) { c.Output = "json" }, `output: must be ecs, original or splunk_hec, got "json"`},
		{"path", func(c *Config) { c.Path = "" }, `path: must start with /, got ""`},
		{"body", func(c *Config) { c.MaxBodyBytes = 0 }, "max_body_bytes: must be between 1 and 1073741824, got 0"},
		{"response", func(c *Config) { c.MaxResponseBytes = -1 }, "max_response_bytes: must be between 1 and 1073741824, got -1"},
		{"hec", func(c *Config) { c.HEC.Index = strings.Repeat("i", 2000) }, "hec.index: must be valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mut(&c)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
}

func BenchmarkTransform(b *testing.B) {
	for _, output := range []string{OutputECS, OutputOriginal, OutputSplunkHEC} {
		b.Run(output, func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.Output = output
			h, err := New(cfg, decode.Options{}, Deps{DeadLetter: &sinktest.DeadLetter{}})
			if err != nil {
				b.Fatal(err)
			}
			in := make([]Input, 500)
			for i := range in {
				in[i] = Input{RecordID: strings.Repeat("4959", 14), Data: []byte(`{"message":"` + lineAccept + `"}`)}
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := h.Transform(context.Background(), in); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*len(in))/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkServeHTTP is BenchmarkTransform (ECS output) through the HTTP
// handler: reading the event and writing the response too.
func BenchmarkServeHTTP(b *testing.B) {
	h, err := New(DefaultConfig(), decode.Options{}, Deps{DeadLetter: &sinktest.DeadLetter{}})
	if err != nil {
		b.Fatal(err)
	}
	ev := event{InvocationID: "inv", Records: make([]Input, 500)}
	for i := range ev.Records {
		ev.Records[i] = Input{RecordID: strings.Repeat("4959", 14), Data: []byte(`{"message":"` + lineAccept + `"}`)}
	}
	body, _ := json.Marshal(ev)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/firehose/transform", bytes.NewReader(body)))
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
	b.ReportMetric(float64(b.N*len(ev.Records))/b.Elapsed().Seconds(), "records/s")
}

// Invocations at once share the pools of output buffers and record
// arrays: each response still carries its own records' output, including
// the first records', whose output moved each time the buffer grew.
func TestPooledBuffersConcurrent(t *testing.T) {
	h, _ := newHandler(t, func(c *Config) { c.Output = OutputOriginal })
	const records = 2000 // about 230 KB of output: the buffer grows thrice
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for round := range 3 {
				ev := event{Records: make([]Input, records)}
				want := make([]string, records)
				for i := range ev.Records {
					// The source port tells invocations and records apart.
					line := strings.Replace(lineAccept, " 20641 ", " "+strconv.Itoa(g*10000+round*3000+i%3000)+" ", 1)
					ev.Records[i] = Input{RecordID: strconv.Itoa(i), Data: []byte(`{"message":"` + line + `"}`)}
					want[i] = line + "\n"
				}
				body, _ := json.Marshal(ev)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/firehose/transform", bytes.NewReader(body)))
				var resp Response
				if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil || w.Code != http.StatusOK || len(resp.Records) != records {
					t.Errorf("status %d, %d records, %v", w.Code, len(resp.Records), err)
					return
				}
				for i, rr := range resp.Records {
					if rr.Result != ResultOk || string(rr.Data) != want[i] {
						t.Errorf("invocation %d.%d record %d: %s %q, want %q", g, round, i, rr.Result, rr.Data, want[i])
						return
					}
				}
			}
		})
	}
	wg.Wait()
}
