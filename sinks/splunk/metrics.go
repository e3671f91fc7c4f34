package splunk

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics are the sink's Prometheus instruments.
type metrics struct {
	delivered      prometheus.Counter
	deadLettered   prometheus.Counter
	failed         prometheus.Counter
	bytes          prometheus.Counter
	requests       *prometheus.CounterVec
	requestSeconds prometheus.Histogram
	retries        prometheus.Counter
	splits         prometheus.Counter
	resends        prometheus.Counter
	acksPending    prometheus.Gauge
	ackWait        prometheus.Histogram
	ackPollErrors  prometheus.Counter
	configError    *prometheus.GaugeVec
	healthy        *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer, targets []*target) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		delivered: f.NewCounter(prometheus.CounterOpts{
			Name: "flowhose_splunk_events_delivered_total",
			Help: "Events Splunk acknowledged as indexed (with ack off: answered with code 0).",
		}),
		deadLettered: f.NewCounter(prometheus.CounterOpts{
			Name: "flowhose_splunk_events_dead_lettered_total",
			Help: "Events HEC refused for their content, written to the dead-letter sink.",
		}),
		failed: f.NewCounter(prometheus.CounterOpts{
			Name: "flowhose_splunk_events_failed_total",
			Help: "Events given up (retry_for passed, or Close gave up); their batches were failed for redelivery.",
		}),
		bytes: f.NewCounter(prometheus.CounterOpts{
			Name: "flowhose_splunk_sent_bytes_total",
			Help: "Request body bytes (compressed when compress is on) HEC accepted.",
		}),
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "flowhose_splunk_requests_total",
			Help: "Event requests by HEC answer code (other: a code not in the HEC table; none: no code); error: no answer, http_<status>: an answer that is not HEC's JSON.",
		}, []string{"code"}),
		requestSeconds: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "flowhose_splunk_request_seconds",
			Help:    "Latency of one event request.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
		}),
		retries: f.NewCounter(prometheus.CounterOpts{
			Name: "flowhose_splunk_retries_total",
			Help: "Event requests retried after a busy, server, transport or configuration error.",
		}),
		splits: f.NewCounter(prometheus.CounterOpts{
			Name: "flowhose_splunk_splits_total",
			Help: "Requests refused for their content without the bad event's number, split in halves.",
		}),
		resends: f.NewCounter(prometheus.CounterOpts{
			Name: "flowhose_splunk_resends_total",
			Help: "Requests sent again because their ack did not come within ack_timeout.",
		}),
		acksPending: f.NewGauge(prometheus.GaugeOpts{
			Name: "flowhose_splunk_acks_pending",
			Help: "Requests sent and awaiting their indexer acknowledgement.",
		}),
		ackWait: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "flowhose_splunk_ack_wait_seconds",
			Help:    "Time from a request's success answer to Splunk reporting it indexed.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2.5, 12),
		}),
		ackPollErrors: f.NewCounter(prometheus.CounterOpts{
			Name: "flowhose_splunk_ack_poll_errors_total",
			Help: "Ack queries that failed or were not answered properly.",
		}),
		configError: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "flowhose_splunk_config_error",
			Help: "1 while the HEC URL refuses requests for their configuration (token, index, channel, URL): an operator must act; it is skipped but for a request every health_check_interval.",
		}, []string{"url"}),
		healthy: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "flowhose_splunk_url_healthy",
			Help: "1 while the HEC URL is healthy, 0 while it is skipped until its health check passes.",
		}, []string{"url"}),
	}
	for _, t := range targets {
		m.healthy.WithLabelValues(t.label).Set(1)
		m.configError.WithLabelValues(t.label).Set(0)
	}
	return m
}
