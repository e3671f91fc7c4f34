package splunk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/flowhose/flowhose/sinks/internal/retry"
	"github.com/flowhose/flowhose/stream"
)

// maxReplyBytes bounds a HEC answer read: they are a few dozen bytes.
const maxReplyBytes = 64 << 10

// worker is one sender, with its own channel.
type worker struct {
	s       *Sink
	channel string
	gz      *gzip.Writer
	zbuf    bytes.Buffer
	parts   []*request // still to deliver, the next one last
}

// reply is a HEC answer. Pointers tell a member that is absent from one
// that is zero: success is code 0 present, never a 200 alone.
type reply struct {
	Text         string  `json:"text"`
	Code         *int    `json:"code"`
	AckID        *uint64 `json:"ackId"`
	InvalidEvent *int    `json:"invalid-event-number"`
}

func (r reply) String() string {
	if r.Code == nil {
		return fmt.Sprintf("%q (no code)", r.Text)
	}
	return fmt.Sprintf("code %d %q", *r.Code, r.Text)
}

// outcome is what a send's answer means for the request.
type outcome int

const (
	// sent: 200 with code 0 (and an ackId when acks are on).
	sent outcome = iota
	// transient: busy, a server error, no or an unreadable answer; the same
	// request may pass later.
	transient
	// misconfigured: token, index, channel or URL refused; an operator
	// must fix it, and the request is retried until then, never dropped.
	misconfigured
	// refused: the request's content was refused (format, event, fields,
	// size); it is split and the offending event dead-lettered.
	refused
)

// codeMeaning names the HEC codes flowhose reacts to, for logs.
var codeMeaning = map[int]string{
	1: "token disabled", 2: "token is required", 3: "invalid authorization", 4: "invalid token",
	5: "no data", 6: "invalid data format", 7: "incorrect index", 8: "internal server error",
	9: "server is busy", 10: "data channel is missing", 11: "invalid data channel",
	12: "event field is required", 13: "event field cannot be blank", 14: "ACK is disabled",
	15: "error in handling indexed fields", 16: "query string authorization is not enabled",
	18: "HEC is unhealthy, queues are full", 19: "HEC is unhealthy, ack service unavailable",
	20: "HEC is unhealthy, queues are full, ack service unavailable", 21: "invalid token", 22: "token disabled",
}

// classify reads an answer to a send per the HEC code table.
func classify(status int, r reply, ack bool) (outcome, error) {
	code := -1
	if r.Code != nil {
		code = *r.Code
	}
	what := fmt.Sprintf("HTTP %d, %s", status, r)
	if m, ok := codeMeaning[code]; ok {
		what += " (" + m + ")"
	}
	switch {
	case status == http.StatusOK && code == 0:
		if ack && r.AckID == nil {
			return misconfigured, errors.New("HEC answered success without an ackId: indexer acknowledgement is off on this token; enable it or set ack: false")
		}
		return sent, nil
	case code == 8 || code == 9 || code >= 18 && code <= 20, status == http.StatusTooManyRequests, status >= 500:
		return transient, errors.New(what)
	case status == http.StatusRequestEntityTooLarge:
		return refused, errors.New(what + ": request larger than the input's max_content_length; lower flush_bytes")
	case code == 5 || code == 6 || code == 12 || code == 13 || code == 15:
		return refused, errors.New(what)
	case status == http.StatusOK:
		// A 200 that is not code 0 proves nothing.
		return transient, errors.New(what + ": not a HEC success")
	}
	// 401/403 (codes 1-4, 21, 22), code 7 (index), 10, 11, 14, 16, and
	// anything else, such as a 404 from a wrong URL path.
	return misconfigured, errors.New(what)
}

func (w *worker) run() {
	s := w.s
	defer s.bg.Done()
	for {
		select {
		case <-s.resend.ready:
			w.resend()
		case s.slots <- struct{}{}:
			select {
			case req := <-s.reqs:
				w.send(req)
			case <-s.resend.ready:
				<-s.slots // the resent request holds its own
				w.resend()
			case <-s.quit:
				<-s.slots
				return
			}
		case <-s.quit:
			return
		}
	}
}

// resend sends the oldest request queued to be sent again, if another
// worker has not taken it.
func (w *worker) resend() {
	if req := w.s.resend.pop(); req != nil {
		w.send(req)
	}
}

// send delivers req and any parts it is split into: each is settled
// (delivered, dead-lettered, failed) or handed to the ack poller.
func (w *worker) send(req *request) {
	w.parts = append(w.parts[:0], req)
	for len(w.parts) > 0 {
		p := w.parts[len(w.parts)-1]
		w.parts[len(w.parts)-1] = nil
		w.parts = w.parts[:len(w.parts)-1]
		w.deliver(p)
	}
}

// deliver sends p until an answer settles it, retrying with backoff
// until retry_for.
func (w *worker) deliver(p *request) {
	s := w.s
	begin := time.Now()
	body, err := w.compressed(p)
	if err != nil {
		s.done(p, fmt.Errorf("splunk: %w", err))
		return
	}
	for attempt := 0; ; attempt++ {
		t := s.pick()
		out, status, r, err := w.attempt(p, t, body)
		switch out {
		case sent:
			s.setRefused(t, nil)
			s.m.bytes.Add(float64(len(body)))
			if s.cfg.Ack {
				return
			}
			s.m.delivered.Add(float64(len(p.items)))
			s.done(p, nil)
			return
		case refused:
			s.setRefused(t, nil)
			w.refuse(p, r, err)
			return
		case misconfigured:
			s.setRefused(t, err)
			s.log.Error("HEC refused the request for its configuration: fix it; events are kept and retried, not acknowledged",
				"url", t.label, "events", len(p.items), "err", err)
		}
		delay := retry.Backoff(s.cfg.RetryInitial, s.cfg.RetryMax, attempt)
		if out == misconfigured && status == http.StatusOK {
			// Accepted without an ackId: the events may be indexed, and
			// every resend may index them again, so resend rarely.
			delay = s.cfg.RetryMax
		}
		if s.cfg.RetryFor > 0 && time.Since(begin)+delay > s.cfg.RetryFor {
			w.giveUp(p, attempt, err)
			return
		}
		if out == transient {
			s.log.Warn("retrying HEC request", "url", t.label, "events", len(p.items), "attempt", attempt+1, "delay", delay, "err", err)
		}
		s.m.retries.Inc()
		if !retry.Sleep(s.ctx, delay) {
			w.giveUp(p, attempt, fmt.Errorf("sink closing: %w", err))
			return
		}
	}
}

// attempt sends body, p's events, to t once and classifies the answer;
// with acks on, a success is handed to the poller before the channel is
// released. Sends and ack queries of one channel on one URL never
// overlap: a node
// that restarted numbers ackIds from 0 again, and a query must not ask
// for an id the node has just given a new request the sink has not yet
// heard about, or that request's true would settle the older one.
func (w *worker) attempt(p *request, t *target, body []byte) (outcome, int, reply, error) {
	s := w.s
	l := t.sending[w.channel]
	l.Lock()
	defer l.Unlock()
	status, r, err := w.post(t, body)
	if err != nil {
		s.setHealthy(t, false, err)
		return transient, 0, r, err
	}
	out, err := classify(status, r, s.cfg.Ack)
	if r.Code != nil && *r.Code >= 18 && *r.Code <= 20 {
		s.setHealthy(t, false, err)
	}
	if out == sent && s.cfg.Ack {
		s.awaitAck(p, t, w.channel, *r.AckID)
	}
	return out, status, r, err
}

// giveUp fails p's events so their batches are redelivered.
func (w *worker) giveUp(p *request, attempt int, cause error) {
	s := w.s
	s.log.Error("giving up on HEC request", "events", len(p.items), "attempts", attempt+1, "err", cause)
	s.m.failed.Add(float64(len(p.items)))
	s.done(p, fmt.Errorf("splunk: %d events not delivered after %d attempts: %w", len(p.items), attempt+1, cause))
}

// refuse handles a request refused for its content. With the index of
// the first bad event (invalid-event-number), the events before it are
// resent (with acks on, nothing proves them indexed; with acks off they
// are as delivered as a success would make them), the bad one is
// dead-lettered and the rest resent; without it the request is split in
// halves until the bad event is alone, and dead-lettered.
func (w *worker) refuse(p *request, r reply, cause error) {
	s := w.s
	n := len(p.items)
	bad := -1
	if r.InvalidEvent != nil && *r.InvalidEvent >= 0 && *r.InvalidEvent < n {
		bad = *r.InvalidEvent
	}
	if n == 1 {
		bad = 0
	}
	if bad < 0 {
		s.m.splits.Inc()
		s.log.Warn("HEC refused a request's content, splitting it", "events", n, "err", cause)
		h := n / 2
		// Last in, first out: the first half goes next.
		w.parts = append(w.parts, s.part(p, h, n), s.part(p, 0, h))
		s.release(p.root) // p is now its parts
		return
	}
	if bad+1 < n {
		w.parts = append(w.parts, s.part(p, bad+1, n))
	}
	if bad > 0 {
		head := s.part(p, 0, bad)
		if s.cfg.Ack {
			w.parts = append(w.parts, head)
		} else {
			s.m.delivered.Add(float64(bad))
			s.done(head, nil)
		}
	}
	one := s.part(p, bad, bad+1)
	it := one.items[0]
	reason := fmt.Sprintf("splunk HEC refused the event: %v", cause)
	if err := s.dl.WriteFailures(s.ctx, []stream.Failure{{Source: "splunk", Input: it.Rec.Raw, Reason: reason}}); err != nil {
		s.log.Error("dead-letter write failed", "err", err)
		s.m.failed.Inc()
		s.done(one, fmt.Errorf("splunk: dead-letter refused event: %w", err))
	} else {
		s.m.deadLettered.Inc()
		s.done(one, nil)
	}
	s.release(p.root) // p is now its parts
}

// part returns items [i, j) of p as a request of their own under p's root.
func (s *Sink) part(p *request, i, j int) *request {
	p.root.parts.Add(1)
	return &request{buf: p.buf, items: p.items[i:j], root: p.root}
}

// compressed returns p's body as sent: gzipped once (kept for resends)
// when compress is on.
func (w *worker) compressed(p *request) ([]byte, error) {
	if !w.s.cfg.Compress {
		return p.body(), nil
	}
	if len(p.gz) > 0 {
		return p.gz, nil
	}
	w.zbuf.Reset()
	if w.gz == nil {
		gz, err := gzip.NewWriterLevel(&w.zbuf, w.s.cfg.CompressionLevel)
		if err != nil {
			return nil, err
		}
		w.gz = gz
	} else {
		w.gz.Reset(&w.zbuf)
	}
	if _, err := w.gz.Write(p.body()); err != nil {
		return nil, err
	}
	if err := w.gz.Close(); err != nil {
		return nil, err
	}
	p.gz = append(p.gz, w.zbuf.Bytes()...)
	return p.gz, nil
}

// post sends body to t on w's channel. An error means no readable
// answer (no connection, a timeout, a body that is not HEC's JSON).
func (w *worker) post(t *target, body []byte) (int, reply, error) {
	s := w.s
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.event, bytes.NewReader(body))
	if err != nil {
		return 0, reply{}, err
	}
	s.header(req, w.channel)
	if s.cfg.Compress {
		req.Header.Set("Content-Encoding", "gzip")
	}
	start := time.Now()
	res, err := s.client.Do(req)
	if err != nil {
		s.m.requests.WithLabelValues("error").Inc()
		return 0, reply{}, fmt.Errorf("HEC request to %s: %w", t.label, err)
	}
	r, err := readReply(res)
	s.m.requestSeconds.Observe(time.Since(start).Seconds())
	if err != nil {
		s.m.requests.WithLabelValues("http_" + strconv.Itoa(res.StatusCode)).Inc()
		return 0, reply{}, fmt.Errorf("HEC request to %s: %w", t.label, err)
	}
	s.m.requests.WithLabelValues(codeLabel(r.Code)).Inc()
	return res.StatusCode, r, nil
}

// codeLabel is the requests metric's label for an answer's code: the
// codes of the HEC table, "other" for any number a server may make up
// (one series each would have no bound), "none" without a code.
func codeLabel(code *int) string {
	switch {
	case code == nil:
		return "none"
	case *code == 0 || *code == 17 || codeMeaning[*code] != "":
		return strconv.Itoa(*code)
	}
	return "other"
}

// header sets the token and, with acks on, the channel. With acks off no
// channel is sent: HEC would keep an ack status per request that nobody
// asks for, and a token that has acks on answers code 10 (channel
// missing), which tells the operator to turn ack on.
func (s *Sink) header(req *http.Request, channel string) {
	req.Header.Set("Authorization", s.auth)
	if s.cfg.Ack {
		req.Header.Set("X-Splunk-Request-Channel", channel)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "flowhose")
}

// readReply reads and closes res's body as a HEC answer; a body that is
// not one (a proxy's HTML page, a cut-off answer) is an error.
func readReply(res *http.Response) (reply, error) {
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxReplyBytes))
	if err != nil {
		return reply{}, fmt.Errorf("%s: reading the answer: %w", res.Status, err)
	}
	var r reply
	if err := json.Unmarshal(b, &r); err != nil {
		return reply{}, fmt.Errorf("%s: not a HEC answer: %.256q", res.Status, b)
	}
	return r, nil
}
