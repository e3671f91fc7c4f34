// Package splunk is the sink that sends records to Splunk's HTTP Event
// Collector (HEC) and acknowledges a batch only once Splunk has reported
// every event of it indexed (indexer acknowledgement), or, with
// acknowledgement off, answered 200 with code 0 for it; events Splunk
// refuses for their content are dead-lettered. README.md describes
// configuration and behaviour.
package splunk

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowhose/flowhose/config/redact"
	"github.com/flowhose/flowhose/sinks"
	"github.com/flowhose/flowhose/sinks/internal/batches"
	"github.com/flowhose/flowhose/sinks/internal/retry"
	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/ecs"
	"github.com/flowhose/flowhose/stream/hec"
)

// ErrClosed is returned by Accept after Close has begun.
var ErrClosed = errors.New("splunk sink closed")

// Sink sends batches to HEC. It implements stream.Sink.
type Sink struct {
	cfg     Config
	enc     *hec.Encoder
	client  *http.Client
	auth    string // "Splunk <token>": never logged
	targets []*target
	next    atomic.Uint32
	dl      stream.DeadLetterWriter
	m       *metrics
	log     *slog.Logger

	fill batches.Filling // its Mu guards cur
	cur  *request

	reqs chan *request
	// resend takes requests whose ack did not come within ack_timeout or
	// whose ackId was handed out again; pushing to it never blocks.
	resend *resendQueue
	// slots bounds the requests being sent or awaiting their ack.
	slots chan struct{}
	// free keeps settled requests, whose buffers have grown to a full
	// request, for reuse: one per request that can exist at once. (A
	// sync.Pool would drop them at every garbage collection.)
	free chan *request
	// outstanding counts requests handed to the workers and not settled.
	outstanding sync.WaitGroup

	batches batches.Tracker

	// ctx ends when Close runs out of time: retries stop, pending acks fail.
	ctx    context.Context
	cancel context.CancelFunc
	quit   chan struct{} // everything is settled: workers and pollers stop
	bg     sync.WaitGroup
}

// target is one HEC URL with its health and the requests awaiting an ack
// from it, by channel and ackId: ackIds are numbered per channel by the
// node that received the request, so they are asked of that node alone.
type target struct {
	event, ack, health string
	label              string // the URL without credentials, for logs and metrics
	healthy            atomic.Bool
	// refused is the configuration error (token, index, ack) the URL
	// answered last, nil once it takes a request again. A refusing URL
	// is skipped but for one request each health_check_interval, from
	// probeAt (Unix nanoseconds) on: its health endpoint asks for no
	// token, so only a request tells when an operator has fixed it.
	refused atomic.Pointer[error]
	probeAt atomic.Int64
	// changing serializes changes of healthy and refused with their
	// metrics and logs, so that two answers at once leave them agreeing.
	changing sync.Mutex
	// sending has a lock per worker channel, held while the worker sends
	// to this URL and while the poller asks it about the channel's acks
	// (see worker.attempt); fixed at New.
	sending map[string]*sync.Mutex

	mu      sync.Mutex
	pending map[string]map[uint64]*request
}

// request is a run of events sent, and acknowledged, together. A request
// Splunk refuses for one event's content is split into parts that share
// the root's buffer; the root's slot is freed when its last part settles.
type request struct {
	buf     []byte         // the root's events, back to back
	items   []batches.Item // this request's, contiguous in buf
	started time.Time
	gz      []byte // the compressed body, made once (when empty) and kept for resends
	root    *request
	parts   atomic.Int32 // on the root: parts not settled

	// Set while awaiting the ack.
	ackID  uint64
	sentAt time.Time
	// firstSent is when HEC first accepted the request: resends for a
	// missing ack stop retry_for after it.
	firstSent time.Time
}

// body is the request's events.
func (r *request) body() []byte { return r.buf[r.items[0].Off:r.items[len(r.items)-1].End] }

// New returns a sink for cfg, logging to log (nil: slog.Default()).
// Refused events go to dl. Metrics register on reg (nil: unregistered).
func New(cfg Config, dl stream.DeadLetterWriter, reg prometheus.Registerer, log *slog.Logger) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("splunk: %w", err)
	}
	if dl == nil {
		return nil, errors.New("splunk: a dead-letter writer is required")
	}
	if log == nil {
		log = slog.Default()
	}
	log = log.With("sink", "splunk")
	tok, err := cfg.token()
	if err != nil {
		return nil, fmt.Errorf("splunk: %w", err)
	}
	enc, err := hec.NewShaped(cfg.hecConfig(), cfg.shape(), ecs.Encoder{})
	if err != nil {
		return nil, fmt.Errorf("splunk: %w", err)
	}
	tc, err := cfg.tlsConfig(log)
	if err != nil {
		return nil, fmt.Errorf("splunk: %w", err)
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = tc
	// A connection per worker and one for the ack poller and health checks, per URL.
	t.MaxIdleConnsPerHost = cfg.Workers + 2
	t.ResponseHeaderTimeout = cfg.RequestTimeout
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sink{
		cfg:    cfg,
		enc:    enc,
		client: &http.Client{Transport: t, Timeout: cfg.RequestTimeout},
		auth:   "Splunk " + tok,
		dl:     dl,
		log:    log,
		reqs:   make(chan *request, cfg.QueuedRequests),
		resend: newResendQueue(),
		slots:  make(chan struct{}, cfg.MaxPendingAcks),
		free:   make(chan *request, cfg.MaxPendingAcks+cfg.QueuedRequests+1),
		ctx:    ctx,
		cancel: cancel,
		quit:   make(chan struct{}),
	}
	for _, u := range cfg.URLs {
		b := baseURL(u)
		tg := &target{event: b + "/services/collector/event", ack: b + "/services/collector/ack",
			health: b + "/services/collector/health", label: redact.URL(b), pending: map[string]map[uint64]*request{},
			sending: map[string]*sync.Mutex{}}
		tg.healthy.Store(true)
		s.targets = append(s.targets, tg)
	}
	s.m = newMetrics(reg, s.targets)
	s.bg.Add(cfg.Workers + len(s.targets) + 1)
	for range cfg.Workers {
		w := &worker{s: s, channel: newChannel()}
		for _, tg := range s.targets {
			tg.sending[w.channel] = new(sync.Mutex)
		}
		go w.run()
	}
	for _, tg := range s.targets {
		go s.pollAcks(tg)
	}
	go s.checkHealth()
	s.fill.StartTimer(cfg.FlushInterval, s.started, s.flushLocked)
	return s, nil
}

// Open is the sink's factory (see package sinks). It does no I/O: an
// unreachable URL is found by the health checks and reported, and the
// first batches wait for it.
func Open(_ context.Context, cfg Config, deps sinks.Deps) (stream.Sink, error) {
	return New(cfg, deps.DeadLetter, deps.Registerer, deps.Logger)
}

// newChannel returns a random (version 4) UUID, a HEC channel.
func newChannel() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// Ready implements sinks.Readier. It fails while a URL refuses the
// configuration (token, index, ack) and no URL is usable, healthy and
// not refusing, reporting every refusal: the sink then cannot deliver
// until an operator acts. A URL refusing while another takes the events
// leaves the sink ready (it is skipped, logged and in config_error{url});
// a URL that is down or busy is no configuration matter and leaves
// readiness alone, as back-pressure speaks for it.
func (s *Sink) Ready() error {
	var refusals []string
	for _, t := range s.targets {
		err := t.refused.Load()
		if err == nil && t.healthy.Load() {
			return nil
		}
		if err != nil {
			refusals = append(refusals, fmt.Sprintf("%v (%s)", *err, t.label))
		}
	}
	if refusals == nil {
		return nil
	}
	return fmt.Errorf("HEC refuses the configuration: %s", strings.Join(refusals, "; "))
}

// setRefused records that t refused the configuration with err, or (nil)
// took a request, for pick, Ready and the metric.
func (s *Sink) setRefused(t *target, err error) {
	t.changing.Lock()
	defer t.changing.Unlock()
	if err == nil {
		if t.refused.Swap(nil) != nil {
			s.m.configError.WithLabelValues(t.label).Set(0)
			s.log.Info("HEC URL accepts the configuration again", "url", t.label)
		}
		return
	}
	t.probeAt.Store(time.Now().Add(s.cfg.HealthCheckInterval).UnixNano())
	t.refused.Store(&err)
	s.m.configError.WithLabelValues(t.label).Set(1)
}

// Name implements stream.Sink.
func (s *Sink) Name() string { return "splunk" }

// Accept implements stream.Sink. It encodes the batch into the current
// request and hands full requests to the workers, blocking while all of
// them are busy, the queue is full or max_pending_acks requests await
// their ack: that is the back-pressure sources feel while Splunk is slow,
// down or not acknowledging. ctx is honoured only before the batch is
// taken.
func (s *Sink) Accept(ctx context.Context, b *stream.Batch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(b.Records) == 0 {
		b.Ack.Done(nil)
		return nil
	}
	s.fill.Mu.Lock()
	defer s.fill.Mu.Unlock()
	if s.fill.Closed {
		return ErrClosed
	}
	bs := s.batches.Start(b)
	for i := range b.Records {
		s.appendEvent(bs, &b.Records[i])
	}
	return nil
}

// appendEvent encodes r into the current request, first sending that
// request if r would take it past flush_bytes, and sends it once it holds
// flush_events.
func (s *Sink) appendEvent(bs *batches.Batch, r *stream.Record) {
	if s.cur == nil {
		s.cur = s.newRequest()
	}
	req := s.cur
	off := len(req.buf)
	req.buf = s.enc.Append(req.buf, r)
	req.buf = append(req.buf, '\n')
	if len(req.buf) > s.cfg.FlushBytes && len(req.items) > 0 {
		// Move the event to a request of its own, so no request passes
		// flush_bytes unless one event alone does.
		next := s.newRequest()
		next.buf = append(next.buf, req.buf[off:]...)
		req.buf = req.buf[:off]
		s.flushLocked()
		s.cur, req, off = next, next, 0
	}
	req.items = append(req.items, batches.Item{Batch: bs, Rec: r, Off: off, End: len(req.buf)})
	if len(req.items) >= s.cfg.FlushEvents || len(req.buf) >= s.cfg.FlushBytes {
		s.flushLocked()
	}
}

// newRequest returns an empty root request, reusing a settled one.
func (s *Sink) newRequest() *request {
	var r *request
	select {
	case r = <-s.free:
	default:
		r = new(request)
		r.root = r
	}
	r.started = time.Now()
	return r
}

// flushLocked hands the current request to the workers, blocking while
// they are all busy and the queue is full. s.fill.Mu must be held.
func (s *Sink) flushLocked() {
	req := s.cur
	if req == nil {
		return
	}
	s.cur = nil
	req.parts.Store(1)
	s.outstanding.Add(1)
	s.reqs <- req
}

// started reports when the request being filled got its first event.
// s.fill.Mu must be held.
func (s *Sink) started() (time.Time, bool) {
	if s.cur == nil {
		return time.Time{}, false
	}
	return s.cur.started, true
}

// Close implements stream.Sink: it sends what is buffered and waits until
// every accepted batch is settled, acks included. When ctx ends first,
// retries stop, requests still unsent or unacknowledged fail their
// batches (for the source to redeliver) and Close returns ctx's error.
func (s *Sink) Close(ctx context.Context) error {
	// An Accept blocked on busy workers holds s.fill.Mu; if ctx ends while we
	// wait for it, stop the retries that keep the workers busy.
	stop := retry.StopOn(ctx, s.cancel)
	if !s.fill.Close(s.flushLocked) {
		stop()
		return nil
	}
	s.outstanding.Wait()
	close(s.quit)
	s.bg.Wait()
	s.cancel()
	s.client.CloseIdleConnections()
	if stop() {
		return fmt.Errorf("splunk: close gave up on unsent or unacknowledged events: %w", ctx.Err())
	}
	return nil
}

// done settles req's events with err and, when req was its root's last
// part, frees the root's slot.
func (s *Sink) done(req *request, err error) {
	s.batches.Settle(req.items, err)
	s.release(req.root)
}

// release drops one of root's parts; the last frees its slot.
func (s *Sink) release(root *request) {
	if root.parts.Add(-1) == 0 {
		// Every part is settled: nothing refers to root any more.
		clear(root.items)
		root.items, root.buf, root.gz = root.items[:0], root.buf[:0], root.gz[:0]
		root.firstSent = time.Time{}
		select {
		case s.free <- root:
		default:
		}
		<-s.slots
		s.outstanding.Done()
	}
}

// pick returns the next usable URL in turn, or the next one at all when
// none is usable (the health checks may lag behind a recovery, and with
// every URL refusing the configuration each retry asks whether it is
// fixed).
func (s *Sink) pick() *target {
	n := uint32(len(s.targets))
	start := s.next.Add(1)
	now := time.Now().UnixNano()
	for i := range n {
		if t := s.targets[(start+i)%n]; s.usable(t, now) {
			return t
		}
	}
	return s.targets[start%n]
}

// usable reports whether t may take a request at now: it is healthy, and
// takes the configuration or is due for its probe, which this call
// claims so that one request, not every worker's, tries it.
func (s *Sink) usable(t *target, now int64) bool {
	if !t.healthy.Load() {
		return false
	}
	if t.refused.Load() == nil {
		return true
	}
	at := t.probeAt.Load()
	return now >= at && t.probeAt.CompareAndSwap(at, now+int64(s.cfg.HealthCheckInterval))
}

// setHealthy records a URL's health, logging changes.
func (s *Sink) setHealthy(t *target, ok bool, why error) {
	t.changing.Lock()
	defer t.changing.Unlock()
	if t.healthy.Swap(ok) == ok {
		return
	}
	s.m.healthy.WithLabelValues(t.label).Set(b2f(ok))
	if ok {
		s.log.Info("HEC URL healthy again", "url", t.label)
	} else {
		s.log.Warn("HEC URL unhealthy: skipped until its health check passes", "url", t.label, "err", why)
	}
}

// checkHealth asks each unhealthy URL's health endpoint, every
// health_check_interval, whether it is back.
func (s *Sink) checkHealth() {
	defer s.bg.Done()
	t := time.NewTicker(s.cfg.HealthCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-s.quit:
			return
		case <-t.C:
		}
		for _, tg := range s.targets {
			if !tg.healthy.Load() {
				if err := s.healthCheck(tg); err == nil {
					s.setHealthy(tg, true, nil)
				}
			}
		}
	}
}

// healthCheck asks t's /services/collector/health: 200 with code 17 is
// healthy.
func (s *Sink) healthCheck(t *target) error {
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.health, nil)
	if err != nil {
		return err
	}
	res, err := s.client.Do(req)
	if err != nil {
		return err
	}
	r, err := readReply(res)
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK || r.Code == nil || *r.Code != 17 {
		return fmt.Errorf("health: %s %s", res.Status, r)
	}
	return nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
