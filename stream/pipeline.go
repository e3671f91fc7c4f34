package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Batch is the unit of work: records decoded from one piece of source input,
// the inputs that failed to decode, and the acknowledgement that completes
// once every sink has settled every record.
type Batch struct {
	Records  []Record
	Failures []Failure
	Ack      *Ack
	// Ctx, when set, is the source's interest in the batch: once it ends
	// (the source gave up and answered its client), a batch still waiting
	// for a worker is settled with its error instead of being delivered,
	// so that it releases its memory and the retry that will follow is the
	// only copy doing work.
	Ctx context.Context
}

// Failure is one input that could not be turned into a record. It goes to
// the dead-letter sink with enough context to find and replay it.
type Failure struct {
	Source string // which source received it: "firehose", "transform", "replay", a sink's name
	Ref    string // where in that source: a file path, a Firehose request and record, a recordId
	Input  string // the raw line or payload that failed
	Line   int    // 1-based line number within the payload or file, 0 if unknown
	Field  string // the field that failed, if one did
	Reason string
}

// Sink is a destination for batches.
//
// Accept either refuses the batch at once with an error (the pipeline then
// settles the sink's share of the Ack with that error) or takes it and later
// calls b.Ack.Done exactly once: nil when every record is durable at the
// destination or has been dead-lettered, an error otherwise. Accept may block
// while the sink is saturated; that is how back-pressure reaches sources. It
// must not modify the records, which are shared with other sinks, and must
// not use the batch after settling it: sources may reuse its records.
type Sink interface {
	Name() string
	Accept(ctx context.Context, b *Batch) error
	// Close flushes what the sink holds and settles every accepted batch.
	Close(ctx context.Context) error
}

// DeadLetterWriter stores inputs that cannot be delivered. Write returns only
// once the failures are durable, because their batch is acknowledged after it.
type DeadLetterWriter interface {
	WriteFailures(ctx context.Context, fs []Failure) error
}

// Enricher adds metadata to records in place. A lookup that finds nothing is
// not an error; Enrich must not block for long on remote services.
type Enricher interface {
	Enrich(ctx context.Context, recs []Record)
}

// ErrClosed is returned by Submit after Close has begun.
var ErrClosed = errors.New("pipeline closed")

// ErrBusy is returned by Submit when the queue stayed full until the
// caller's context ended: the caller should tell its source to retry later.
var ErrBusy = errors.New("pipeline busy: queue full")

// Options configure a Pipeline.
type Options struct {
	Workers    int // goroutines enriching and dispatching batches
	QueueDepth int // batches waiting for a worker before Submit blocks
	Enrichers  []Enricher
	Sinks      []Sink
	DeadLetter DeadLetterWriter
	Metrics    *Metrics
	Logger     *slog.Logger
}

// Pipeline is a bounded worker pool: sources Submit batches, workers enrich
// them, write their failures to the dead-letter sink and hand them to every
// sink. The batch's Ack completes when all of that is settled.
type Pipeline struct {
	opts  Options
	queue chan *Batch
	wg    sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	senders sync.WaitGroup
}

// New starts a pipeline's workers.
func New(opts Options) (*Pipeline, error) {
	if opts.Workers < 1 {
		return nil, fmt.Errorf("pipeline: workers must be at least 1, got %d", opts.Workers)
	}
	if opts.QueueDepth < 1 {
		return nil, fmt.Errorf("pipeline: queue depth must be at least 1, got %d", opts.QueueDepth)
	}
	if opts.DeadLetter == nil {
		return nil, errors.New("pipeline: a dead-letter writer is required")
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(nil)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	p := &Pipeline{opts: opts, queue: make(chan *Batch, opts.QueueDepth)}
	p.wg.Add(opts.Workers)
	for range opts.Workers {
		go p.work()
	}
	return p, nil
}

// Submit queues b, blocking while the queue is full. It takes a share of
// b.Ack, so the caller may release its own reference right after. On error
// the batch was not queued and b.Ack is untouched.
func (p *Pipeline) Submit(ctx context.Context, b *Batch) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	p.senders.Add(1)
	p.mu.Unlock()
	defer p.senders.Done()

	b.Ack.Add(1)
	select {
	case p.queue <- b:
		p.opts.Metrics.QueueDepth.Set(float64(len(p.queue)))
		return nil
	default:
	}
	select {
	case p.queue <- b:
		p.opts.Metrics.QueueDepth.Set(float64(len(p.queue)))
		return nil
	case <-ctx.Done():
		p.opts.Metrics.Busy.Inc()
		// Settle the share taken above without recording an error: the
		// caller still owns the batch and reports ErrBusy itself.
		b.Ack.Done(nil)
		return fmt.Errorf("%w: %w", ErrBusy, ctx.Err())
	}
}

func (p *Pipeline) work() {
	defer p.wg.Done()
	for b := range p.queue {
		p.opts.Metrics.QueueDepth.Set(float64(len(p.queue)))
		p.process(b)
	}
}

func (p *Pipeline) process(b *Batch) {
	// Work already queued is finished even during shutdown: the context
	// only bounds individual enrichment lookups.
	ctx := context.Background()
	m := p.opts.Metrics
	if b.Ctx != nil && b.Ctx.Err() != nil {
		m.Abandoned.Add(float64(len(b.Records)))
		b.Ack.Done(fmt.Errorf("abandoned by its source before delivery: %w", context.Cause(b.Ctx)))
		return
	}
	start := time.Now()
	for _, e := range p.opts.Enrichers {
		e.Enrich(ctx, b.Records)
	}
	if len(b.Failures) > 0 {
		if err := p.opts.DeadLetter.WriteFailures(ctx, b.Failures); err != nil {
			p.opts.Logger.Error("dead-letter write failed", "failures", len(b.Failures), "err", err)
			b.Ack.Done(fmt.Errorf("dead-letter: %w", err))
			return
		}
		m.DeadLettered.Add(float64(len(b.Failures)))
	}
	if len(b.Records) > 0 {
		b.Ack.Add(len(p.opts.Sinks))
		for _, s := range p.opts.Sinks {
			if err := s.Accept(ctx, b); err != nil {
				m.SinkErrors.WithLabelValues(s.Name()).Inc()
				b.Ack.Done(fmt.Errorf("sink %s: %w", s.Name(), err))
			}
		}
	}
	m.Records.Add(float64(len(b.Records)))
	m.DispatchSeconds.Observe(time.Since(start).Seconds())
	b.Ack.Done(nil)
}

// Close stops accepting batches, finishes the queued ones and closes every
// sink, which settles what they hold. Sources must be stopped first. When
// ctx ends before the queue is done, the sinks are closed at once with it:
// a worker may be blocked in the Accept of a sink retrying without end,
// which only that sink's Close, giving up, releases. Batches a worker hands
// to a closed sink then fail.
func (p *Pipeline) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	p.senders.Wait()
	close(p.queue)
	drained := make(chan struct{})
	go func() {
		p.wg.Wait()
		close(drained)
	}()
	select {
	case <-drained:
	case <-ctx.Done():
	}
	var errs []error
	for _, s := range p.opts.Sinks {
		if err := s.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("close sink %s: %w", s.Name(), err))
		}
	}
	<-drained
	return errors.Join(errs...)
}
