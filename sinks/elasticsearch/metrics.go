package elasticsearch

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics are the sink's Prometheus instruments.
type metrics struct {
	indexed       prometheus.Counter
	duplicates    prometheus.Counter
	retried       prometheus.Counter
	deadLettered  prometheus.Counter
	failed        prometheus.Counter
	splits        prometheus.Counter
	requests      *prometheus.CounterVec
	bulkSeconds   prometheus.Histogram
	inFlightBytes prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		indexed: f.NewCounter(prometheus.CounterOpts{
			Name: "flowhose_elasticsearch_docs_indexed_total",
			Help: "Documents Elasticsearch created.",
		}),
		duplicates: f.NewCounter(prometheus.CounterOpts{
			Name: "flowhose_elasticsearch_docs_duplicate_total",
			Help: "Documents that already existed (redeliveries), counted as delivered.",
		}),
		retried: f.NewCounter(prometheus.CounterOpts{
			Name: "flowhose_elasticsearch_docs_retried_total",
			Help: "Document sends repeated after a 429, a 5xx or a failed request.",
		}),
		deadLettered: f.NewCounter(prometheus.CounterOpts{
			Name: "flowhose_elasticsearch_docs_dead_lettered_total",
			Help: "Documents Elasticsearch refused for good, written to the dead-letter sink.",
		}),
		failed: f.NewCounter(prometheus.CounterOpts{
			Name: "flowhose_elasticsearch_docs_failed_total",
			Help: "Documents given up after retry_for; their batches were failed for redelivery.",
		}),
		splits: f.NewCounter(prometheus.CounterOpts{
			Name: "flowhose_elasticsearch_bulk_splits_total",
			Help: "Bulk requests refused as a whole (400, 413) and split in halves.",
		}),
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "flowhose_elasticsearch_bulk_requests_total",
			Help: "Bulk requests by result: ok, item_errors (some items failed) or error (the whole request failed).",
		}, []string{"result"}),
		bulkSeconds: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "flowhose_elasticsearch_bulk_seconds",
			Help:    "Latency of one bulk request.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
		}),
		inFlightBytes: f.NewGauge(prometheus.GaugeOpts{
			Name: "flowhose_elasticsearch_in_flight_bytes",
			Help: "Uncompressed bytes of bulk requests queued or being sent.",
		}),
	}
}
