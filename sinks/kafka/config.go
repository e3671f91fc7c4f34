package kafka

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/flowhose/flowhose/sinks/internal/retry"
	"github.com/flowhose/flowhose/stream/kafkaconn"
)

// Formats of a message's value.
const (
	// FormatECS writes the enriched ECS document, as the other sinks do.
	FormatECS = "ecs"
	// FormatLine writes the original flow-log line.
	FormatLine = "line"
)

// maxBatchBytes is the largest batch_bytes: far above any broker's
// default message.max.bytes (1 MiB), and what one produce request of
// in_flight_batches can hold in memory stays bounded.
const maxBatchBytes = 64 << 20

// compressions are the accepted compression values and kafka-go's codecs
// (0: none).
var compressions = map[string]kafkago.Compression{
	"none":   0,
	"gzip":   kafkago.Gzip,
	"snappy": kafkago.Snappy,
	"lz4":    kafkago.Lz4,
	"zstd":   kafkago.Zstd,
}

// Config configures the Kafka sink (sinks.kafka).
type Config struct {
	kafkaconn.Config `yaml:",inline"`

	// Topic receives the messages; it must exist (the sink does not
	// create topics).
	Topic string `yaml:"topic"`
	// Format of a message's value: "ecs" (the enriched ECS document) or
	// "line" (the original flow-log line).
	Format string `yaml:"format"`
	// Key is the document field whose value is the message key, so that a
	// topic is partitioned by it (murmur2, as the Java client); empty for
	// no key. A record without the field gets no key and a random
	// partition. See sinks/kafka/README.md for the fields.
	Key string `yaml:"key"`
	// Dataset and Namespace fill event.dataset and data_stream.* in ECS
	// documents.
	Dataset   string `yaml:"dataset"`
	Namespace string `yaml:"namespace"`
	// EventOriginal adds event.original with the raw line to ECS documents.
	EventOriginal bool `yaml:"event_original"`

	// Compression of record batches: "none", "gzip", "snappy", "lz4" or
	// "zstd".
	Compression string `yaml:"compression"`
	// BatchMessages and BatchBytes end a partition's record batch, which
	// is one produce request: whichever is reached first. BatchBytes is
	// also the largest message: a larger one is dead-lettered unsent.
	// Keep it at most the topic's max.message.bytes (broker default
	// 1 MiB); a batch over the broker's limit is refused and its messages
	// are resent one by one. kafka-go allocates room for BatchMessages
	// messages (about 150 bytes each) for every record batch it starts.
	BatchMessages int   `yaml:"batch_messages"`
	BatchBytes    int64 `yaml:"batch_bytes"`
	// Linger is how long a partition's batch waits for more messages
	// before it is sent (1ms to 1m).
	Linger time.Duration `yaml:"linger"`
	// InFlightBatches bounds the pipeline batches being written at once;
	// Accept blocks while that many are in flight (back-pressure).
	InFlightBatches int `yaml:"in_flight_batches"`
	// RequestTimeout bounds one produce or metadata request.
	RequestTimeout time.Duration `yaml:"request_timeout"`

	retry.Policy `yaml:",inline"`
}

// DefaultConfig writes ECS documents keyed by source.ip to the topic
// flowhose-vpcflow on a local broker.
func DefaultConfig() Config {
	return Config{
		Config:          kafkaconn.Default("127.0.0.1:9092"),
		Topic:           "flowhose-vpcflow",
		Format:          FormatECS,
		Key:             "source.ip",
		Dataset:         "aws.vpcflow",
		Namespace:       "default",
		Compression:     "zstd",
		BatchMessages:   1000,
		BatchBytes:      1 << 20,
		Linger:          10 * time.Millisecond,
		InFlightBatches: 8,
		RequestTimeout:  30 * time.Second,
		Policy:          retry.DefaultPolicy(),
	}
}

// Kafka's rule for topic names.
var topicRe = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)

// Validate reports every bad setting by its key relative to the section.
func (c Config) Validate() error {
	errs := []error{c.Config.Validate()}
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !topicRe.MatchString(c.Topic) || c.Topic == "." || c.Topic == ".." {
		add("topic: must be 1 to 249 of a-z A-Z 0-9 . _ -, got %q", c.Topic)
	}
	switch c.Format {
	case FormatECS:
		if c.Dataset == "" {
			add("dataset: must not be empty")
		}
		if c.Namespace == "" {
			add("namespace: must not be empty")
		}
	case FormatLine:
	default:
		add("format: must be %q or %q, got %q", FormatECS, FormatLine, c.Format)
	}
	if _, ok := keyFields[c.Key]; !ok && c.Key != "" {
		add("key: must be empty or one of %s, got %q", strings.Join(KeyFields(), ", "), c.Key)
	}
	if _, ok := compressions[c.Compression]; !ok {
		add("compression: must be none, gzip, snappy, lz4 or zstd, got %q", c.Compression)
	}
	if c.BatchMessages < 1 || c.BatchMessages > 1_000_000 {
		add("batch_messages: must be between 1 and 1000000, got %d", c.BatchMessages)
	}
	if c.BatchBytes < 1024 || c.BatchBytes > maxBatchBytes {
		add("batch_bytes: must be between 1024 and %d, got %d", maxBatchBytes, c.BatchBytes)
	}
	if c.Linger < time.Millisecond || c.Linger > time.Minute {
		add("linger: must be between 1ms and 1m, got %s", c.Linger)
	}
	if c.InFlightBatches < 1 || c.InFlightBatches > 1024 {
		add("in_flight_batches: must be between 1 and 1024, got %d", c.InFlightBatches)
	}
	if c.RequestTimeout <= 0 {
		add("request_timeout: must be positive, got %s", c.RequestTimeout)
	}
	errs = append(errs, c.Policy.Validate())
	return errors.Join(errs...)
}
