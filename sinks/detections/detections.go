// Package detections is the sink that runs stream/detect's rule engine
// beside the other sinks and hands its alerts to the destinations under
// sinks/alert/. It never slows the data path: a batch is copied into a
// bounded queue and acknowledged at once, and when the engine falls
// behind, batches are skipped (and counted), never waited for.
package detections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/flowhose/flowhose/sinks"
	"github.com/flowhose/flowhose/sinks/alert"
	"github.com/flowhose/flowhose/sinks/alert/elasticsearch"
	"github.com/flowhose/flowhose/sinks/alert/pagerduty"
	"github.com/flowhose/flowhose/sinks/alert/slack"
	"github.com/flowhose/flowhose/sinks/alert/sns"
	"github.com/flowhose/flowhose/sinks/alert/webhook"
	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/detect"
)

// Config is the detections sink's settings: the rule engine's, the queue
// in front of it, and where alerts go.
type Config struct {
	detect.Config `yaml:",inline"`
	// QueueRecords bounds the records waiting for the rule engine: about
	// 1 KiB each (a record's copy) plus the input its line was cut from,
	// outside pipeline.memory_budget. A batch that does not fit is skipped
	// by detection and counted in flowhose_detect_dropped_records_total.
	QueueRecords int `yaml:"queue_records"`
	// LogAlerts writes every alert to the log (level warn).
	LogAlerts bool `yaml:"log_alerts"`
	// Delivery bounds each destination's queue and retries.
	Delivery alert.Retry `yaml:"delivery"`
	// Webhook posts alerts as signed JSON.
	Webhook alert.Section[webhook.Config] `yaml:"webhook"`
	// Slack posts alerts to an incoming webhook.
	Slack alert.Section[slack.Config] `yaml:"slack"`
	// PagerDuty triggers incidents through the Events API v2.
	PagerDuty alert.Section[pagerduty.Config] `yaml:"pagerduty"`
	// SNS publishes alerts to an Amazon SNS topic.
	SNS alert.Section[sns.Config] `yaml:"sns"`
	// Elasticsearch indexes alerts (document id = alert id), for Kibana.
	Elasticsearch alert.Section[elasticsearch.Config] `yaml:"elasticsearch"`
}

// destinations lists every alert destination; the one place they are
// registered.
func (c *Config) destinations() []alert.Factory {
	return []alert.Factory{
		alert.Register("webhook", &c.Webhook, webhook.DefaultConfig, webhook.Open),
		alert.Register("slack", &c.Slack, slack.DefaultConfig, slack.Open),
		alert.Register("pagerduty", &c.PagerDuty, pagerduty.DefaultConfig, pagerduty.Open),
		alert.Register("sns", &c.SNS, sns.DefaultConfig, sns.Open),
		alert.Register("elasticsearch", &c.Elasticsearch, elasticsearch.DefaultConfig, elasticsearch.Open),
	}
}

// Limits of QueueRecords.
const (
	minQueueRecords = 1000
	maxQueueRecords = 10_000_000
)

// DefaultConfig has every built-in rule on and alerts only in the log.
func DefaultConfig() Config {
	c := Config{Config: detect.DefaultConfig(), QueueRecords: 16384, LogAlerts: true, Delivery: alert.DefaultRetry()}
	for _, f := range c.destinations() {
		f.SetDefault()
	}
	return c
}

// Validate reports every bad setting relative to the section.
func (c Config) Validate() error {
	errs := []error{c.Config.Validate()}
	if c.QueueRecords < minQueueRecords || c.QueueRecords > maxQueueRecords {
		errs = append(errs, fmt.Errorf("queue_records: must be between %d and %d, got %d", minQueueRecords, maxQueueRecords, c.QueueRecords))
	}
	prefixed := func(prefix string, err error) {
		if err != nil {
			for line := range strings.Lines(err.Error()) {
				errs = append(errs, errors.New(prefix+strings.TrimRight(line, "\n")))
			}
		}
	}
	prefixed("delivery.", c.Delivery.Validate())
	for _, f := range c.destinations() {
		prefixed(f.Name()+".", f.Validate())
	}
	return errors.Join(errs...)
}

type batch struct {
	recs *[]stream.Record // from buffers
	at   time.Time
}

// buffers recycles the copies of batches: a fresh copy per batch made
// the collector, not the engine, the main cost of detection.
var buffers = sync.Pool{New: func() any { return new([]stream.Record) }}

// Sink feeds the rule engine from the pipeline.
type Sink struct {
	cfg      Config
	engine   *detect.Engine
	dispatch *alert.Dispatcher
	log      *slog.Logger

	mu     sync.RWMutex // Accept against Close
	closed bool
	queue  chan batch
	queued atomic.Int64 // records in queue
	done   chan struct{}
	stop   context.CancelFunc
	// abandon makes the engine skip what is still queued, at shutdown.
	abandon atomic.Bool

	dropped prometheus.Counter
	lag     prometheus.Gauge
	depth   prometheus.Gauge
}

// Open loads the threat-intel lists, compiles the rules, opens the alert
// destinations and starts the engine.
func Open(ctx context.Context, cfg Config, deps sinks.Deps) (stream.Sink, error) {
	return open(ctx, cfg, deps, &http.Client{})
}

func open(ctx context.Context, cfg Config, deps sinks.Deps, client *http.Client) (*Sink, error) {
	f := promauto.With(deps.Registerer)
	var intel *detect.Intel
	if t := cfg.Rules.ThreatIntel; t.Enabled && len(t.Files) > 0 {
		var skipped int
		var err error
		if intel, skipped, err = detect.LoadIntel(t.Files); err != nil {
			return nil, err
		}
		deps.Logger.Info("threat-intel lists loaded", "files", len(t.Files), "skipped_entries", skipped)
	}
	engine, err := detect.New(cfg.Config, intel, deps.Registerer)
	if err != nil {
		return nil, err
	}
	var dests []alert.Destination
	for _, fac := range cfg.destinations() {
		if !fac.Enabled() {
			continue
		}
		d, err := fac.Open(ctx, alert.Deps{HTTP: client, Logger: deps.Logger})
		if err != nil {
			return nil, err
		}
		dests = append(dests, d)
	}
	runCtx, stop := context.WithCancel(context.Background())
	s := &Sink{cfg: cfg, engine: engine, log: deps.Logger, stop: stop,
		dispatch: alert.NewDispatcher(dests, cfg.Delivery, deps.DeadLetter, deps.Logger, deps.Registerer),
		// A batch holds at least one record, so this many slots never
		// bind before QueueRecords does for batches of 16 records or more.
		queue: make(chan batch, max(cfg.QueueRecords/16, 64)),
		done:  make(chan struct{}),
		dropped: f.NewCounter(prometheus.CounterOpts{Name: "flowhose_detect_dropped_records_total",
			Help: "Records the rule engine skipped because its queue was full (it fell behind the pipeline)."}),
		lag: f.NewGauge(prometheus.GaugeOpts{Name: "flowhose_detect_lag_seconds",
			Help: "How long the batch the rule engine last took had waited in its queue."}),
		depth: f.NewGauge(prometheus.GaugeOpts{Name: "flowhose_detect_queue_records",
			Help: "Records waiting for the rule engine."}),
	}
	if intel != nil {
		reloads := f.NewCounterVec(prometheus.CounterOpts{Name: "flowhose_detect_intel_reloads_total",
			Help: "Reloads of changed threat-intel lists, by result (ok, failed)."}, []string{"result"})
		go intel.Watch(runCtx, cfg.Rules.ThreatIntel.ReloadInterval, deps.Logger, func(ok bool) {
			reloads.WithLabelValues(map[bool]string{true: "ok", false: "failed"}[ok]).Inc()
		})
	}
	go s.run()
	deps.Logger.Info("detections on", "rules", engine.Rules(), "destinations", len(dests))
	return s, nil
}

// Name is the sink's name in metrics and errors.
func (s *Sink) Name() string { return "detections" }

// Accept copies the records into the engine's queue, or skips them when
// it is full, and settles the batch at once: detection is not delivery,
// and the data path never waits for it.
func (s *Sink) Accept(_ context.Context, b *stream.Batch) error {
	n := int64(len(b.Records))
	s.mu.RLock()
	switch {
	case s.closed:
	case s.queued.Add(n) > int64(s.cfg.QueueRecords):
		s.queued.Add(-n)
		s.dropped.Add(float64(n))
	default:
		buf := buffers.Get().(*[]stream.Record)
		*buf = append((*buf)[:0], b.Records...)
		select {
		case s.queue <- batch{recs: buf, at: time.Now()}:
			s.depth.Set(float64(s.queued.Load()))
		default:
			s.queued.Add(-n)
			s.dropped.Add(float64(n))
			release(buf)
		}
	}
	s.mu.RUnlock()
	b.Ack.Done(nil)
	return nil
}

func (s *Sink) run() {
	defer close(s.done)
	for b := range s.queue {
		if !s.abandon.Load() {
			s.lag.Set(time.Since(b.at).Seconds())
			s.engine.Process(*b.recs, s.emit)
		}
		s.depth.Set(float64(s.queued.Add(-int64(len(*b.recs)))))
		release(b.recs)
	}
}

// release clears a copy, so that it keeps no input buffer alive, and
// returns it to the pool.
func release(buf *[]stream.Record) {
	clear(*buf)
	*buf = (*buf)[:0]
	buffers.Put(buf)
}

func (s *Sink) emit(a detect.Alert) {
	if s.cfg.LogAlerts {
		s.log.Warn("alert", "id", a.ID, "rule", a.Rule, "severity", a.Severity, "summary", a.Summary)
	}
	s.dispatch.Deliver(a)
}

// Close lets the engine finish the queued records, then delivers the
// queued alerts until ctx ends and dead-letters the rest.
func (s *Sink) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.queue)
	s.mu.Unlock()
	defer s.stop()
	select {
	case <-s.done:
	case <-ctx.Done():
		// What the engine has not seen is skipped; the alerts it raised
		// are still delivered (or dead-lettered) below.
		s.log.Warn("detections: closing before the engine caught up", "queued_records", s.queued.Load())
		s.abandon.Store(true)
		<-s.done
	}
	return s.dispatch.Close(ctx)
}
