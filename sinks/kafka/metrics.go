package kafka

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics are the sink's Prometheus instruments.
type metrics struct {
	written      prometheus.Counter
	bytes        prometheus.Counter
	retried      prometheus.Counter
	deadLettered prometheus.Counter
	failed       prometheus.Counter
	errors       *prometheus.CounterVec
	batches      *prometheus.CounterVec
	writeSeconds prometheus.Histogram
	inFlight     prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		written: f.NewCounter(prometheus.CounterOpts{
			Name: "flowhose_kafka_sink_messages_written_total",
			Help: "Messages the brokers accepted (acks=all).",
		}),
		bytes: f.NewCounter(prometheus.CounterOpts{
			Name: "flowhose_kafka_sink_bytes_written_total",
			Help: "Key and value bytes of the messages the brokers accepted, before compression.",
		}),
		retried: f.NewCounter(prometheus.CounterOpts{
			Name: "flowhose_kafka_sink_messages_retried_total",
			Help: "Message sends repeated after a broker or network error.",
		}),
		deadLettered: f.NewCounter(prometheus.CounterOpts{
			Name: "flowhose_kafka_sink_messages_dead_lettered_total",
			Help: "Messages refused for good (too large, invalid), written to the dead-letter sink.",
		}),
		failed: f.NewCounter(prometheus.CounterOpts{
			Name: "flowhose_kafka_sink_messages_failed_total",
			Help: "Messages given up after retry_for or at close; their batches were failed for redelivery.",
		}),
		errors: f.NewCounterVec(prometheus.CounterOpts{
			Name: "flowhose_kafka_sink_errors_total",
			Help: "Messages that a write failed for, by kind of error.",
		}, []string{"kind"}),
		batches: f.NewCounterVec(prometheus.CounterOpts{
			Name: "flowhose_kafka_sink_batches_total",
			Help: "Pipeline batches settled, by result: ok or error.",
		}, []string{"result"}),
		writeSeconds: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "flowhose_kafka_sink_write_seconds",
			Help:    "Latency of one write of a batch's messages until every partition acknowledged them.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
		}),
		inFlight: f.NewGauge(prometheus.GaugeOpts{
			Name: "flowhose_kafka_sink_in_flight_batches",
			Help: "Pipeline batches being written.",
		}),
	}
}
