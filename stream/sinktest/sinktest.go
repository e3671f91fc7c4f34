// Package sinktest provides recording test doubles for stream.Sink and
// stream.DeadLetterWriter, with exact acknowledgement accounting: every
// batch a Sink accepts is settled exactly once, and Pending says how many
// are still open.
package sinktest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/flowhose/flowhose/stream"
)

// ErrClosed settles batches still held when the sink is closed.
var ErrClosed = errors.New("sinktest: sink closed while holding the batch")

// Sink is a recording stream.Sink. By default it settles every batch at
// once with success. Its behaviour can be changed at any time with SetErr,
// SetRefuse, SetDelay and Hold; the change applies to batches accepted
// afterwards.
type Sink struct {
	name    string
	discard bool

	mu       sync.Mutex
	err      error
	refuse   error
	delay    time.Duration
	holding  bool
	held     []*stream.Batch
	records  []stream.Record
	batches  int
	accepted int
	pending  int
	closed   bool
	notify   chan struct{} // closed and replaced on every Accept
	inFlight sync.WaitGroup
}

// NewSink returns a Sink that records every record it accepts.
func NewSink(name string) *Sink {
	return &Sink{name: name, notify: make(chan struct{})}
}

// NewDiscardSink returns a Sink that only counts, for benchmarks.
func NewDiscardSink(name string) *Sink {
	s := NewSink(name)
	s.discard = true
	return s
}

// Name implements stream.Sink.
func (s *Sink) Name() string { return s.name }

// SetErr makes the sink settle later batches with err (nil for success).
func (s *Sink) SetErr(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err = err
}

// SetRefuse makes Accept return err for later batches without taking them
// (nil to accept again).
func (s *Sink) SetRefuse(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuse = err
}

// SetDelay makes the sink settle later batches d after accepting them, from
// another goroutine.
func (s *Sink) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// Hold makes the sink keep later batches unsettled until Release.
func (s *Sink) Hold() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.holding = true
}

// Release stops holding and settles every held batch with the configured
// error (nil by default).
func (s *Sink) Release() {
	s.mu.Lock()
	s.holding = false
	held, err := s.held, s.err
	s.held = nil
	s.pending -= len(held)
	s.mu.Unlock()
	for _, b := range held {
		b.Ack.Done(err)
	}
}

// Accept implements stream.Sink.
func (s *Sink) Accept(ctx context.Context, b *stream.Batch) error {
	s.mu.Lock()
	if s.refuse != nil {
		err := s.refuse
		s.mu.Unlock()
		return err
	}
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.batches++
	s.accepted += len(b.Records)
	if !s.discard {
		s.records = append(s.records, b.Records...)
	}
	close(s.notify)
	s.notify = make(chan struct{})
	err, delay := s.err, s.delay
	switch {
	case s.holding:
		s.pending++
		s.held = append(s.held, b)
		s.mu.Unlock()
	case delay > 0:
		s.pending++
		s.inFlight.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.inFlight.Done()
			time.Sleep(delay)
			s.mu.Lock()
			s.pending--
			s.mu.Unlock()
			b.Ack.Done(err)
		}()
	default:
		s.mu.Unlock()
		b.Ack.Done(err)
	}
	return nil
}

// Close implements stream.Sink: it waits for delayed batches and settles
// held ones with ErrClosed.
func (s *Sink) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	held := s.held
	s.held = nil
	s.pending -= len(held)
	s.mu.Unlock()
	for _, b := range held {
		b.Ack.Done(ErrClosed)
	}
	done := make(chan struct{})
	go func() { s.inFlight.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Records returns a copy of the records accepted so far (none for a
// discarding sink).
func (s *Sink) Records() []stream.Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]stream.Record(nil), s.records...)
}

// Batches returns how many batches were accepted.
func (s *Sink) Batches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.batches
}

// Accepted returns how many records were accepted.
func (s *Sink) Accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// Pending returns how many accepted batches are not settled yet.
func (s *Sink) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending
}

// WaitBatches blocks until at least n batches were accepted or ctx ends.
func (s *Sink) WaitBatches(ctx context.Context, n int) error {
	for {
		s.mu.Lock()
		got, ch := s.batches, s.notify
		s.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// DeadLetter is a recording stream.DeadLetterWriter.
type DeadLetter struct {
	mu       sync.Mutex
	err      error
	failures []stream.Failure
}

// SetErr makes later writes fail with err (nil for success).
func (d *DeadLetter) SetErr(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.err = err
}

// WriteFailures implements stream.DeadLetterWriter. A failed write records
// nothing.
func (d *DeadLetter) WriteFailures(ctx context.Context, fs []stream.Failure) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err != nil {
		return d.err
	}
	d.failures = append(d.failures, fs...)
	return nil
}

// Failures returns a copy of the failures written so far.
func (d *DeadLetter) Failures() []stream.Failure {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]stream.Failure(nil), d.failures...)
}

// Accept hands recs to s as one batch and returns its ack, already
// released by its creator, so it completes when the sink settles it.
func Accept(t testing.TB, s stream.Sink, recs []stream.Record) *stream.Ack {
	t.Helper()
	ack := stream.NewAck()
	ack.Add(1)
	if err := s.Accept(context.Background(), &stream.Batch{Records: recs, Ack: ack}); err != nil {
		t.Fatalf("Accept: %v", err)
	}
	ack.Done(nil)
	return ack
}

// Wait returns ack's error once it completes, failing t when it does not
// within d.
func Wait(t testing.TB, ack *stream.Ack, d time.Duration) error {
	t.Helper()
	select {
	case <-ack.Completed():
		return ack.Err()
	case <-time.After(d):
		t.Fatalf("batch not settled within %s", d)
		return nil
	}
}
