// Package firehose implements the Amazon Data Firehose HTTP-endpoint
// destination: an http.Handler that decodes each request's records, hands
// them to the pipeline and answers 200 only once every sink has
// acknowledged them, so Firehose retries anything not yet durable.
package firehose

import (
	"compress/gzip"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/decode"
)

// Request headers set by Firehose.
const (
	headerAccessKey = "X-Amz-Firehose-Access-Key"
	headerRequestID = "X-Amz-Firehose-Request-Id"
	headerSourceARN = "X-Amz-Firehose-Source-Arn"
)

// maxErrorMessage is Firehose's limit on the response's errorMessage.
const maxErrorMessage = 8192

// errDecompressedTooLarge is returned by the body reader past
// MaxDecompressedBytes.
var errDecompressedTooLarge = errors.New("decompressed body too large")

// errTooManyRecords is returned by parse past MaxRecords.
var errTooManyRecords = errors.New("too many flow-log records")

// Handler serves Firehose HTTP-endpoint delivery requests.
type Handler struct {
	cfg      Config
	decOpts  decode.Options
	pipeline *stream.Pipeline
	log      *slog.Logger
	keys     [][sha256.Size]byte
	m        metrics
}

type metrics struct {
	requests *prometheus.CounterVec
	records  prometheus.Counter
	bytes    prometheus.Counter
	failures prometheus.Counter
}

// New returns a Handler delivering into p. decOpts configures the per-request
// decoder (its Source is set to "firehose"). Metrics are registered on reg
// (nil leaves them unregistered); log may be nil for slog.Default().
func New(cfg Config, decOpts decode.Options, p *stream.Pipeline, reg prometheus.Registerer, log *slog.Logger) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("firehose config: %w", err)
	}
	if p == nil {
		return nil, errors.New("firehose: a pipeline is required")
	}
	decOpts.Source = "firehose"
	if _, err := decode.New(decOpts); err != nil {
		return nil, fmt.Errorf("firehose decoder options: %w", err)
	}
	if log == nil {
		log = slog.Default()
	}
	h := &Handler{cfg: cfg, decOpts: decOpts, pipeline: p, log: log}
	// Keys are compared as digests so the comparison takes the same time
	// whatever the length of the key presented.
	for _, k := range cfg.AccessKeys {
		h.keys = append(h.keys, sha256.Sum256([]byte(k)))
	}
	f := promauto.With(reg)
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

// AuthenticationEnabled reports whether access keys are checked.
func (h *Handler) AuthenticationEnabled() bool { return len(h.keys) > 0 }

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	requestID := r.Header.Get(headerRequestID)
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.respond(w, r, http.StatusMethodNotAllowed, requestID, "method not allowed: use POST", nil)
		return
	}
	if !h.authorized(r.Header.Get(headerAccessKey)) {
		h.respond(w, r, http.StatusUnauthorized, requestID, "invalid access key", nil)
		return
	}
	body, err := h.body(w, r)
	if err != nil {
		h.respond(w, r, http.StatusUnsupportedMediaType, requestID, err.Error(), err)
		return
	}
	dec, err := decode.New(h.decOpts)
	if err != nil {
		// Options were validated in New.
		h.respond(w, r, http.StatusInternalServerError, requestID, "decoder unavailable", err)
		return
	}
	var out decode.Output
	bodyID, err := parse(body, dec, h.cfg.MaxRecords, &out)
	h.m.bytes.Add(float64(body.read))
	if err != nil {
		code := http.StatusBadRequest
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) || errors.Is(err, errDecompressedTooLarge) || errors.Is(err, errTooManyRecords) {
			code = http.StatusRequestEntityTooLarge
		}
		h.respond(w, r, code, requestID, err.Error(), err)
		return
	}
	requestID = bodyID
	for i := range out.Failures {
		out.Failures[i].Ref = "request " + requestID + " " + out.Failures[i].Ref
	}
	h.m.records.Add(float64(len(out.Records)))
	h.m.failures.Add(float64(len(out.Failures)))

	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.AckTimeout)
	defer cancel()
	if err := h.deliver(ctx, &out); err != nil {
		h.respond(w, r, http.StatusServiceUnavailable, requestID, err.Error(), err)
		return
	}
	h.respond(w, r, http.StatusOK, requestID, "", nil)
}

// deliver submits the decoded records in batches sharing one Ack and waits
// until every sink has settled them.
func (h *Handler) deliver(ctx context.Context, out *decode.Output) error {
	if len(out.Records) == 0 && len(out.Failures) == 0 {
		return nil
	}
	ack := stream.NewAck()
	failures := out.Failures
	for start := 0; start == 0 || start < len(out.Records); start += h.cfg.BatchSize {
		end := min(start+h.cfg.BatchSize, len(out.Records))
		// Failures ride with the first batch: they need dead-lettering
		// before the request is acknowledged, exactly once.
		b := &stream.Batch{Records: out.Records[start:end:end], Failures: failures, Ack: ack}
		failures = nil
		if err := h.pipeline.Submit(ctx, b); err != nil {
			ack.Done(nil)
			return fmt.Errorf("submit: %w", err)
		}
	}
	ack.Done(nil)
	if err := ack.Wait(ctx); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("not acknowledged within %s", h.cfg.AckTimeout)
		}
		return fmt.Errorf("delivery: %w", err)
	}
	return nil
}

func (h *Handler) authorized(key string) bool {
	if len(h.keys) == 0 {
		return true
	}
	got := sha256.Sum256([]byte(key))
	match := 0
	for i := range h.keys {
		// No early exit: every key is compared, so timing does not say
		// which one matched.
		match |= subtle.ConstantTimeCompare(got[:], h.keys[i][:])
	}
	return match == 1
}

// countingReader enforces MaxDecompressedBytes and counts what was read.
type countingReader struct {
	r    io.Reader
	max  int64
	read int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	if c.read > c.max {
		return 0, errDecompressedTooLarge
	}
	if rest := c.max - c.read + 1; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := c.r.Read(p)
	c.read += int64(n)
	if over := c.read - c.max; over > 0 {
		// Hand back only what fits so the limit cannot be missed by a
		// consumer that stops at a complete value.
		return n - int(over), fmt.Errorf("%w: over %d bytes", errDecompressedTooLarge, c.max)
	}
	return n, err
}

// body returns the request body bounded by both limits, gunzipped when the
// request says so.
func (h *Handler) body(w http.ResponseWriter, r *http.Request) (*countingReader, error) {
	wire := http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes)
	var rd io.Reader = wire
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip":
		// The gzip header is read lazily so that a bad or oversized body
		// is reported by parse with the right status.
		rd = &lazyGzip{r: wire}
	default:
		return nil, fmt.Errorf("unsupported Content-Encoding %q: use gzip or none", enc)
	}
	return &countingReader{r: rd, max: h.cfg.MaxDecompressedBytes}, nil
}

// lazyGzip opens the gzip stream on first read.
type lazyGzip struct {
	r  io.Reader
	gz *gzip.Reader
}

func (l *lazyGzip) Read(p []byte) (int, error) {
	if l.gz == nil {
		gz, err := gzip.NewReader(l.r)
		if err != nil {
			return 0, fmt.Errorf("gzip: %w", err)
		}
		l.gz = gz
	}
	n, err := l.gz.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = fmt.Errorf("gzip: %w", err)
	}
	return n, err
}

// parse streams the JSON body: one record's data is in memory at a time
// besides what the decoder keeps. It returns the body's requestId.
func parse(body io.Reader, dec *decode.Decoder, maxRecords int, out *decode.Output) (string, error) {
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
			if err := parseRecords(jd, dec, maxRecords, out); err != nil {
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

func parseRecords(jd *json.Decoder, dec *decode.Decoder, maxRecords int, out *decode.Output) error {
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
		failed := len(out.Failures)
		dec.Payload(rec.Data, out)
		for j := failed; j < len(out.Failures); j++ {
			out.Failures[j].Ref = "records[" + strconv.Itoa(i) + "]"
		}
		if n := len(out.Records) + len(out.Failures); n > maxRecords {
			return fmt.Errorf("%w: records[%d] brings the request to %d, over max_records %d", errTooManyRecords, i, n, maxRecords)
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
