package elasticsearch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/flowhose/flowhose/sinks/internal/batches"
	"github.com/flowhose/flowhose/sinks/internal/retry"
	"github.com/flowhose/flowhose/stream"
)

// filterPath trims bulk responses to what the sink reads.
var filterPath = []string{"errors", "items.*.status", "items.*.error.type", "items.*.error.reason"}

// worker holds one sender's reusable buffers.
type worker struct {
	s       *Sink
	resp    bytes.Buffer
	retry   []batches.Item
	settled []batches.Item
	dead    []batches.Item
	fails   []stream.Failure
	parts   []part // still to deliver, the next one last
	// body and spare hold retry bodies, alternately.
	body, spare []byte
}

// requestError is a bulk request that failed as a whole.
type requestError struct {
	status int // 0 when no response arrived
	err    error
}

func (e *requestError) Error() string { return e.err.Error() }
func (e *requestError) Unwrap() error { return e.err }

// refused reports whether the request itself was refused: 413, too large
// for http.max_content_length (or a proxy's limit), or 400, a body
// Elasticsearch could not take, which one bad document can cause for all
// the others. Sending it again cannot help; smaller requests can.
// Everything else (no answer, 429, 5xx, auth and routing trouble an
// operator can fix) is retried as it is.
func (e *requestError) refused() bool { return e.status == 400 || e.status == 413 }

// retryableItem reports whether an item status may succeed later: 429 and
// 5xx, and the statuses that describe the cluster rather than the
// document (401/403 permissions, 404 missing index or template, 408), which
// an operator can fix. Dead-lettering those would empty the stream into the
// dead-letter sink on a configuration mistake.
func retryableItem(status int) bool {
	switch status {
	case 401, 403, 404, 408, 429:
		return true
	}
	return status >= 500
}

// itemResult is one entry of a bulk response's items.
type itemResult struct {
	Status int `json:"status"`
	Error  struct {
		Type   string `json:"type"`
		Reason string `json:"reason"`
	} `json:"error"`
}

func (s *Sink) work() {
	defer s.workers.Done()
	w := &worker{s: s}
	for req := range s.reqs {
		w.send(req)
		s.m.inFlightBytes.Sub(float64(len(req.buf)))
		s.release(req)
	}
}

// part is a run of a request's items, whose lines lie back to back in
// body at the items' offsets.
type part struct {
	items []batches.Item
	body  []byte
}

// send delivers every item of req and settles each exactly once. A
// request refused as a whole for its size or content is split in halves
// until the pieces are accepted or hold a single document; retry_for
// counts from the first attempt of req, whatever it was split into.
func (w *worker) send(req *request) {
	begin := time.Now()
	w.parts = append(w.parts[:0], part{req.items, req.buf})
	for len(w.parts) > 0 {
		p := w.parts[len(w.parts)-1]
		// Zeroed: a spent part must not keep a cloned body alive.
		w.parts[len(w.parts)-1] = part{}
		w.parts = w.parts[:len(w.parts)-1]
		w.deliver(p, begin)
	}
}

// deliver sends p, retrying 429s, 5xx and failed requests with backoff
// until retry_for. On a whole-request 400 or 413 it pushes p's halves onto
// w.parts, or dead-letters p's only document.
func (w *worker) deliver(p part, begin time.Time) {
	s := w.s
	items, body := p.items, p.body
	resent := false // body is one of w's retry buffers
	for attempt := 0; ; attempt++ {
		results, err := w.post(body[items[0].Off:items[len(items)-1].End], len(items))
		w.retry = w.retry[:0]
		var cause error
		var re *requestError
		switch {
		case errors.As(err, &re) && re.refused():
			if len(items) == 1 {
				w.refuse(items[0], re)
				return
			}
			if resent {
				// The next part's retries reuse w's buffers.
				body = bytes.Clone(body)
			}
			s.log.Warn("bulk request refused as a whole, splitting it", "docs", len(items), "err", err)
			s.m.splits.Inc()
			h := len(items) / 2
			// Last in, first out: the first half goes next.
			w.parts = append(w.parts, part{items[h:], body}, part{items[:h], body})
			return
		case err != nil:
			w.retry = append(w.retry, items...)
			cause = err
		case results == nil:
			s.m.indexed.Add(float64(len(items)))
			s.batches.Settle(items, nil)
		default:
			cause = w.classify(items, results)
		}
		if len(w.retry) == 0 {
			return
		}

		delay := retry.Backoff(s.cfg.RetryInitial, s.cfg.RetryMax, attempt)
		if s.cfg.RetryFor > 0 && time.Since(begin)+delay > s.cfg.RetryFor {
			w.giveUp(attempt, cause)
			return
		}
		s.log.Warn("retrying documents", "docs", len(w.retry), "attempt", attempt+1, "delay", delay, "err", cause)
		s.m.retried.Add(float64(len(w.retry)))
		if !retry.Sleep(s.ctx, delay) {
			w.giveUp(attempt, fmt.Errorf("sink closing: %w", cause))
			return
		}
		// Resend only the failed documents, copied out of the last body
		// into the other of two buffers (body may be one of them).
		w.body, w.spare = w.spare[:0], w.body
		for i := range w.retry {
			it := &w.retry[i]
			off := len(w.body)
			w.body = append(w.body, body[it.Off:it.End]...)
			it.Off, it.End = off, len(w.body)
		}
		// A copy: the next round refills w.retry while reading items.
		items = append(items[:0:0], w.retry...)
		body, resent = w.body, true
	}
}

// refuse dead-letters a document that Elasticsearch refused even in a
// bulk request of its own.
func (w *worker) refuse(it batches.Item, re *requestError) {
	w.dead = append(w.dead[:0], it)
	w.fails = append(w.fails[:0], stream.Failure{
		Source: "elasticsearch",
		Input:  it.Rec.Raw,
		Reason: fmt.Sprintf("elasticsearch refused a bulk request of this document alone: %v", re),
	})
	w.deadLetter()
}

// giveUp fails the documents in w.retry so their batches are redelivered.
func (w *worker) giveUp(attempt int, cause error) {
	s := w.s
	s.log.Error("giving up on documents", "docs", len(w.retry), "attempts", attempt+1, "err", cause)
	s.m.failed.Add(float64(len(w.retry)))
	s.batches.Settle(w.retry, fmt.Errorf("elasticsearch: %d documents not indexed after %d attempts: %w",
		len(w.retry), attempt+1, cause))
}

// classify sorts the items of a bulk response with errors: created and
// already-existing documents are settled, retryable ones go to w.retry,
// anything else is dead-lettered. It returns the last retry reason.
func (w *worker) classify(items []batches.Item, results []itemResult) error {
	s := w.s
	w.settled, w.dead, w.fails = w.settled[:0], w.dead[:0], w.fails[:0]
	var cause error
	var indexed, dups int
	for i, r := range results {
		it := items[i]
		switch {
		case r.Status >= 200 && r.Status < 300:
			indexed++
			w.settled = append(w.settled, it)
		case r.Status == 409:
			// create on an existing _id: this record was delivered before.
			dups++
			w.settled = append(w.settled, it)
		case retryableItem(r.Status):
			w.retry = append(w.retry, it)
			cause = fmt.Errorf("item status %d %s: %s", r.Status, r.Error.Type, r.Error.Reason)
		default:
			w.dead = append(w.dead, it)
			w.fails = append(w.fails, stream.Failure{
				Source: "elasticsearch",
				Input:  it.Rec.Raw,
				Reason: fmt.Sprintf("elasticsearch refused the document: status %d %s: %s", r.Status, r.Error.Type, r.Error.Reason),
			})
		}
	}
	s.m.indexed.Add(float64(indexed))
	s.m.duplicates.Add(float64(dups))
	s.batches.Settle(w.settled, nil)
	if len(w.dead) > 0 {
		w.deadLetter()
	}
	return cause
}

// deadLetter writes w.fails, the failures of w.dead, and settles those
// items: as delivered once the write is durable, failed if it is not.
func (w *worker) deadLetter() {
	s := w.s
	if err := s.dl.WriteFailures(s.ctx, w.fails); err != nil {
		s.log.Error("dead-letter write failed", "docs", len(w.dead), "err", err)
		s.m.failed.Add(float64(len(w.dead)))
		s.batches.Settle(w.dead, fmt.Errorf("elasticsearch: dead-letter refused documents: %w", err))
		return
	}
	s.m.deadLettered.Add(float64(len(w.dead)))
	s.batches.Settle(w.dead, nil)
}

// post sends one bulk request. It returns nil results when every item
// succeeded, the per-item results otherwise, or an error when the request
// failed as a whole.
func (w *worker) post(body []byte, n int) ([]itemResult, error) {
	s := w.s
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.RequestTimeout)
	defer cancel()
	req := esapi.BulkRequest{Body: bytes.NewReader(body), FilterPath: filterPath}
	if s.cfg.Target == TargetDataStream {
		req.Index = s.cfg.dataStream()
	}
	start := time.Now()
	res, err := req.Do(ctx, s.client)
	if err != nil {
		s.m.requests.WithLabelValues("error").Inc()
		return nil, &requestError{err: fmt.Errorf("bulk request: %w", err)}
	}
	defer res.Body.Close()
	w.resp.Reset()
	_, err = w.resp.ReadFrom(res.Body)
	s.m.bulkSeconds.Observe(time.Since(start).Seconds())
	if err != nil {
		s.m.requests.WithLabelValues("error").Inc()
		return nil, &requestError{err: fmt.Errorf("bulk response: %w", err)}
	}
	if res.IsError() {
		s.m.requests.WithLabelValues("error").Inc()
		return nil, &requestError{status: res.StatusCode,
			err: fmt.Errorf("bulk request: %s: %s", res.Status(), truncate(w.resp.Bytes(), 512))}
	}
	results, err := parseBulk(w.resp.Bytes(), n)
	if err != nil {
		s.m.requests.WithLabelValues("error").Inc()
		return nil, &requestError{err: err}
	}
	if results == nil {
		s.m.requests.WithLabelValues("ok").Inc()
	} else {
		s.m.requests.WithLabelValues("item_errors").Inc()
	}
	return results, nil
}

// parseBulk reads the response to a bulk request of n create actions. It
// returns nil when every document was created, else one result per
// document in request order. A response that does not account for every
// document sent (too few or too many items, another action, an item
// without a status, a body that is not JSON) is an error: the request is
// retried as a whole, since nothing in it proves any document indexed.
// The "errors" flag is not trusted; every item is judged by its own status.
func parseBulk(body []byte, n int) ([]itemResult, error) {
	if allCreated(body, n) {
		return nil, nil
	}
	var top struct {
		Items []map[string]itemResult `json:"items"`
	}
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, fmt.Errorf("bulk response: %w: %s", err, truncate(body, 512))
	}
	if len(top.Items) != n {
		return nil, fmt.Errorf("bulk response: %d items for %d documents: %s", len(top.Items), n, truncate(body, 512))
	}
	results := make([]itemResult, n)
	created := true
	for i, m := range top.Items {
		r, ok := m["create"]
		if !ok || len(m) != 1 {
			return nil, fmt.Errorf("bulk response: item %d is not the one create action sent: %s", i, truncate(body, 512))
		}
		if r.Status < 100 || r.Status > 599 {
			return nil, fmt.Errorf("bulk response: item %d has no valid status (%d)", i, r.Status)
		}
		created = created && r.Status >= 200 && r.Status < 300
		results[i] = r
	}
	if created {
		return nil, nil
	}
	return results, nil
}

// allCreated reports whether body is exactly the answer, as filter_path
// trims it, that all n documents were created: the common case, checked
// byte by byte instead of decoding thousands of items.
func allCreated(body []byte, n int) bool {
	const head, created, tail = `{"errors":false,"items":[`, `{"create":{"status":201}}`, `]}`
	if n < 1 || len(body) != len(head)+n*len(created)+n-1+len(tail) {
		return false
	}
	b, ok := bytes.CutPrefix(body, []byte(head))
	for i := 0; ok && i < n; i++ {
		if i > 0 {
			b, ok = bytes.CutPrefix(b, []byte(","))
		}
		if ok {
			b, ok = bytes.CutPrefix(b, []byte(created))
		}
	}
	return ok && string(b) == tail
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}
