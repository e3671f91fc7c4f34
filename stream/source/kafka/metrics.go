package kafka

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

type metrics struct {
	messages       *prometheus.CounterVec // by topic: the configured topics only
	bytes          prometheus.Counter
	records        prometheus.Counter
	failures       prometheus.Counter
	commits        prometheus.Counter
	commitFailures prometheus.Counter
	rebalances     prometheus.Counter
	groupErrors    prometheus.Counter
	fetchErrors    prometheus.Counter
	retries        prometheus.Counter
	deadLettered   prometheus.Counter
	abandoned      prometheus.Counter
	paused         prometheus.Counter
	offsetResets   *prometheus.CounterVec // by position: before_start, after_end
	assigned       prometheus.Gauge
	// lag has a series per partition assigned to this member, removed
	// when the partition is revoked: the label set is bounded by the
	// topics' partition counts.
	lag *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer, l *limiter) *metrics {
	f := promauto.With(reg)
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "flowhose_kafka_source_in_flight_messages",
		Help: "Kafka messages taken and not yet settled (max_in_flight_messages bounds it).",
	}, func() float64 { n, _ := l.inFlight(); return float64(n) })
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "flowhose_kafka_source_in_flight_bytes",
		Help: "Bytes of Kafka messages taken and not yet settled (max_in_flight_bytes bounds it).",
	}, func() float64 { _, n := l.inFlight(); return float64(n) })
	return &metrics{
		messages: f.NewCounterVec(prometheus.CounterOpts{
			Name: "flowhose_kafka_source_messages_total",
			Help: "Kafka messages taken for decoding, by topic (redeliveries included).",
		}, []string{"topic"}),
		bytes: f.NewCounter(prometheus.CounterOpts{
			Name: "flowhose_kafka_source_bytes_total",
			Help: "Bytes of Kafka message values taken for decoding.",
		}),
		records: f.NewCounter(prometheus.CounterOpts{
			Name: "flowhose_kafka_source_records_total",
			Help: "Flow-log records decoded from Kafka messages.",
		}),
		failures: f.NewCounter(prometheus.CounterOpts{
			Name: "flowhose_kafka_source_decode_failures_total",
			Help: "Inputs in Kafka messages that failed to decode (dead-lettered).",
		}),
		commits: f.NewCounter(prometheus.CounterOpts{
			Name: "flowhose_kafka_source_commits_total",
			Help: "Offset commits the group coordinator accepted.",
		}),
		commitFailures: f.NewCounter(prometheus.CounterOpts{
			Name: "flowhose_kafka_source_commit_failures_total",
			Help: "Offset commits that failed (retried at the next commit_interval while the partition is owned).",
		}),
		rebalances: f.NewCounter(prometheus.CounterOpts{
			Name: "flowhose_kafka_source_rebalances_total",
			Help: "Consumer-group generations this member joined (each is a rebalance).",
		}),
		groupErrors: f.NewCounter(prometheus.CounterOpts{
			Name: "flowhose_kafka_source_group_errors_total",
			Help: "Failures to join or sync the consumer group (retried).",
		}),
		fetchErrors: f.NewCounter(prometheus.CounterOpts{
			Name: "flowhose_kafka_source_fetch_errors_total",
			Help: "Fetch errors reported by a partition reader (retried).",
		}),
		retries: f.NewCounter(prometheus.CounterOpts{
			Name: "flowhose_kafka_source_batch_retries_total",
			Help: "Batches handed to the pipeline again after a sink failed them.",
		}),
		deadLettered: f.NewCounter(prometheus.CounterOpts{
			Name: "flowhose_kafka_source_permanent_failures_total",
			Help: "Records a sink refused for good, dead-lettered with their offsets.",
		}),
		abandoned: f.NewCounter(prometheus.CounterOpts{
			Name: "flowhose_kafka_source_abandoned_messages_total",
			Help: "Messages taken but not delivered when their partition was revoked or the process stopped: not committed, read again by the partition's next owner.",
		}),
		paused: f.NewCounter(prometheus.CounterOpts{
			Name: "flowhose_kafka_source_paused_seconds_total",
			Help: "Time partitions spent not fetching because the in-flight limits or the memory budget were reached (summed over partitions).",
		}),
		offsetResets: f.NewCounterVec(prometheus.CounterOpts{
			Name: "flowhose_kafka_source_offset_resets_total",
			Help: "Partitions whose committed offset was outside the log when assigned (before_start: data deleted, resumed at the log start; after_end: also resumed at the log start).",
		}, []string{"position"}),
		assigned: f.NewGauge(prometheus.GaugeOpts{
			Name: "flowhose_kafka_source_assigned_partitions",
			Help: "Partitions assigned to this member in the current generation.",
		}),
		lag: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "flowhose_kafka_source_lag_messages",
			Help: "Offsets between the partition's high watermark and the committed offset, per partition assigned to this member.",
		}, []string{"topic", "partition"}),
	}
}
