// Package kafka is the sink that writes records to a Kafka topic, one
// message per record (the ECS document or the original line), keyed by a
// document field, and acknowledges a batch only once the brokers have
// accepted every message of it with acks=all (or a refused message has
// been dead-lettered). README.md describes configuration and behaviour.
package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/flowhose/flowhose/sinks"
	"github.com/flowhose/flowhose/sinks/internal/retry"
	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/ecs"
)

// IDHeader is the message header holding the record's document id
// (ecs.AppendID): a redelivered record carries the same id, so consumers
// can drop the duplicates that at-least-once delivery produces.
const IDHeader = "flowhose.id"

// ErrClosed is returned by Accept after Close has begun.
var ErrClosed = errors.New("kafka sink closed")

// Sink writes batches to a Kafka topic. It implements stream.Sink.
type Sink struct {
	cfg Config
	// w batches the messages of concurrent writes per partition; single
	// sends every message in a produce request of its own, to tell a
	// message the broker refuses from the neighbours refused with it.
	w, single *kafkago.Writer
	// tr is the writers' transport: its connection pools live until it
	// closes them, which the writers' Close does not do.
	tr  *kafkago.Transport
	dl  stream.DeadLetterWriter
	m   *metrics
	log *slog.Logger
	enc ecs.Encoder
	key keyFunc // nil: no key

	slots chan struct{} // one per batch being written
	// perRawKiB is the last batch's encoding per KiB of its original
	// lines, to allocate the next one's buffer once instead of growing
	// it. Per KiB of this batch's lines, not per record: a batch of one
	// long line would otherwise size the next large batch's buffer a
	// thousand times too large.
	perRawKiB atomic.Int64

	mu     sync.Mutex // guards closed and the Add of writes
	closed bool
	writes sync.WaitGroup

	// ctx ends when Close runs out of time: writes and retries stop.
	ctx    context.Context
	cancel context.CancelFunc
}

// New returns a sink writing to cfg's topic, logging to slog.Default().
// Refused messages go to dl. Metrics register on reg (nil: unregistered).
// New does no I/O; Open also checks that the topic can be reached.
func New(cfg Config, dl stream.DeadLetterWriter, reg prometheus.Registerer) (*Sink, error) {
	return newSink(cfg, dl, reg, slog.Default())
}

func newSink(cfg Config, dl stream.DeadLetterWriter, reg prometheus.Registerer, log *slog.Logger) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	if dl == nil {
		return nil, errors.New("kafka: a dead-letter writer is required")
	}
	tr, err := cfg.Transport()
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	cfg.WarnInsecure(log, "sinks.kafka")
	writer := func(batchMessages int) *kafkago.Writer {
		return &kafkago.Writer{
			Addr:  cfg.Addr(),
			Topic: cfg.Topic,
			// The Java client's partitioner for keyed messages, so that
			// every producer of the topic puts a key in the same partition.
			Balancer:     &kafkago.Murmur2Balancer{},
			RequiredAcks: kafkago.RequireAll,
			Compression:  compressions[cfg.Compression],
			BatchSize:    batchMessages,
			BatchBytes:   cfg.BatchBytes,
			BatchTimeout: cfg.Linger,
			ReadTimeout:  cfg.RequestTimeout,
			WriteTimeout: cfg.RequestTimeout,
			// Retries are the sink's: bounded by retry_for, of only the
			// messages that failed, and visible in its metrics.
			MaxAttempts: 1,
			Transport:   tr,
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sink{
		cfg:    cfg,
		w:      writer(cfg.BatchMessages),
		single: writer(1),
		tr:     tr,
		dl:     dl,
		m:      newMetrics(reg),
		log:    log.With("sink", "kafka"),
		enc:    ecs.Encoder{Dataset: cfg.Dataset, Namespace: cfg.Namespace, Original: cfg.EventOriginal},
		slots:  make(chan struct{}, cfg.InFlightBatches),
		ctx:    ctx,
		cancel: cancel,
	}
	if cfg.Key != "" {
		s.key = keyFields[cfg.Key]
	}
	return s, nil
}

// Open is the sink's factory (see package sinks): it builds the sink and
// asks the brokers for the topic's metadata, so that brokers that cannot
// be reached, a topic that does not exist or credentials that do not
// work fail start-up loudly. The request is bounded by request_timeout.
func Open(ctx context.Context, cfg Config, deps sinks.Deps) (stream.Sink, error) {
	log := deps.Logger
	if log == nil {
		log = slog.Default()
	}
	s, err := newSink(cfg, deps.DeadLetter, deps.Registerer, log)
	if err != nil {
		return nil, err
	}
	if err := cfg.CheckTopic(ctx, s.w.Transport, cfg.Topic, cfg.RequestTimeout); err != nil {
		return nil, errors.Join(err, s.Close(context.Background()))
	}
	return s, nil
}

// Name implements stream.Sink.
func (s *Sink) Name() string { return "kafka" }

// Accept implements stream.Sink. It encodes the batch into messages and
// writes them from a goroutine of its own, blocking while
// in_flight_batches are being written: the back-pressure sources feel
// while the brokers are slow or down. ctx is honoured only before the
// batch is taken.
func (s *Sink) Accept(ctx context.Context, b *stream.Batch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(b.Records) == 0 {
		b.Ack.Done(nil)
		return nil
	}
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.slots
		return ErrClosed
	}
	s.writes.Add(1)
	s.mu.Unlock()
	s.m.inFlight.Inc()
	msgs := s.encode(b.Records)
	go func() {
		defer s.writes.Done()
		err := s.write(b.Records, msgs)
		s.m.inFlight.Dec()
		<-s.slots
		if err != nil {
			s.m.batches.WithLabelValues("error").Inc()
		} else {
			s.m.batches.WithLabelValues("ok").Inc()
		}
		b.Ack.Done(err)
	}()
	return nil
}

// encode builds one message per record. Values, keys and ids share one
// buffer per batch, which is never reused: kafka-go may still read a
// message after a write gave up on it.
func (s *Sink) encode(recs []stream.Record) []kafkago.Message {
	type span struct{ key, val, id int }
	ends := make([]span, len(recs))
	raw := int64(0)
	for i := range recs {
		raw += int64(len(recs[i].Raw))
	}
	// A little over the last batch's ratio, so that a batch of slightly
	// larger documents does not copy the whole buffer once more.
	buf := make([]byte, 0, raw*s.perRawKiB.Load()/1024*9/8)
	for i := range recs {
		r := &recs[i]
		e := &ends[i]
		e.key = -1
		if s.key != nil {
			var ok bool
			if buf, ok = s.key(buf, r); ok {
				e.key = len(buf)
			}
		}
		if s.cfg.Format == FormatLine {
			buf = append(buf, r.Raw...)
		} else {
			buf = s.enc.Append(buf, r)
		}
		e.val = len(buf)
		buf = ecs.AppendID(buf, r)
		e.id = len(buf)
	}
	if raw > 0 {
		s.perRawKiB.Store(int64(len(buf)) * 1024 / raw)
	}
	msgs := make([]kafkago.Message, len(recs))
	headers := make([]kafkago.Header, len(recs))
	off := 0
	for i, e := range ends {
		m := &msgs[i]
		if e.key >= 0 {
			// A present but empty value is still a key, hashed like any
			// other; only an absent one leaves the key nil (random
			// partition).
			m.Key = buf[off:e.key:e.key]
			off = e.key
		}
		m.Value = buf[off:e.val:e.val]
		headers[i] = kafkago.Header{Key: IDHeader, Value: buf[e.val:e.id:e.id]}
		m.Headers = headers[i : i+1 : i+1]
		off = e.id
	}
	return msgs
}

// size bounds what kafka-go counts for a message against BatchBytes (its
// record fields, length prefixes and headers), from above, so that a
// message it would refuse before sending is dead-lettered here instead:
// kafka-go refuses the whole write for it.
func size(m *kafkago.Message) int64 {
	n := int64(32 + len(m.Key) + len(m.Value))
	for _, h := range m.Headers {
		n += int64(16 + len(h.Key) + len(h.Value))
	}
	return n
}

// write delivers msgs, the messages of recs, and returns nil once every
// one is accepted by the brokers or dead-lettered. Messages that fail for
// a reason that may pass (network, leadership, timeouts, missing topic or
// permissions, which an operator can fix) are resent with backoff until
// retry_for; then the batch fails with a retryable error, for the source
// to redeliver it. Messages the brokers refuse for what they are (too
// large, invalid) are dead-lettered.
func (s *Sink) write(recs []stream.Record, msgs []kafkago.Message) error {
	begin := time.Now()
	var (
		pending, next, isolate []int // indexes into msgs
		dead                   []stream.Failure
		cause                  error
	)
	for i := range msgs {
		if n := size(&msgs[i]); n > s.cfg.BatchBytes {
			s.m.errors.WithLabelValues("message_too_large").Inc()
			dead = append(dead, s.failure(&recs[i], fmt.Errorf("message of about %d bytes exceeds batch_bytes (%d)", n, s.cfg.BatchBytes)))
			continue
		}
		pending = append(pending, i)
	}
	for attempt := 0; len(pending) > 0; attempt++ {
		if attempt > 0 {
			delay := retry.Backoff(s.cfg.RetryInitial, s.cfg.RetryMax, attempt-1)
			if s.cfg.RetryFor > 0 && time.Since(begin)+delay > s.cfg.RetryFor {
				return s.giveUp(len(pending), attempt, cause)
			}
			s.log.Warn("retrying messages", "messages", len(pending), "attempt", attempt+1, "delay", delay, "err", cause)
			s.m.retried.Add(float64(len(pending)))
			if !retry.Sleep(s.ctx, delay) {
				return s.giveUp(len(pending), attempt, fmt.Errorf("sink closing: %w", cause))
			}
		}
		next, isolate = next[:0], isolate[:0]
		errs := s.send(s.w, msgs, pending)
		for j, i := range pending {
			switch err := errs[j]; {
			case err == nil:
			case isRefused(err):
				isolate = append(isolate, i)
			default:
				s.m.errors.WithLabelValues(errorKind(err)).Inc()
				next, cause = append(next, i), err
			}
		}
		if len(isolate) > 0 {
			// Refused with its batch: alone, each message is either
			// accepted or refused for itself. Every batch refused is a
			// sign that batch_bytes exceeds the topic's limit.
			s.log.Warn("broker refused a record batch, resending its messages one by one",
				"messages", len(isolate), "topic", s.cfg.Topic)
			errs = s.send(s.single, msgs, isolate)
			for j, i := range isolate {
				err := errs[j]
				if err == nil {
					continue
				}
				s.m.errors.WithLabelValues(errorKind(err)).Inc()
				if isRefused(err) {
					dead = append(dead, s.failure(&recs[i], err))
				} else {
					next, cause = append(next, i), err
				}
			}
		}
		pending, next = next, pending
	}
	if len(dead) == 0 {
		return nil
	}
	if err := s.dl.WriteFailures(s.ctx, dead); err != nil {
		s.log.Error("dead-letter write failed", "messages", len(dead), "err", err)
		s.m.failed.Add(float64(len(dead)))
		return fmt.Errorf("kafka: dead-letter refused messages: %w", err)
	}
	s.m.deadLettered.Add(float64(len(dead)))
	return nil
}

// send writes the messages msgs[idx...] through w and returns each one's
// outcome, nil when the brokers accepted it. An error of the whole write
// (metadata, a closing sink) is every message's.
func (s *Sink) send(w *kafkago.Writer, msgs []kafkago.Message, idx []int) []error {
	sub := make([]kafkago.Message, len(idx))
	for j, i := range idx {
		sub[j] = msgs[i]
	}
	start := time.Now()
	err := w.WriteMessages(s.ctx, sub...)
	s.m.writeSeconds.Observe(time.Since(start).Seconds())
	errs := make([]error, len(idx))
	var werrs kafkago.WriteErrors
	if errors.As(err, &werrs) && len(werrs) == len(idx) {
		copy(errs, werrs)
	} else if err != nil {
		for j := range errs {
			errs[j] = err
		}
	}
	var n, bytes int
	for j, e := range errs {
		if e == nil {
			n++
			bytes += len(sub[j].Key) + len(sub[j].Value)
		}
	}
	s.m.written.Add(float64(n))
	s.m.bytes.Add(float64(bytes))
	return errs
}

// failure is the dead-letter entry of a message refused with err.
func (s *Sink) failure(r *stream.Record, err error) stream.Failure {
	return stream.Failure{
		Source: "kafka",
		Input:  r.Raw,
		Reason: fmt.Sprintf("kafka refused the message for topic %s: %v", s.cfg.Topic, err),
	}
}

// giveUp fails a batch whose n messages are still undelivered, for the
// source to redeliver it.
func (s *Sink) giveUp(n, attempts int, cause error) error {
	s.log.Error("giving up on messages", "messages", n, "attempts", attempts, "err", cause)
	s.m.failed.Add(float64(n))
	return fmt.Errorf("kafka: %d messages not written after %d attempts: %w", n, attempts, cause)
}

// isRefused reports whether the broker refused a message for what it is
// (or for the batch it came in): too large for the topic's
// max.message.bytes or the segment, or an invalid record. Sending it
// again as it is cannot help.
func isRefused(err error) bool {
	return errors.Is(err, kafkago.MessageSizeTooLarge) ||
		errors.Is(err, kafkago.RecordListTooLarge) ||
		errors.Is(err, kafkago.InvalidRecord)
}

// errorKind is the metric label of an error: a small, fixed set.
func errorKind(err error) string {
	var ke kafkago.Error
	switch {
	case errors.Is(err, kafkago.MessageSizeTooLarge), errors.Is(err, kafkago.RecordListTooLarge):
		return "message_too_large"
	case errors.Is(err, kafkago.InvalidRecord):
		return "invalid_record"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, kafkago.RequestTimedOut):
		return "timeout"
	case errors.Is(err, kafkago.NotLeaderForPartition), errors.Is(err, kafkago.LeaderNotAvailable):
		return "leader"
	case errors.Is(err, kafkago.NotEnoughReplicas), errors.Is(err, kafkago.NotEnoughReplicasAfterAppend):
		return "replicas"
	case errors.Is(err, kafkago.UnknownTopicOrPartition):
		return "unknown_topic"
	case errors.Is(err, kafkago.TopicAuthorizationFailed), errors.Is(err, kafkago.ClusterAuthorizationFailed),
		errors.Is(err, kafkago.SASLAuthenticationFailed):
		return "auth"
	case errors.As(err, &ke):
		return "broker"
	}
	return "network"
}

// Close implements stream.Sink: it stops taking batches and waits until
// every accepted batch is settled. When ctx ends first, writes and
// retries stop, the undelivered batches fail (for the source to
// redeliver), and Close returns ctx's error.
func (s *Sink) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.writes.Wait()
		close(done)
	}()
	var gaveUp error
	select {
	case <-done:
	case <-ctx.Done():
		s.cancel()
		<-done
		gaveUp = fmt.Errorf("kafka: close gave up writing: %w", ctx.Err())
	}
	s.cancel()
	err := errors.Join(gaveUp, s.w.Close(), s.single.Close())
	s.tr.CloseIdleConnections()
	return err
}
