// Package firehose implements the Amazon Data Firehose HTTP-endpoint
// destination: an http.Handler that decodes each request's records, hands
// them to the pipeline and answers 200 only once every sink has
// acknowledged them, so Firehose retries anything not yet durable.
package firehose

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/decode"
	"github.com/flowhose/flowhose/stream/internal/b64dec"
	"github.com/flowhose/flowhose/stream/membudget"
	"github.com/flowhose/flowhose/stream/source"
	"github.com/flowhose/flowhose/stream/source/accesskey"
)

// Request headers set by Firehose.
const (
	headerRequestID = "X-Amz-Firehose-Request-Id"
	headerSourceARN = "X-Amz-Firehose-Source-Arn"
)

// maxErrorMessage is Firehose's limit on the response's errorMessage.
const maxErrorMessage = 8192

// errDecompressedTooLarge is returned by the body reader past
// MaxDecompressedBytes.
var errDecompressedTooLarge = errors.New("decompressed body too large")

// errAckTimeout ends a request's context when ack_timeout passes.
var errAckTimeout = errors.New("ack_timeout passed")

// Deps are what a Handler shares with the rest of the process.
type Deps struct {
	// Pipeline receives the decoded batches (required).
	Pipeline *stream.Pipeline
	// Budget bounds the bytes all requests hold; nil leaves them unbounded.
	Budget *membudget.Budget
	// Registerer receives the metrics; nil leaves them unregistered.
	Registerer prometheus.Registerer
	// Log may be nil for slog.Default().
	Log *slog.Logger
}

// Handler serves Firehose HTTP-endpoint delivery requests.
type Handler struct {
	cfg      Config
	decOpts  decode.Options
	pipeline *stream.Pipeline
	budget   *membudget.Budget
	log      *slog.Logger
	keys     *accesskey.Keys
	m        metrics
	// records holds chunks' record arrays once their batches are settled
	// (sinks must not use a batch after settling it).
	records sync.Pool // of *[]stream.Record
}

type metrics struct {
	requests *prometheus.CounterVec
	records  prometheus.Counter
	bytes    prometheus.Counter
	failures prometheus.Counter
}

// New returns a Handler delivering into deps.Pipeline. decOpts configures
// the per-request decoder (its Source is set to "firehose").
func New(cfg Config, decOpts decode.Options, deps Deps) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("firehose config: %w", err)
	}
	if deps.Pipeline == nil {
		return nil, errors.New("firehose: a pipeline is required")
	}
	decOpts.Source = "firehose"
	if _, err := decode.New(decOpts); err != nil {
		return nil, fmt.Errorf("firehose decoder options: %w", err)
	}
	log := deps.Log
	if log == nil {
		log = slog.Default()
	}
	h := &Handler{cfg: cfg, decOpts: decOpts, pipeline: deps.Pipeline, budget: deps.Budget, log: log, keys: accesskey.New(cfg.AccessKeys)}
	f := promauto.With(deps.Registerer)
	h.m = metrics{
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "flowhose_firehose_requests_total",
			Help: "Firehose delivery requests by HTTP status code returned.",
		}, []string{"code"}),
		records: f.NewCounter(prometheus.CounterOpts{
			Name: "flowhose_firehose_records_total",
			Help: "Flow-log records decoded from Firehose requests.",
		}),
		bytes: f.NewCounter(prometheus.CounterOpts{
			Name: "flowhose_firehose_bytes_total",
			Help: "Request body bytes read after decompression.",
		}),
		failures: f.NewCounter(prometheus.CounterOpts{
			Name: "flowhose_firehose_decode_failures_total",
			Help: "Inputs in Firehose requests that failed to decode (dead-lettered).",
		}),
	}
	return h, nil
}

// Keys returns the access keys the handler accepts, for other endpoints
// that must accept the same ones.
func (h *Handler) Keys() *accesskey.Keys { return h.keys }

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The ack clock starts with the request, not once its body is read:
	// the server's write deadline counts from the request's headers, and a
	// slow upload must not leave a 200 computed for a closed connection.
	ctx, cancel := context.WithTimeoutCause(r.Context(), h.cfg.AckTimeout, errAckTimeout)
	defer cancel()
	requestID := r.Header.Get(headerRequestID)
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.respond(w, r, http.StatusMethodNotAllowed, requestID, "method not allowed: use POST", nil)
		return
	}
	if !h.keys.Allow(r) {
		h.respond(w, r, http.StatusUnauthorized, requestID, "invalid access key", nil)
		return
	}
	var lease *membudget.Lease
	if h.budget != nil {
		lease = h.budget.Lease("firehose")
	}
	// Whatever was not handed to a queued batch is given back here.
	defer lease.Release()
	// The body and the scratch buffers are reserved apart from the
	// records, and given back as soon as the records are decoded.
	var scratch int64
	body, err := h.readBody(w, r, budgetGrow(lease, &scratch))
	if err != nil {
		lease.Split(scratch).Release()
		h.respond(w, r, failureStatus(err), requestID, err.Error(), err)
		return
	}
	h.m.bytes.Add(float64(len(body)))
	dec, err := decode.New(h.decOpts)
	if err != nil {
		// Options were validated in New.
		h.respond(w, r, http.StatusInternalServerError, requestID, "decoder unavailable", err)
		return
	}
	c := h.newCollector(lease, &scratch)
	bodyID, err := c.parse(body, dec)
	dec.Release()
	membudget.PutBuffer(body)
	c.putScratch()
	lease.Split(scratch).Release()
	if err != nil {
		for _, ch := range c.chunks {
			h.putChunk(ch)
		}
		h.putRecords(c.out.Records)
		h.respond(w, r, failureStatus(err), requestID, err.Error(), err)
		return
	}
	requestID = bodyID
	c.cut()
	// A pooled array that no record went into.
	h.putRecords(c.out.Records)
	failures := c.out.Failures
	for i := range failures {
		failures[i].Ref = "request " + requestID + " " + failures[i].Ref
	}
	h.m.records.Add(float64(c.records))
	h.m.failures.Add(float64(len(failures)))

	if err := h.deliver(ctx, c.chunks, failures); err != nil {
		h.respond(w, r, http.StatusServiceUnavailable, requestID, err.Error(), err)
		return
	}
	h.respond(w, r, http.StatusOK, requestID, "", nil)
}

// failureStatus maps a body that could not be read or decoded to its
// status: 413 for what can never fit (Firehose backs it up to S3 at once),
// 503 for what may fit once other requests are done (Firehose retries), 400
// for the rest.
func failureStatus(err error) int {
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig), errors.Is(err, errDecompressedTooLarge),
		errors.Is(err, decode.ErrTooManyRecords), errors.Is(err, membudget.ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, membudget.ErrExhausted):
		return http.StatusServiceUnavailable
	case errors.Is(err, errUnsupportedEncoding):
		return http.StatusUnsupportedMediaType
	}
	return http.StatusBadRequest
}

// chunk is a run of a request's records in an array of its own, with the
// share of the request's lease that it keeps alive, so that a batch still
// queued after its request gave up pins only its own memory.
type chunk struct {
	records []stream.Record
	lease   *membudget.Lease
}

// collector decodes a request's records into chunks of at least batchSize
// records (a chunk ends between Firehose records, so it also keeps the
// payload copies its records point into).
type collector struct {
	h          *Handler
	out        decode.Output
	batchSize  int
	maxRecords int
	lease      *membudget.Lease
	pending    int64 // reserved for the chunk being decoded
	scratch    func(int64) error
	chunks     []chunk
	records    int // in chunks

	// blocks are where payloads are copied for the chunk being decoded.
	blocks decode.Blocks
	// data is the scratch buffer one record's data is decoded into.
	data []byte
	// spans are where the fast path found each record's data.
	spans *[]span
}

func (h *Handler) newCollector(lease *membudget.Lease, scratch *int64) *collector {
	c := &collector{h: h, batchSize: h.cfg.BatchSize, maxRecords: h.cfg.MaxRecords, lease: lease,
		scratch: budgetGrow(lease, scratch)}
	// What decoding reserves belongs to the chunk being decoded.
	c.out.Reserve = budgetGrow(lease, &c.pending)
	c.blocks.Reserve = c.out.Reserve
	c.out.Keep = c.blocks.Keep
	return c
}

// cut closes the current chunk, if it holds records.
func (c *collector) cut() {
	if len(c.out.Records) == 0 {
		return
	}
	c.records += len(c.out.Records)
	c.chunks = append(c.chunks, chunk{records: c.out.Records, lease: c.lease.Split(c.pending)})
	c.out.Records = nil
	c.pending = 0
	// The block's rest is reserved by the chunk just cut, which may be
	// settled first: the next chunk starts a block of its own.
	c.blocks.Cut()
}

// startChunk gives a new chunk a pooled record array, if there is one.
func (c *collector) startChunk() error {
	if c.out.Records != nil {
		return nil
	}
	rp, _ := c.h.records.Get().(*[]stream.Record)
	if rp == nil {
		return nil
	}
	if err := c.out.Reserve(int64(cap(*rp)) * decode.RecordBytes); err != nil {
		c.h.records.Put(rp)
		return err
	}
	c.out.Records = *rp
	return nil
}

// putRecords hands a record array back for another chunk. Only the tail
// past len is cleared (records the decoder filled and then dropped): the
// decoder zeroes each record before it fills it, so the used part is
// overwritten anyway, and until then it keeps only this chunk's payloads
// alive, for as long as the pool keeps the array (one garbage collection
// or two). Clearing whole arrays was 3.5% of serve's CPU. Arrays much
// larger than a batch (one huge payload) are left to the collector.
func (h *Handler) putRecords(records []stream.Record) {
	if cap(records) == 0 || cap(records) > 4*h.cfg.BatchSize {
		return
	}
	clear(records[len(records):cap(records)])
	records = records[:0]
	h.records.Put(&records)
}

// putChunk gives back what a chunk holds, once none of its batches can be
// used any more.
func (h *Handler) putChunk(c chunk) {
	h.putRecords(c.records)
	c.lease.Release()
}

// putScratch hands the scratch buffers back.
func (c *collector) putScratch() {
	if c.data != nil {
		membudget.PutBuffer(c.data)
		c.data = nil
	}
	if c.spans != nil {
		*c.spans = (*c.spans)[:0]
		spanPool.Put(c.spans)
		c.spans = nil
	}
}

// spanPool holds the fast path's span slices.
var spanPool sync.Pool // of *[]span

// spanBytes is what one span costs.
const spanBytes = int64(unsafe.Sizeof(span{}))

// parse decodes a whole request body into c and returns its requestId:
// the fast path when the body has Firehose's own shape, encoding/json
// otherwise.
func (c *collector) parse(body []byte, dec *decode.Decoder) (string, error) {
	sp, _ := spanPool.Get().(*[]span)
	if sp == nil {
		sp = new([]span)
	}
	c.spans = sp
	if err := c.scratch(int64(cap(*sp)) * spanBytes); err != nil {
		return "", err
	}
	id, spans, ok, err := scan(body, (*sp)[:0], c.scratch)
	*sp = spans
	if err != nil {
		return "", err
	}
	if !ok {
		return parseJSON(bytes.NewReader(body), dec, c)
	}
	for i, s := range spans {
		src := body[s.Start:s.End]
		n := base64.StdEncoding.DecodedLen(len(src))
		if cap(c.data) < n {
			buf, err := membudget.GetBuffer(n, c.scratch)
			if err != nil {
				return "", fmt.Errorf("records[%d]: %w", i, err)
			}
			if c.data != nil {
				membudget.PutBuffer(c.data)
			}
			c.data = buf
		}
		n, err := b64dec.Decode(c.data[:n], src)
		if err != nil {
			return "", fmt.Errorf("records[%d]: %w", i, err)
		}
		if err := c.payload(i, c.data[:n], dec); err != nil {
			return "", err
		}
	}
	return id, nil
}

// payload decodes records[i]'s data.
func (c *collector) payload(i int, data []byte, dec *decode.Decoder) error {
	out := &c.out
	if err := c.startChunk(); err != nil {
		return fmt.Errorf("records[%d]: %w", i, err)
	}
	failed := len(out.Failures)
	// The limit counts records already cut into chunks too.
	out.MaxRecords = c.maxRecords - c.records
	dec.Payload(data, out)
	if out.Err != nil {
		if errors.Is(out.Err, decode.ErrTooManyRecords) {
			return fmt.Errorf("records[%d]: %w: over max_records %d", i, decode.ErrTooManyRecords, c.maxRecords)
		}
		return fmt.Errorf("records[%d]: %w", i, out.Err)
	}
	for j := failed; j < len(out.Failures); j++ {
		out.Failures[j].Ref = "records[" + strconv.Itoa(i) + "]"
	}
	if len(out.Records) >= c.batchSize {
		c.cut()
	}
	return nil
}

// deliver submits the chunks' records in batches and waits until every sink
// has settled them. Each chunk's batches share an Ack that frees the
// chunk's lease when they are settled; the request waits on an Ack over
// all chunks.
func (h *Handler) deliver(ctx context.Context, chunks []chunk, failures []stream.Failure) error {
	if len(chunks) == 0 && len(failures) == 0 {
		return nil
	}
	if len(chunks) == 0 {
		chunks = []chunk{{}}
	}
	// The clock is read, not only the context: its timer may not have
	// fired yet on a busy machine.
	if deadline, ok := ctx.Deadline(); context.Cause(ctx) == errAckTimeout || ok && !time.Now().Before(deadline) {
		// Reading the body took the whole ack_timeout: whatever is
		// delivered now could not be answered in time.
		for _, c := range chunks {
			h.putChunk(c)
		}
		return fmt.Errorf("ack_timeout %s passed while reading the request", h.cfg.AckTimeout)
	}
	all := stream.NewAck()
	for i, c := range chunks {
		all.Add(1)
		ack := stream.NewAckThen(func(err error) {
			h.putChunk(c)
			all.Done(err)
		})
		err := h.submit(ctx, c.records, failures, ack)
		failures = nil
		ack.Done(nil)
		if err != nil {
			for _, rest := range chunks[i+1:] {
				h.putChunk(rest)
			}
			all.Done(nil)
			return err
		}
	}
	all.Done(nil)
	if err := all.Wait(ctx); err != nil {
		if errors.Is(context.Cause(ctx), errAckTimeout) {
			return fmt.Errorf("not acknowledged within ack_timeout %s of the request's start", h.cfg.AckTimeout)
		}
		return fmt.Errorf("delivery: %w", err)
	}
	return nil
}

// submit hands records to the pipeline in batches of batch_size sharing
// ack; failures ride with the first batch (they need dead-lettering before
// the request is acknowledged, exactly once).
func (h *Handler) submit(ctx context.Context, records []stream.Record, failures []stream.Failure, ack *stream.Ack) error {
	for start := 0; start == 0 || start < len(records); start += h.cfg.BatchSize {
		end := min(start+h.cfg.BatchSize, len(records))
		b := &stream.Batch{Records: records[start:end:end], Failures: failures, Ack: ack, Ctx: ctx}
		failures = nil
		if err := h.pipeline.Submit(ctx, b); err != nil {
			if errors.Is(context.Cause(ctx), errAckTimeout) {
				return fmt.Errorf("submit: queue stayed full until ack_timeout %s: %w", h.cfg.AckTimeout, err)
			}
			return fmt.Errorf("submit: %w", err)
		}
	}
	return nil
}

// parseJSON is the general path of collector.parse, for bodies of any
// other shape than Firehose's own: encoding/json's streaming decoder,
// decoding each record as it is read. It returns the body's requestId.
func parseJSON(body io.Reader, dec *decode.Decoder, c *collector) (string, error) {
	jd := json.NewDecoder(body)
	if err := expectDelim(jd, '{'); err != nil {
		return "", err
	}
	var requestID string
	var sawID, sawRecords bool
	for jd.More() {
		tok, err := jd.Token()
		if err != nil {
			return "", fmt.Errorf("malformed JSON: %w", err)
		}
		key, _ := tok.(string)
		switch key {
		case "requestId":
			if err := jd.Decode(&requestID); err != nil {
				return "", fmt.Errorf("requestId: %w", err)
			}
			sawID = true
		case "records":
			if err := parseRecords(jd, dec, c); err != nil {
				return "", err
			}
			sawRecords = true
		default:
			var skip json.RawMessage
			if err := jd.Decode(&skip); err != nil {
				return "", fmt.Errorf("malformed JSON: %w", err)
			}
		}
	}
	if err := expectDelim(jd, '}'); err != nil {
		return "", err
	}
	if _, err := jd.Token(); !errors.Is(err, io.EOF) {
		if err == nil {
			err = errors.New("data after the JSON object")
		}
		return "", fmt.Errorf("malformed JSON: %w", err)
	}
	if !sawID || requestID == "" {
		return "", errors.New("missing requestId")
	}
	if !sawRecords {
		return requestID, errors.New("missing records")
	}
	return requestID, nil
}

func parseRecords(jd *json.Decoder, dec *decode.Decoder, c *collector) error {
	if err := expectDelim(jd, '['); err != nil {
		return fmt.Errorf("records: %w", err)
	}
	for i := 0; jd.More(); i++ {
		var rec struct {
			Data []byte `json:"data"`
		}
		if err := jd.Decode(&rec); err != nil {
			return fmt.Errorf("records[%d]: %w", i, err)
		}
		if err := c.payload(i, rec.Data, dec); err != nil {
			return err
		}
	}
	if err := expectDelim(jd, ']'); err != nil {
		return fmt.Errorf("records: %w", err)
	}
	return nil
}

func expectDelim(jd *json.Decoder, want json.Delim) error {
	tok, err := jd.Token()
	if err != nil {
		return fmt.Errorf("malformed JSON: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("malformed JSON: want %q, got %v", want, tok)
	}
	return nil
}

type response struct {
	RequestID    string `json:"requestId"`
	Timestamp    int64  `json:"timestamp"`
	ErrorMessage string `json:"errorMessage,omitempty"`
}

// respond writes the JSON body Firehose expects and logs failures.
func (h *Handler) respond(w http.ResponseWriter, r *http.Request, code int, requestID, msg string, err error) {
	if len(msg) > maxErrorMessage {
		msg = strings.ToValidUTF8(msg[:maxErrorMessage], "")
	}
	body, _ := json.Marshal(response{RequestID: requestID, Timestamp: time.Now().UnixMilli(), ErrorMessage: msg})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	_, _ = w.Write(body)
	h.m.requests.WithLabelValues(strconv.Itoa(code)).Inc()
	if code != http.StatusOK {
		h.log.Warn("firehose request failed", "status", code, "request_id", requestID,
			"source_arn", r.Header.Get(headerSourceARN), "remote", r.RemoteAddr, "err", err, "message", msg)
	}
}

// Open builds the endpoint as a source of `flowhose serve`, mounted at
// cfg.Path.
func Open(_ context.Context, cfg Config, deps source.Deps) (source.Source, error) {
	h, err := New(cfg, deps.Decode, Deps{Pipeline: deps.Pipeline, Budget: deps.Budget, Registerer: deps.Registerer, Log: deps.Logger})
	if err != nil {
		return source.Source{}, err
	}
	return source.Source{Path: cfg.Path, Handler: h}, nil
}
