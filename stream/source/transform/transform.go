// Package transform implements Amazon Data Firehose data transformation for
// flow logs: each input record is decoded, enriched and re-encoded (ECS
// JSON lines, the original lines, or Splunk HEC events), and answered Ok,
// Dropped or ProcessingFailed. The same logic serves an HTTP handler and an
// AWS Lambda handler.
package transform

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"

	"github.com/aws/aws-lambda-go/events"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/decode"
	"github.com/flowhose/flowhose/stream/ecs"
	"github.com/flowhose/flowhose/stream/hec"
	"github.com/flowhose/flowhose/stream/jsonenc"
	"github.com/flowhose/flowhose/stream/membudget"
	"github.com/flowhose/flowhose/stream/source"
	"github.com/flowhose/flowhose/stream/source/accesskey"
)

// Record results, as Firehose spells them.
const (
	ResultOk               = "Ok"
	ResultDropped          = "Dropped"
	ResultProcessingFailed = "ProcessingFailed"
)

// Response is the transformation response. It is marshalled with omitempty
// so that no null data or empty metadata reaches Firehose.
type Response struct {
	Records []ResponseRecord `json:"records"`
}

// ResponseRecord is the result for one input record.
type ResponseRecord struct {
	RecordID string `json:"recordId"`
	Result   string `json:"result"`
	Data     []byte `json:"data,omitempty"`
}

// Input is one record to transform.
type Input struct {
	RecordID string `json:"recordId"`
	Data     []byte `json:"data"`
}

// event is the part of the invocation event the HTTP handler reads; other
// keys are ignored, so variants such as ISO timestamps in
// kinesisRecordMetadata do not break decoding.
type event struct {
	InvocationID      string  `json:"invocationId"`
	DeliveryStreamArn string  `json:"deliveryStreamArn"`
	Records           []Input `json:"records"`
}

// Deps are what a Handler shares with the rest of the process.
type Deps struct {
	// Enrichers run on every invocation's records.
	Enrichers []stream.Enricher
	// DeadLetter receives the bad lines of records answered Ok (required).
	DeadLetter stream.DeadLetterWriter
	// Budget bounds the bytes HTTP requests hold; nil leaves them
	// unbounded (inside Lambda the function's memory size is the bound).
	Budget *membudget.Budget
	// Keys are the access keys the HTTP handler requires (the Firehose
	// endpoint's); nil or empty accepts every request.
	Keys *accesskey.Keys
	// Registerer receives the metrics; nil leaves them unregistered.
	Registerer prometheus.Registerer
	// Log may be nil for slog.Default().
	Log *slog.Logger
}

// Handler transforms Firehose records.
type Handler struct {
	cfg       Config
	decOpts   decode.Options
	enrichers []stream.Enricher
	dead      stream.DeadLetterWriter
	budget    *membudget.Budget
	keys      *accesskey.Keys
	log       *slog.Logger
	encode    func(dst []byte, r *stream.Record) []byte
	m         metrics
	// records holds record arrays between invocations: an invocation
	// uses its array only until its response is encoded.
	records sync.Pool // of *[]stream.Record
}

type metrics struct {
	results  *prometheus.CounterVec
	records  prometheus.Counter
	failures prometheus.Counter
}

// New returns a Handler. decOpts configures the per-invocation decoder (its
// Source is set to "transform").
func New(cfg Config, decOpts decode.Options, deps Deps) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("transform config: %w", err)
	}
	if deps.DeadLetter == nil {
		return nil, errors.New("transform: a dead-letter writer is required")
	}
	decOpts.Source = "transform"
	if _, err := decode.New(decOpts); err != nil {
		return nil, fmt.Errorf("transform decoder options: %w", err)
	}
	log := deps.Log
	if log == nil {
		log = slog.Default()
	}
	h := &Handler{cfg: cfg, decOpts: decOpts, enrichers: deps.Enrichers, dead: deps.DeadLetter,
		budget: deps.Budget, keys: deps.Keys, log: log}
	switch cfg.Output {
	case OutputECS:
		enc := &ecs.Encoder{Dataset: cfg.ECS.Dataset, Namespace: cfg.ECS.Namespace, Original: cfg.ECS.Original}
		h.encode = enc.Append
	case OutputSplunkHEC:
		enc, err := hec.NewEncoder(cfg.HEC)
		if err != nil {
			return nil, fmt.Errorf("transform: %w", err)
		}
		h.encode = enc.Append
	case OutputOriginal:
		h.encode = func(dst []byte, r *stream.Record) []byte { return append(dst, r.Raw...) }
	}
	f := promauto.With(deps.Registerer)
	h.m = metrics{
		results: f.NewCounterVec(prometheus.CounterOpts{
			Name: "flowhose_transform_results_total",
			Help: "Firehose records answered, by result (Ok, Dropped, ProcessingFailed).",
		}, []string{"result"}),
		records: f.NewCounter(prometheus.CounterOpts{
			Name: "flowhose_transform_flow_records_total",
			Help: "Flow-log records decoded from transformation input.",
		}),
		failures: f.NewCounter(prometheus.CounterOpts{
			Name: "flowhose_transform_decode_failures_total",
			Help: "Inputs that failed to decode.",
		}),
	}
	return h, nil
}

// HandleEvent is the AWS Lambda handler. An error fails the invocation, so
// Firehose retries the whole batch.
func (h *Handler) HandleEvent(ctx context.Context, ev events.KinesisFirehoseEvent) (Response, error) {
	in := make([]Input, len(ev.Records))
	for i, r := range ev.Records {
		in[i] = Input{RecordID: r.RecordID, Data: r.Data}
	}
	resp, err := h.Transform(ctx, in)
	if err != nil {
		h.log.Error("firehose transformation failed", "invocation_id", ev.InvocationID,
			"delivery_stream", ev.DeliveryStreamArn, "err", err)
	}
	return resp, err
}

// ServeHTTP implements http.Handler for POST requests carrying the same
// event JSON as a Lambda invocation.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed: use POST", http.StatusMethodNotAllowed)
		return
	}
	if !h.keys.Allow(r) {
		http.Error(w, "invalid access key", http.StatusUnauthorized)
		return
	}
	if enc := r.Header.Get("Content-Encoding"); enc != "" && enc != "identity" {
		http.Error(w, "unsupported Content-Encoding: send the body uncompressed", http.StatusUnsupportedMediaType)
		return
	}
	var lease *membudget.Lease
	if h.budget != nil {
		lease = h.budget.Lease("transform")
	}
	defer lease.Release()
	hint := int64(0)
	if r.ContentLength > 0 {
		hint = min(r.ContentLength, h.cfg.MaxBodyBytes)
	}
	in, err := membudget.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes), hint, h.cfg.MaxBodyBytes, lease.Grow)
	var ev event
	var data []byte
	if err == nil {
		ev, data, err = parseEvent(in, lease.Grow)
		membudget.PutBuffer(in)
	}
	// The records' data points into data until the invocation is answered.
	defer membudget.PutBuffer(data)
	if err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig), errors.Is(err, membudget.ErrOverLimit), errors.Is(err, membudget.ErrTooLarge):
			http.Error(w, fmt.Sprintf("request body over %d bytes or over the memory budget: %v", h.cfg.MaxBodyBytes, err), http.StatusRequestEntityTooLarge)
		case errors.Is(err, membudget.ErrExhausted):
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		default:
			http.Error(w, "malformed event JSON: "+err.Error(), http.StatusBadRequest)
		}
		return
	}
	resp, size, output, err := h.transform(r.Context(), ev.Records, lease)
	// The response's data points into output until the body is written.
	defer membudget.PutBuffer(output)
	var body []byte
	if err == nil {
		// The response holds the output once more, in base64.
		body, err = membudget.GetBuffer(int(size), lease.Grow)
	}
	if err != nil {
		h.log.Error("firehose transformation failed", "invocation_id", ev.InvocationID,
			"delivery_stream", ev.DeliveryStreamArn, "err", err)
		code := http.StatusServiceUnavailable
		if errors.Is(err, membudget.ErrTooLarge) {
			// Retrying cannot make it fit.
			code = http.StatusRequestEntityTooLarge
		}
		http.Error(w, err.Error(), code)
		return
	}
	body = resp.AppendJSON(body)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write(body)
	membudget.PutBuffer(body)
}

// span locates what one input record decoded to in the shared Output,
// and its output in the encoder's buffer.
type span struct {
	recs, fails, data [2]int
	idLen             int  // recordId's length as a JSON string
	cut               bool // decoding stopped at a limit inside or before it
}

// Transform answers every input record exactly once, in input order. Bad
// lines of records answered Ok are dead-lettered before it returns; an
// error means that failed and nothing should be acknowledged.
func (h *Handler) Transform(ctx context.Context, in []Input) (Response, error) {
	// The response's data stays in the output buffer, which is left to
	// the garbage collector.
	resp, _, _, err := h.transform(ctx, in, nil)
	return resp, err
}

// transform is Transform with the request's lease, which every byte it
// keeps is reserved from; it also returns the response's size and the
// pooled buffer its data points into (hand it back with
// membudget.PutBuffer once the response is written). Input past
// max_records, or past what the lease may hold, is answered
// ProcessingFailed like input past max_response_bytes: Firehose keeps it
// in its processing-failed prefix. Only a budget exhausted by other
// requests fails the whole call, which the client retries.
func (h *Handler) transform(ctx context.Context, in []Input, lease *membudget.Lease) (Response, int64, []byte, error) {
	dec, err := decode.New(h.decOpts)
	if err != nil {
		return Response{}, 0, nil, fmt.Errorf("decoder: %w", err)
	}
	defer dec.Release()
	out := decode.Output{MaxRecords: h.cfg.MaxRecords}
	// Payloads are copied into a few blocks, not a string each.
	var blocks decode.Blocks
	if lease != nil {
		out.Reserve = lease.Grow
		blocks.Reserve = lease.Grow
	}
	out.Keep = blocks.Keep
	if out.Records, err = h.getRecords(len(in), lease); err != nil {
		return Response{}, 0, nil, err
	}
	// Records are done with once the response is encoded.
	defer func() { h.putRecords(out.Records) }()
	spans := make([]span, len(in))
	for i := range in {
		sp := &spans[i]
		sp.idLen = quotedLen(in[i].RecordID)
		sp.recs[0], sp.fails[0] = len(out.Records), len(out.Failures)
		dec.Payload(in[i].Data, &out)
		if out.Err != nil {
			if errors.Is(out.Err, membudget.ErrExhausted) {
				return Response{}, 0, nil, fmt.Errorf("record %d: %w", i, out.Err)
			}
			// This record and every later one are answered
			// ProcessingFailed, with nothing decoded.
			out.Records, out.Failures = out.Records[:sp.recs[0]], out.Failures[:sp.fails[0]]
			for j := i; j < len(in); j++ {
				spans[j] = span{idLen: quotedLen(in[j].RecordID), cut: true, recs: [2]int{sp.recs[0], sp.recs[0]}, fails: [2]int{sp.fails[0], sp.fails[0]}}
			}
			h.log.Warn("transformation input over a limit: the rest is answered ProcessingFailed",
				"first_record_id", in[i].RecordID, "records", len(in)-i, "err", out.Err)
			break
		}
		sp.recs[1], sp.fails[1] = len(out.Records), len(out.Failures)
		for j := sp.fails[0]; j < sp.fails[1]; j++ {
			out.Failures[j].Ref = "recordId " + in[i].RecordID
		}
	}
	h.m.records.Add(float64(len(out.Records)))
	h.m.failures.Add(float64(len(out.Failures)))
	for _, e := range h.enrichers {
		e.Enrich(ctx, out.Records)
	}

	// The size starts as if every record failed, which is the most the
	// tail can cost once the limit is hit; each Ok then adds its data.
	size := int64(len(`{"records":[]}`) + 1)
	for i := range in {
		if i > 0 {
			size++
		}
		size += entrySize(spans[i].idLen, ResultProcessingFailed, 0)
	}
	resp := Response{Records: make([]ResponseRecord, len(in))}
	enc := encoder{h: h, lease: lease}
	// On an error the buffer is handed back here; else by the caller.
	fail := func(err error) (Response, int64, []byte, error) {
		membudget.PutBuffer(enc.buf)
		return Response{}, 0, nil, err
	}
	var dead []stream.Failure
	full := false
	for i := range in {
		rr := &resp.Records[i]
		rr.RecordID, rr.Result = in[i].RecordID, ResultProcessingFailed
		sp := spans[i]
		switch {
		case full || sp.cut:
		case sp.recs[1] > sp.recs[0]:
			failed := entrySize(sp.idLen, ResultProcessingFailed, 0)
			data, fits, err := enc.record(out.Records[sp.recs[0]:sp.recs[1]], func(n int) bool {
				return size-failed+entrySize(sp.idLen, ResultOk, n) <= h.cfg.MaxResponseBytes
			})
			if err != nil {
				return fail(err)
			}
			if !fits {
				full = true
				break
			}
			spans[i].data = data
			size += entrySize(sp.idLen, ResultOk, data[1]-data[0]) - failed
			rr.Result = ResultOk
			dead = append(dead, out.Failures[sp.fails[0]:sp.fails[1]]...)
		case sp.fails[1] == sp.fails[0]:
			size += entrySize(sp.idLen, ResultDropped, 0) - entrySize(sp.idLen, ResultProcessingFailed, 0)
			rr.Result = ResultDropped
		}
		h.m.results.WithLabelValues(rr.Result).Inc()
	}
	if len(dead) > 0 {
		if err := h.dead.WriteFailures(ctx, dead); err != nil {
			return fail(fmt.Errorf("dead-letter %d bad lines: %w", len(dead), err))
		}
	}
	// Only now that the buffer has stopped moving.
	for i := range resp.Records {
		if d := spans[i].data; resp.Records[i].Result == ResultOk {
			resp.Records[i].Data = enc.buf[d[0]:d[1]:d[1]]
		}
	}
	return resp, size, enc.buf, nil
}

// maxPooledRecords bounds the record arrays kept between invocations (a
// record is about 1 KiB): larger ones are left to the garbage collector.
const maxPooledRecords = 8192

// getRecords returns an empty record array for an invocation of n input
// records, reserved from lease: a pooled one, else one of a record per
// input record (the usual {"message"} record is one line), which decoding
// grows if need be.
func (h *Handler) getRecords(n int, lease *membudget.Lease) ([]stream.Record, error) {
	rp, _ := h.records.Get().(*[]stream.Record)
	if rp == nil {
		n = min(n, h.cfg.MaxRecords, maxPooledRecords)
		if err := lease.Grow(int64(n) * decode.RecordBytes); err != nil {
			return nil, fmt.Errorf("record array: %w", err)
		}
		return make([]stream.Record, 0, n), nil
	}
	if err := lease.Grow(int64(cap(*rp)) * decode.RecordBytes); err != nil {
		h.records.Put(rp)
		return nil, fmt.Errorf("record array: %w", err)
	}
	return *rp, nil
}

// putRecords hands a record array back for another invocation with its
// tail past len cleared, as the Firehose endpoint does (see its
// putRecords).
func (h *Handler) putRecords(records []stream.Record) {
	if cap(records) == 0 || cap(records) > maxPooledRecords {
		return
	}
	clear(records[len(records):cap(records)])
	records = records[:0]
	h.records.Put(&records)
}

// encoder appends records' output to one pooled buffer, reserving its
// growth.
type encoder struct {
	h        *Handler
	lease    *membudget.Lease
	buf      []byte
	reserved int // capacity already reserved
	longest  int // the longest document so far
}

// minRoom is the room made for a document before any was encoded: an
// ECS document of a flow-log line is about 1.1 KB.
const minRoom = 2 << 10

// record encodes recs as one input record's data, a line each, and returns
// where that data is in the buffer. fits is asked with the data's length
// after every line, so the response limit is checked as the output grows
// rather than once a record's whole output exists; when it says no,
// nothing of the record is kept. A limit of the lease (ErrTooLarge) is
// answered the same way; ErrExhausted is an error.
func (e *encoder) record(recs []stream.Record, fits func(n int) bool) (data [2]int, ok bool, err error) {
	start := len(e.buf)
	for j := range recs {
		if err := e.room(max(minRoom, 2*e.longest)); err != nil {
			if errors.Is(err, membudget.ErrExhausted) {
				return data, false, fmt.Errorf("encoding output: %w", err)
			}
			e.buf = e.buf[:start]
			return data, false, nil
		}
		doc := len(e.buf)
		e.buf = e.h.encode(e.buf, &recs[j])
		e.buf = append(e.buf, '\n')
		e.longest = max(e.longest, len(e.buf)-doc)
		// A document longer than the room made grew the buffer itself.
		if grown := cap(e.buf) - e.reserved; grown > 0 {
			if err := e.lease.Grow(int64(grown)); err != nil {
				if errors.Is(err, membudget.ErrExhausted) {
					return data, false, fmt.Errorf("encoding output: %w", err)
				}
				e.buf = e.buf[:start]
				return data, false, nil
			}
			e.reserved = cap(e.buf)
		}
		if !fits(len(e.buf) - start) {
			e.buf = e.buf[:start]
			return data, false, nil
		}
	}
	return [2]int{start, len(e.buf)}, true, nil
}

// room makes sure the buffer has n bytes free, moving it to a pooled
// buffer of at least twice its size, reserved first, when it has not. The
// old one goes back to the pool at once: responses take their data from
// the buffer only once every record is encoded.
func (e *encoder) room(n int) error {
	if cap(e.buf)-len(e.buf) >= n {
		return nil
	}
	bigger, err := membudget.GetBuffer(max(2*cap(e.buf), len(e.buf)+n), e.lease.Grow)
	if err != nil {
		return err
	}
	bigger = append(bigger, e.buf...)
	membudget.PutBuffer(e.buf)
	e.buf, e.reserved = bigger, cap(bigger)
	return nil
}

// AppendJSON appends the response as JSON, in the shape encoding/json
// gives it, without reflection and without a copy of each record's data:
// the base64 is written straight into dst. The HTTP handler sends this;
// the Lambda runtime marshals with encoding/json.
func (r Response) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"records":[`...)
	for i, rr := range r.Records {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"recordId":`...)
		dst = jsonenc.AppendString(dst, rr.RecordID)
		dst = append(dst, `,"result":`...)
		dst = jsonenc.AppendString(dst, rr.Result)
		if len(rr.Data) > 0 {
			dst = append(dst, `,"data":"`...)
			dst = base64.StdEncoding.AppendEncode(dst, rr.Data)
			dst = append(dst, '"')
		}
		dst = append(dst, '}')
	}
	return append(dst, "]}"...)
}

// quotedLen is the length of id as a JSON string as the longer of the two
// encoders that may write the response writes it: encoding/json (Lambda)
// and jsonenc (HTTP) escape a few characters differently.
func quotedLen(id string) int {
	plain := true
	for i := 0; i < len(id) && plain; i++ {
		c := id[i]
		// The characters both write verbatim (encoding/json escapes
		// <, > and & for HTML).
		plain = c >= 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	if plain {
		return len(id) + 2
	}
	q, _ := json.Marshal(id)
	return max(len(q), len(jsonenc.AppendString(nil, id)))
}

// entrySize is the size of one record's JSON in the response.
func entrySize(idLen int, result string, dataLen int) int64 {
	n := len(`{"recordId":,"result":""}`) + idLen + len(result)
	if dataLen > 0 {
		n += len(`,"data":""`) + base64.StdEncoding.EncodedLen(dataLen)
	}
	return int64(n)
}

// Open builds the HTTP handler as a source of `flowhose serve`, mounted at
// cfg.Path and guarded by the Firehose endpoint's access keys (both are
// called by Firehose, or by whoever holds its key). Its response is the
// delivery: it answers from its own encoder, not the pipeline's sinks.
func Open(_ context.Context, cfg Config, deps source.Deps) (source.Source, error) {
	h, err := New(cfg, deps.Decode, Deps{
		Enrichers: deps.Enrichers, DeadLetter: deps.DeadLetter, Budget: deps.Budget,
		Keys: deps.Keys, Registerer: deps.Registerer, Log: deps.Logger,
	})
	if err != nil {
		return source.Source{}, err
	}
	return source.Source{Path: cfg.Path, Handler: h}, nil
}
