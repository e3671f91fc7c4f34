// Package kafka writes alerts to a Kafka topic as JSON messages keyed by
// the alert id, each acknowledged by every in-sync replica before it
// counts as delivered.
package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/flowhose/flowhose/sinks/alert"
	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/detect"
	"github.com/flowhose/flowhose/stream/kafkaconn"
)

// Config is the Kafka destination's settings: the connection keys shared
// with the Kafka sink and source, the topic and the size of one alert.
type Config struct {
	kafkaconn.Config `yaml:",inline"`
	// Topic receives the alerts; it must exist (it is not created).
	Topic string `yaml:"topic"`
	// RequestTimeout bounds the metadata request at start-up and one
	// produce request.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// MaxMessageBytes is the largest alert message; keep it at most the
	// topic's max.message.bytes. A larger alert is sent without its
	// sample ids and tags, and dead-lettered if still too large.
	MaxMessageBytes int `yaml:"max_message_bytes"`
}

// messageOverhead is room in max_message_bytes for the key (32 bytes),
// the headers and the record's framing.
const messageOverhead = 512

// Bounds of MaxMessageBytes: an alert without samples is a few KiB.
const (
	minMessageBytes = 4 << 10
	maxMessageBytes = 64 << 20
)

// DefaultConfig writes to flowhose-alerts on a local broker.
func DefaultConfig() Config {
	return Config{Config: kafkaconn.Default("127.0.0.1:9092"), Topic: "flowhose-alerts",
		RequestTimeout: 10 * time.Second, MaxMessageBytes: 1 << 20}
}

// Validate reports every bad setting relative to the section.
func (c Config) Validate() error {
	errs := []error{c.Config.Validate()}
	if !kafkaconn.ValidTopic(c.Topic) {
		errs = append(errs, fmt.Errorf("topic: must be 1 to 249 of a-z A-Z 0-9 . _ -, got %q", c.Topic))
	}
	if c.RequestTimeout <= 0 {
		errs = append(errs, fmt.Errorf("request_timeout: must be positive, got %s", c.RequestTimeout))
	}
	if c.MaxMessageBytes < minMessageBytes || c.MaxMessageBytes > maxMessageBytes {
		errs = append(errs, fmt.Errorf("max_message_bytes: must be between %d and %d, got %d", minMessageBytes, maxMessageBytes, c.MaxMessageBytes))
	}
	return errors.Join(errs...)
}

type destination struct {
	cfg Config
	w   *kafkago.Writer
}

// Open builds the writer and checks that the topic can be reached, so
// that a wrong broker, topic or credential fails start-up.
func Open(ctx context.Context, cfg Config, deps alert.Deps) (alert.Destination, error) {
	log := deps.Logger
	if log == nil {
		log = slog.Default()
	}
	cfg.WarnInsecure(log, "sinks.detections.kafka")
	tr, err := cfg.Transport()
	if err != nil {
		return nil, err
	}
	w := &kafkago.Writer{
		Addr:  cfg.Addr(),
		Topic: cfg.Topic,
		// The Java client's partitioner: an alert id raised by several
		// replicas lands in one partition, where a compacted topic or a
		// consumer keeps one of them.
		Balancer:     &kafkago.Murmur2Balancer{},
		RequiredAcks: kafkago.RequireAll,
		// One alert is one produce request: the dispatcher sends one at
		// a time and waits for its answer, so batching would only add
		// BatchTimeout's delay.
		BatchSize:    1,
		BatchBytes:   int64(cfg.MaxMessageBytes),
		ReadTimeout:  cfg.RequestTimeout,
		WriteTimeout: cfg.RequestTimeout,
		// Retries are the dispatcher's, with its backoff and max_elapsed.
		MaxAttempts: 1,
		Transport:   tr,
	}
	if err := cfg.CheckTopic(ctx, tr, cfg.Topic, cfg.RequestTimeout); err != nil {
		return nil, errors.Join(err, w.Close())
	}
	return &destination{cfg: cfg, w: w}, nil
}

func (d *destination) Name() string { return "kafka" }

// Send writes the alert and returns once the partition leader has it
// from every in-sync replica (acks=all), or the error for that message.
func (d *destination) Send(ctx context.Context, a *detect.Alert) error {
	body, err := alert.EncodeWithin(a, d.cfg.MaxMessageBytes-messageOverhead)
	if err != nil {
		return stream.Permanent(err)
	}
	msg := kafkago.Message{Key: []byte(a.ID), Value: body, Headers: []kafkago.Header{
		{Key: "rule", Value: []byte(a.Rule)}, {Key: "severity", Value: []byte(a.Severity)}}}
	err = d.w.WriteMessages(ctx, msg)
	var we kafkago.WriteErrors
	if errors.As(err, &we) && len(we) == 1 {
		err = we[0]
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, kafkago.MessageSizeTooLarge), errors.Is(err, kafkago.RecordListTooLarge),
		errors.Is(err, kafkago.InvalidRecord):
		// The broker refuses this message as it is: resending cannot help.
		return stream.Permanent(fmt.Errorf("kafka write to %s: %w", d.cfg.Topic, err))
	}
	return fmt.Errorf("kafka write to %s: %w", d.cfg.Topic, err)
}

// Close closes the writer's connections, once the dispatcher is done.
func (d *destination) Close() error { return d.w.Close() }
