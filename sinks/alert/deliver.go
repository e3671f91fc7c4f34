package alert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/detect"
)

// Retry bounds the delivery of alerts to each destination.
type Retry struct {
	// QueueSize is how many alerts wait per destination; past it a new
	// alert is dead-lettered at once.
	QueueSize int `yaml:"queue_size"`
	// Timeout bounds one attempt.
	Timeout time.Duration `yaml:"timeout"`
	// InitialBackoff is the first wait after a failure; it doubles, with
	// jitter, up to MaxBackoff. A longer Retry-After wins.
	InitialBackoff time.Duration `yaml:"initial_backoff"`
	// MaxBackoff caps the wait between attempts.
	MaxBackoff time.Duration `yaml:"max_backoff"`
	// MaxElapsed is how long an alert is retried before it is dead-lettered.
	MaxElapsed time.Duration `yaml:"max_elapsed"`
}

// DefaultRetry retries each alert for up to 15 minutes.
func DefaultRetry() Retry {
	return Retry{QueueSize: 1000, Timeout: 15 * time.Second, InitialBackoff: time.Second,
		MaxBackoff: time.Minute, MaxElapsed: 15 * time.Minute}
}

// Validate reports every bad setting relative to the section.
func (r Retry) Validate() error {
	var errs []error
	if r.QueueSize < 1 || r.QueueSize > 1_000_000 {
		errs = append(errs, fmt.Errorf("queue_size: must be between 1 and 1000000, got %d", r.QueueSize))
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"timeout", r.Timeout}, {"initial_backoff", r.InitialBackoff}, {"max_backoff", r.MaxBackoff}, {"max_elapsed", r.MaxElapsed}} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("%s: must be positive, got %s", d.key, d.v))
		}
	}
	if r.MaxBackoff < r.InitialBackoff {
		errs = append(errs, fmt.Errorf("max_backoff: must be at least initial_backoff (%s), got %s", r.InitialBackoff, r.MaxBackoff))
	}
	return errors.Join(errs...)
}

// Dispatcher hands each alert to every destination, each with its own
// queue and goroutine, so a slow or failing destination delays only its
// own alerts. An alert that cannot be delivered is dead-lettered.
type Dispatcher struct {
	cfg     Retry
	dl      stream.DeadLetterWriter
	log     *slog.Logger
	workers []*worker
	stop    context.CancelFunc
	ctx     context.Context
	wg      sync.WaitGroup
	results *prometheus.CounterVec
}

type worker struct {
	dest  Destination
	queue chan *detect.Alert
}

// NewDispatcher starts one worker per destination.
func NewDispatcher(dests []Destination, cfg Retry, dl stream.DeadLetterWriter, log *slog.Logger, reg prometheus.Registerer) *Dispatcher {
	d := &Dispatcher{cfg: cfg, dl: dl, log: log,
		results: promauto.With(reg).NewCounterVec(prometheus.CounterOpts{Name: "flowhose_alert_deliveries_total",
			Help: "Alert delivery outcomes by destination: delivered, retried (one per failed attempt), dead_lettered."},
			[]string{"destination", "result"})}
	d.ctx, d.stop = context.WithCancel(context.Background())
	for _, dest := range dests {
		w := &worker{dest: dest, queue: make(chan *detect.Alert, cfg.QueueSize)}
		d.workers = append(d.workers, w)
		d.wg.Go(func() { d.run(w) })
	}
	return d
}

// Deliver queues a for every destination without blocking; a full queue
// dead-letters the alert for that destination.
func (d *Dispatcher) Deliver(a detect.Alert) {
	for _, w := range d.workers {
		select {
		case w.queue <- &a:
		default:
			d.deadLetter(w.dest, &a, errors.New("alert queue full"))
		}
	}
}

func (d *Dispatcher) run(w *worker) {
	for a := range w.queue {
		d.send(w.dest, a)
	}
}

func (d *Dispatcher) send(dest Destination, a *detect.Alert) {
	start := time.Now()
	backoff := d.cfg.InitialBackoff
	for {
		ctx, cancel := context.WithTimeout(d.ctx, d.cfg.Timeout)
		err := dest.Send(ctx, a)
		cancel()
		if err == nil {
			d.results.WithLabelValues(dest.Name(), "delivered").Inc()
			return
		}
		wait := max(retryAfterOf(err), backoff/2+rand.N(backoff/2+1))
		if stream.IsPermanent(err) || time.Since(start)+wait > d.cfg.MaxElapsed || d.ctx.Err() != nil {
			d.deadLetter(dest, a, err)
			return
		}
		d.results.WithLabelValues(dest.Name(), "retried").Inc()
		d.log.Warn("alert delivery failed; retrying", "destination", dest.Name(), "alert", a.ID, "in", wait, "err", err)
		select {
		case <-time.After(wait):
		case <-d.ctx.Done():
			d.deadLetter(dest, a, fmt.Errorf("shut down while retrying: %w", err))
			return
		}
		backoff = min(backoff*2, d.cfg.MaxBackoff)
	}
}

func (d *Dispatcher) deadLetter(dest Destination, a *detect.Alert, reason error) {
	d.results.WithLabelValues(dest.Name(), "dead_lettered").Inc()
	body, _ := json.Marshal(a)
	err := d.dl.WriteFailures(context.Background(), []stream.Failure{{
		Source: "alert." + dest.Name(), Ref: a.ID, Input: string(body), Reason: reason.Error()}})
	if err != nil {
		// The last resort: the log still has the whole alert.
		d.log.Error("alert lost: dead-letter write failed", "destination", dest.Name(), "alert", string(body), "reason", reason, "err", err)
		return
	}
	d.log.Error("alert dead-lettered", "destination", dest.Name(), "alert", a.ID, "rule", a.Rule, "reason", reason)
}

// Close stops taking alerts and delivers the queued ones until ctx ends;
// then it dead-letters whatever is left. Deliver must not be called after.
func (d *Dispatcher) Close(ctx context.Context) error {
	for _, w := range d.workers {
		close(w.queue)
	}
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	select {
	case <-done:
		d.stop()
		return nil
	case <-ctx.Done():
		d.stop() // attempts end and retries give up: the rest is dead-lettered
		<-done
		return fmt.Errorf("alert delivery cut short: %w", ctx.Err())
	}
}
