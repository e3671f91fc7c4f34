// Package elasticsearch is the sink that indexes records as ECS documents
// through the bulk API, with exactly one document per record however often
// a record is redelivered, and acknowledges a batch only once Elasticsearch
// has confirmed every document of it (or a refused document has been
// dead-lettered). README.md describes configuration and behaviour.
package elasticsearch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowhose/flowhose/sinks"
	"github.com/flowhose/flowhose/sinks/internal/batches"
	"github.com/flowhose/flowhose/sinks/internal/retry"
	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/ecs"
)

// ErrClosed is returned by Accept after Close has begun.
var ErrClosed = errors.New("elasticsearch sink closed")

// Sink indexes batches into Elasticsearch. It implements stream.Sink.
type Sink struct {
	cfg    Config
	client *productCheck
	dl     stream.DeadLetterWriter
	m      *metrics
	log    *slog.Logger
	enc    ecs.Encoder

	fill batches.Filling // its Mu guards cur
	cur  *request

	reqs chan *request
	// free keeps spent requests, whose buffers have grown to a full bulk
	// body, for reuse: one per request that can exist at once. (A
	// sync.Pool would drop them at every garbage collection.)
	free chan *request

	batches batches.Tracker

	// ctx ends when Close runs out of time: workers stop retrying.
	ctx     context.Context
	cancel  context.CancelFunc
	workers sync.WaitGroup
}

// request is a bulk request being filled or sent.
type request struct {
	buf     []byte
	items   []batches.Item
	started time.Time
}

// New returns a sink writing through cfg's cluster, logging to
// slog.Default(). Refused documents go to dl. Metrics register on reg
// (nil: unregistered). New does no I/O; call Setup before the first batch
// to install the index template.
func New(cfg Config, dl stream.DeadLetterWriter, reg prometheus.Registerer) (*Sink, error) {
	return newSink(cfg, dl, reg, slog.Default())
}

func newSink(cfg Config, dl stream.DeadLetterWriter, reg prometheus.Registerer, log *slog.Logger) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("elasticsearch: %w", err)
	}
	if dl == nil {
		return nil, errors.New("elasticsearch: a dead-letter writer is required")
	}
	client, err := cfg.newClient()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sink{
		cfg:    cfg,
		client: client,
		dl:     dl,
		m:      newMetrics(reg),
		log:    log.With("sink", "elasticsearch"),
		enc:    ecs.Encoder{Dataset: cfg.Dataset, Namespace: cfg.Namespace, Original: cfg.EventOriginal},
		reqs:   make(chan *request, cfg.QueuedRequests),
		free:   make(chan *request, cfg.Workers+cfg.QueuedRequests+1),
		ctx:    ctx,
		cancel: cancel,
	}
	s.workers.Add(cfg.Workers)
	for range cfg.Workers {
		go s.work()
	}
	s.fill.StartTimer(cfg.FlushInterval, s.started, s.flushLocked)
	return s, nil
}

// Name implements stream.Sink.
func (s *Sink) Name() string { return "elasticsearch" }

// Accept implements stream.Sink. It encodes the batch into the current
// bulk request and hands full requests to the workers, blocking while
// all of them are busy and the queue is full: that is the back-pressure
// sources feel while Elasticsearch is slow or down. ctx is honoured only
// before the batch is taken.
func (s *Sink) Accept(ctx context.Context, b *stream.Batch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(b.Records) == 0 {
		b.Ack.Done(nil)
		return nil
	}
	s.fill.Mu.Lock()
	defer s.fill.Mu.Unlock()
	if s.fill.Closed {
		return ErrClosed
	}
	bs := s.batches.Start(b)
	for i := range b.Records {
		s.appendDoc(bs, &b.Records[i])
		if len(s.cur.items) >= s.cfg.FlushDocs || int64(len(s.cur.buf)) >= s.cfg.FlushBytes {
			s.flushLocked()
		}
	}
	return nil
}

// appendDoc writes r's action and source lines into the current request.
func (s *Sink) appendDoc(bs *batches.Batch, r *stream.Record) {
	if s.cur == nil {
		select {
		case s.cur = <-s.free:
		default:
			s.cur = new(request)
		}
		s.cur.started = time.Now()
	}
	req := s.cur
	off := len(req.buf)
	buf := append(req.buf, `{"create":{`...)
	if s.cfg.Target == TargetIndex {
		buf = append(buf, `"_index":"`...)
		buf = append(buf, s.cfg.IndexPrefix...)
		buf = appendDay(buf, r)
		buf = append(buf, `",`...)
	}
	buf = append(buf, `"_id":"`...)
	buf = ecs.AppendID(buf, r)
	buf = append(buf, "\"}}\n"...)
	buf = s.enc.Append(buf, r)
	buf = append(buf, '\n')
	req.buf = buf
	req.items = append(req.items, batches.Item{Batch: bs, Rec: r, Off: off, End: len(buf)})
}

// appendDay appends the UTC day of r's @timestamp (end, else start) as
// YYYY.MM.DD, or "undated": a record's index must not depend on when it
// arrives, or a redelivery on another day would duplicate it.
func appendDay(dst []byte, r *stream.Record) []byte {
	switch {
	case r.Has(stream.FieldEnd):
		return time.Unix(r.End, 0).UTC().AppendFormat(dst, "2006.01.02")
	case r.Has(stream.FieldStart):
		return time.Unix(r.Start, 0).UTC().AppendFormat(dst, "2006.01.02")
	}
	return append(dst, "undated"...)
}

// flushLocked hands the current request to the workers, blocking while
// they are all busy and the queue is full. s.fill.Mu must be held.
func (s *Sink) flushLocked() {
	req := s.cur
	if req == nil {
		return
	}
	s.cur = nil
	s.m.inFlightBytes.Add(float64(len(req.buf)))
	s.reqs <- req
}

// started reports when the request being filled got its first document.
// s.fill.Mu must be held.
func (s *Sink) started() (time.Time, bool) {
	if s.cur == nil {
		return time.Time{}, false
	}
	return s.cur.started, true
}

// Close implements stream.Sink: it sends what is buffered and waits until
// every accepted batch is settled. When ctx ends first, retries stop, the
// remaining documents fail their batches (for the source to redeliver),
// and Close returns ctx's error.
func (s *Sink) Close(ctx context.Context) error {
	// An Accept blocked on busy workers holds s.fill.Mu; if ctx ends while we
	// wait for it, stop the retries that keep the workers busy.
	stop := retry.StopOn(ctx, s.cancel)
	if !s.fill.Close(s.flushLocked) {
		stop()
		return nil
	}
	close(s.reqs)
	s.workers.Wait()
	s.cancel()
	if stop() {
		return fmt.Errorf("elasticsearch: close gave up retrying: %w", ctx.Err())
	}
	return nil
}

// release keeps req for reuse, dropping its references to records.
func (s *Sink) release(req *request) {
	clear(req.items)
	req.items = req.items[:0]
	req.buf = req.buf[:0]
	select {
	case s.free <- req:
	default:
	}
}

// Open is the sink's factory (see package sinks): it builds the sink and
// installs the index template, which must exist before the first
// document, so that a cluster that cannot be reached fails start-up
// loudly. The template request is bounded by cfg.RequestTimeout.
func Open(ctx context.Context, cfg Config, deps sinks.Deps) (stream.Sink, error) {
	log := deps.Logger
	if log == nil {
		log = slog.Default()
	}
	s, err := newSink(cfg, deps.DeadLetter, deps.Registerer, log)
	if err != nil {
		return nil, err
	}
	setupCtx, cancel := context.WithTimeout(ctx, cfg.RequestTimeout)
	defer cancel()
	if err := s.Setup(setupCtx); err != nil {
		return nil, errors.Join(fmt.Errorf("elasticsearch setup: %w", err), s.Close(context.Background()))
	}
	return s, nil
}
