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

	"github.com/aws/aws-lambda-go/events"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/decode"
	"github.com/flowhose/flowhose/stream/ecs"
	"github.com/flowhose/flowhose/stream/hec"
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

// Handler transforms Firehose records.
type Handler struct {
	cfg       Config
	decOpts   decode.Options
	enrichers []stream.Enricher
	dead      stream.DeadLetterWriter
	log       *slog.Logger
	encode    func(dst []byte, r *stream.Record) []byte
	m         metrics
}

type metrics struct {
	results  *prometheus.CounterVec
	records  prometheus.Counter
	failures prometheus.Counter
}

// New returns a Handler. decOpts configures the per-invocation decoder (its
// Source is set to "transform"); enrichers run on every invocation's
// records; dead receives the bad lines of records answered Ok. Metrics are
// registered on reg (nil leaves them unregistered); log may be nil.
func New(cfg Config, decOpts decode.Options, enrichers []stream.Enricher, dead stream.DeadLetterWriter, reg prometheus.Registerer, log *slog.Logger) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("transform config: %w", err)
	}
	if dead == nil {
		return nil, errors.New("transform: a dead-letter writer is required")
	}
	decOpts.Source = "transform"
	if _, err := decode.New(decOpts); err != nil {
		return nil, fmt.Errorf("transform decoder options: %w", err)
	}
	if log == nil {
		log = slog.Default()
	}
	h := &Handler{cfg: cfg, decOpts: decOpts, enrichers: enrichers, dead: dead, log: log}
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
	f := promauto.With(reg)
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
	if enc := r.Header.Get("Content-Encoding"); enc != "" && enc != "identity" {
		http.Error(w, "unsupported Content-Encoding: send the body uncompressed", http.StatusUnsupportedMediaType)
		return
	}
	var ev event
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes)).Decode(&ev); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, fmt.Sprintf("request body over %d bytes", h.cfg.MaxBodyBytes), http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "malformed event JSON: "+err.Error(), http.StatusBadRequest)
		return
	}
	resp, err := h.Transform(r.Context(), ev.Records)
	if err != nil {
		h.log.Error("firehose transformation failed", "invocation_id", ev.InvocationID,
			"delivery_stream", ev.DeliveryStreamArn, "err", err)
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	body, err := json.Marshal(resp)
	if err != nil {
		http.Error(w, "encoding response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write(body)
}

// span locates what one input record decoded to in the shared Output.
type span struct {
	recs, fails [2]int
	idLen       int // recordId's length as a JSON string
}

// Transform answers every input record exactly once, in input order. Bad
// lines of records answered Ok are dead-lettered before it returns; an
// error means that failed and nothing should be acknowledged.
func (h *Handler) Transform(ctx context.Context, in []Input) (Response, error) {
	dec, err := decode.New(h.decOpts)
	if err != nil {
		return Response{}, fmt.Errorf("decoder: %w", err)
	}
	var out decode.Output
	spans := make([]span, len(in))
	for i := range in {
		sp := &spans[i]
		sp.idLen = quotedLen(in[i].RecordID)
		sp.recs[0], sp.fails[0] = len(out.Records), len(out.Failures)
		dec.Payload(in[i].Data, &out)
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
	var buf []byte
	var dead []stream.Failure
	full := false
	for i := range in {
		rr := &resp.Records[i]
		rr.RecordID, rr.Result = in[i].RecordID, ResultProcessingFailed
		sp := spans[i]
		switch {
		case full:
		case sp.recs[1] > sp.recs[0]:
			start := len(buf)
			for j := sp.recs[0]; j < sp.recs[1]; j++ {
				buf = h.encode(buf, &out.Records[j])
				buf = append(buf, '\n')
			}
			// Earlier records keep sub-slices of buf's old arrays when it
			// grows; those bytes are never written again.
			data := buf[start:len(buf):len(buf)]
			grown := size - entrySize(sp.idLen, ResultProcessingFailed, 0) + entrySize(sp.idLen, ResultOk, len(data))
			if grown > h.cfg.MaxResponseBytes {
				full = true
				buf = buf[:start]
				break
			}
			size = grown
			rr.Result, rr.Data = ResultOk, data
			dead = append(dead, out.Failures[sp.fails[0]:sp.fails[1]]...)
		case sp.fails[1] == sp.fails[0]:
			size += entrySize(sp.idLen, ResultDropped, 0) - entrySize(sp.idLen, ResultProcessingFailed, 0)
			rr.Result = ResultDropped
		}
		h.m.results.WithLabelValues(rr.Result).Inc()
	}
	if len(dead) > 0 {
		if err := h.dead.WriteFailures(ctx, dead); err != nil {
			return Response{}, fmt.Errorf("dead-letter %d bad lines: %w", len(dead), err)
		}
	}
	return resp, nil
}

// quotedLen is the length of id as a JSON string with encoding/json's
// escaping, the longest of the encoders that may marshal the response.
func quotedLen(id string) int {
	q, _ := json.Marshal(id)
	return len(q)
}

// entrySize is the size of one record's JSON in the response.
func entrySize(idLen int, result string, dataLen int) int64 {
	n := len(`{"recordId":,"result":""}`) + idLen + len(result)
	if dataLen > 0 {
		n += len(`,"data":""`) + base64.StdEncoding.EncodedLen(dataLen)
	}
	return int64(n)
}
