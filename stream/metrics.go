package stream

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics are the pipeline's Prometheus instruments. Sources and sinks
// register their own next to these, under the same flowhose_ prefix.
type Metrics struct {
	Records         prometheus.Counter
	DeadLettered    prometheus.Counter
	SinkErrors      *prometheus.CounterVec
	Busy            prometheus.Counter
	Abandoned       prometheus.Counter
	QueueDepth      prometheus.Gauge
	DispatchSeconds prometheus.Histogram
}

// NewMetrics creates the pipeline's instruments and registers them with reg;
// a nil reg keeps them unregistered (tests, benchmarks).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	return &Metrics{
		Records: f.NewCounter(prometheus.CounterOpts{
			Name: "flowhose_pipeline_records_total",
			Help: "Records dispatched to sinks.",
		}),
		DeadLettered: f.NewCounter(prometheus.CounterOpts{
			Name: "flowhose_pipeline_dead_lettered_total",
			Help: "Inputs that failed to decode and were written to the dead-letter sink.",
		}),
		SinkErrors: f.NewCounterVec(prometheus.CounterOpts{
			Name: "flowhose_pipeline_sink_refusals_total",
			Help: "Batches a sink refused at once.",
		}, []string{"sink"}),
		Busy: f.NewCounter(prometheus.CounterOpts{
			Name: "flowhose_pipeline_busy_total",
			Help: "Submissions given up because the queue stayed full.",
		}),
		Abandoned: f.NewCounter(prometheus.CounterOpts{
			Name: "flowhose_pipeline_abandoned_records_total",
			Help: "Records of batches whose source gave up before a worker reached them (not delivered; the source's client retries).",
		}),
		QueueDepth: f.NewGauge(prometheus.GaugeOpts{
			Name: "flowhose_pipeline_queue_depth",
			Help: "Batches waiting for a worker.",
		}),
		DispatchSeconds: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "flowhose_pipeline_dispatch_seconds",
			Help:    "Time a worker spends enriching a batch and handing it to sinks.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}),
	}
}
