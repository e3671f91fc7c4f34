package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/source"
	"github.com/flowhose/flowhose/stream/source/file"
)

// sqsMaxMessages is the most messages one ReceiveMessage call returns.
const sqsMaxMessages = 10

// receiveRetryWait is the pause after a failed receive call (the SDK has
// retried it already), and after an empty one when wait_time is 0.
const receiveRetryWait = time.Second

// settleTimeout bounds the delete or release of a message once its fate is
// known, even when the consumer is stopping.
const settleTimeout = 30 * time.Second

// Consumer is the live S3 source: it receives object-created notifications
// from an SQS queue, replays the objects they name, and deletes a message
// only once every record of every object it names is acknowledged by all
// sinks (or dead-lettered).
type Consumer struct {
	// DrainLimit bounds how long, once Run's context ends, the
	// visibility of messages still in flight keeps being extended; zero
	// extends it until they are settled. Open sets it to serve's drain
	// bound (http.shutdown_timeout).
	DrainLimit time.Duration

	cfg      Config
	clients  Clients
	replayer *file.Replayer
	log      *slog.Logger
	m        metrics
}

type metrics struct {
	messages *prometheus.CounterVec
	failures *prometheus.CounterVec
	objects  prometheus.Counter
	bytes    prometheus.Counter
	records  prometheus.Counter
}

// NewConsumer returns a Consumer of cfg.QueueURL that reads objects with
// clients.S3 through replayer (whose decode options should name the source
// "s3"). reg receives the metrics (nil: unregistered); log may be nil.
func NewConsumer(cfg Config, clients Clients, replayer *file.Replayer, reg prometheus.Registerer, log *slog.Logger) (*Consumer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("s3 source: %w", err)
	}
	if clients.S3 == nil || clients.SQS == nil || replayer == nil {
		return nil, errors.New("s3 source: S3 and SQS clients and a replayer are required")
	}
	if log == nil {
		log = slog.Default()
	}
	f := promauto.With(reg)
	return &Consumer{cfg: cfg, clients: clients, replayer: replayer, log: log, m: metrics{
		messages: f.NewCounterVec(prometheus.CounterOpts{Name: "flowhose_s3_sqs_messages_total",
			Help: "SQS messages by what was done with them: received, deleted, extended (visibility), released (made visible again at shutdown)."}, []string{"action"}),
		failures: f.NewCounterVec(prometheus.CounterOpts{Name: "flowhose_s3_failures_total",
			Help: "S3 source failures by reason: receive, extend, delete, undelivered (a message left for redelivery), unparseable (a message dead-lettered)."}, []string{"reason"}),
		objects: f.NewCounter(prometheus.CounterOpts{Name: "flowhose_s3_objects_total", Help: "S3 objects read completely (delivered or dead-lettered)."}),
		bytes:   f.NewCounter(prometheus.CounterOpts{Name: "flowhose_s3_bytes_total", Help: "Bytes read from S3 objects, as stored (compressed)."}),
		records: f.NewCounter(prometheus.CounterOpts{Name: "flowhose_s3_records_total", Help: "Flow-log records read from S3 objects."}),
	}}, nil
}

// Open builds the live source of `serve`: a Consumer run as a background
// loop. Objects are read with the section's file settings.
func Open(ctx context.Context, cfg Config, deps source.Deps) (source.Source, error) {
	clients, err := NewClients(ctx, cfg)
	if err != nil {
		return source.Source{}, err
	}
	r, err := file.New(cfg.Config, deps.Decode, deps.Pipeline, deps.Logger)
	if err != nil {
		return source.Source{}, err
	}
	c, err := NewConsumer(cfg, clients, r, deps.Registerer, deps.Logger)
	if err != nil {
		return source.Source{}, err
	}
	c.DrainLimit = deps.DrainLimit
	return source.Source{Run: c.Run}, nil
}

// Run receives and handles messages, Config.Concurrency at a time, until
// ctx ends; then it waits for the messages in hand, which stop reading and
// are made visible again unless they were complete.
func (c *Consumer) Run(ctx context.Context) error {
	slots := make(chan struct{}, c.cfg.Concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		// One free slot at least, then as many more as are free.
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		n := 1
	more:
		for n < sqsMaxMessages {
			select {
			case slots <- struct{}{}:
				n++
			default:
				break more
			}
		}
		out, err := c.clients.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(c.cfg.QueueURL),
			MaxNumberOfMessages:         int32(n),
			WaitTimeSeconds:             int32(c.cfg.WaitTime / time.Second),
			VisibilityTimeout:           int32(c.cfg.VisibilityTimeout / time.Second),
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount},
		})
		var got []types.Message
		if err == nil {
			got = out.Messages
		}
		for range n - len(got) {
			<-slots
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			c.m.failures.WithLabelValues("receive").Inc()
			c.log.Error("s3 source: receive failed", "queue", c.cfg.QueueURL, "err", err)
			select {
			case <-time.After(receiveRetryWait):
			case <-ctx.Done():
				return nil
			}
			continue
		}
		if len(got) == 0 && c.cfg.WaitTime == 0 {
			// Short polling answers at once: without a pause an empty
			// queue would be asked in a loop, every request billed.
			select {
			case <-time.After(receiveRetryWait):
			case <-ctx.Done():
				return nil
			}
			continue
		}
		for _, msg := range got {
			c.m.messages.WithLabelValues("received").Inc()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-slots }()
				c.handle(ctx, msg)
			}()
		}
	}
}

// handle replays the objects of one message and deletes it when all of
// them were delivered.
func (c *Consumer) handle(ctx context.Context, msg types.Message) {
	id := aws.ToString(msg.MessageId)
	log := c.log.With("message_id", id, "receive_count", msg.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
	inputs, err := c.inputs(msg)
	if err != nil {
		// A message that can never name objects is dead-lettered, and
		// deleted once the dead letter is stored. The dead letter holds
		// the message (as far as max_message_bytes), so that the objects
		// of one naming too many can still be replayed.
		c.m.failures.WithLabelValues("unparseable").Inc()
		log.Warn("s3 source: message dead-lettered", "err", err)
		body := aws.ToString(msg.Body)
		bad := stream.Permanent(&file.InputError{Err: err, Input: body[:min(len(body), c.cfg.MaxMessageBytes)]})
		inputs = []file.Input{{Name: "sqs message " + id, Open: func(context.Context) (io.ReadCloser, error) {
			return nil, bad
		}}}
	}
	stop := c.extend(ctx, msg, log)
	sum, err := c.replayer.RunInputs(ctx, inputs)
	stop()
	c.m.records.Add(float64(sum.Records))
	if err != nil || sum.Errors > 0 {
		c.m.failures.WithLabelValues("undelivered").Inc()
		if ctx.Err() != nil {
			// Stopping: let another consumer have it now rather than
			// after the visibility timeout.
			c.release(msg, log)
			return
		}
		log.Warn("s3 source: message left for redelivery", "err", err, "failed", sum.Errors)
		return
	}
	c.m.objects.Add(float64(sum.Files))
	c.delete(msg, log)
}

// inputs are the objects a message names, as replay inputs.
func (c *Consumer) inputs(msg types.Message) ([]file.Input, error) {
	body := aws.ToString(msg.Body)
	if len(body) > c.cfg.MaxMessageBytes {
		return nil, fmt.Errorf("message of %d bytes exceeds max_message_bytes (%d)", len(body), c.cfg.MaxMessageBytes)
	}
	refs, err := parseNotification([]byte(body))
	if err != nil {
		return nil, err
	}
	if len(refs) > c.cfg.MaxObjectsPerMessage {
		return nil, fmt.Errorf("message names %d objects, more than max_objects_per_message (%d)", len(refs), c.cfg.MaxObjectsPerMessage)
	}
	inputs := make([]file.Input, len(refs))
	for i, r := range refs {
		inputs[i] = objectInput(c.clients.S3, r.bucket, r.key, c.m.bytes)
	}
	return inputs, nil
}

// extend keeps the message invisible while its objects are in flight, by
// renewing its visibility timeout every half of it, until stop is called.
// It goes on when ctx ends: the drain still delivers the message's
// batches, and a message visible again meanwhile would be delivered by
// another replica at the same time. It gives up DrainLimit after ctx
// ended, when serve gives up too.
//
// Each renewal call is bounded by the renewal interval, half the
// visibility timeout: a call that takes longer lands after the visibility
// it was meant to extend has lapsed, and a hung one must not hold up the
// renewals after it. stop cancels a call in progress, so a hung SQS never
// delays the message's delete or release, nor shutdown.
func (c *Consumer) extend(ctx context.Context, msg types.Message, log *slog.Logger) (stop func()) {
	every := c.cfg.VisibilityTimeout / 2
	life, end := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		stopping, deadline := ctx.Done(), (<-chan time.Time)(nil)
		for {
			select {
			case <-life.Done():
				return
			case <-stopping:
				stopping = nil
				if c.DrainLimit > 0 {
					d := time.NewTimer(c.DrainLimit)
					defer d.Stop()
					deadline = d.C
				}
				continue
			case <-deadline:
				log.Warn("s3 source: drain deadline passed with the message in flight; its visibility is no longer extended")
				return
			case <-t.C:
			}
			cctx, cancel := context.WithTimeout(life, every)
			_, err := c.clients.SQS.ChangeMessageVisibility(cctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(c.cfg.QueueURL),
				ReceiptHandle: msg.ReceiptHandle, VisibilityTimeout: int32(c.cfg.VisibilityTimeout / time.Second)})
			cancel()
			if life.Err() != nil {
				return // settled meanwhile
			}
			if err != nil {
				c.m.failures.WithLabelValues("extend").Inc()
				log.Warn("s3 source: visibility not extended: the message may be delivered twice", "err", err)
				continue
			}
			c.m.messages.WithLabelValues("extended").Inc()
		}
	}()
	return func() { end(); wg.Wait() }
}

func (c *Consumer) delete(msg types.Message, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
	defer cancel()
	if _, err := c.clients.SQS.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(c.cfg.QueueURL), ReceiptHandle: msg.ReceiptHandle}); err != nil {
		// Delivered all the same: a redelivery creates no duplicate where
		// document ids are derived from the records.
		c.m.failures.WithLabelValues("delete").Inc()
		log.Warn("s3 source: delivered message not deleted: it will be delivered again", "err", err)
		return
	}
	c.m.messages.WithLabelValues("deleted").Inc()
}

func (c *Consumer) release(msg types.Message, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
	defer cancel()
	if _, err := c.clients.SQS.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(c.cfg.QueueURL),
		ReceiptHandle: msg.ReceiptHandle, VisibilityTimeout: 0}); err != nil {
		log.Warn("s3 source: message not released", "err", err)
		return
	}
	c.m.messages.WithLabelValues("released").Inc()
}
