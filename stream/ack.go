package stream

import (
	"context"
	"errors"
	"sync"
)

// Ack tracks one unit of source work (a Firehose request, a run of Kafka
// messages, a chunk of a replayed file) until every part of it has been
// delivered or has finally failed.
//
// An Ack starts with one pending reference held by its creator. Each party
// that takes a share of the work calls Add first and Done once when its share
// is settled; the creator calls Done after handing everything over. When the
// count reaches zero the Ack completes with the worst error reported (see
// Worse).
type Ack struct {
	mu      sync.Mutex
	pending int
	err     error
	done    chan struct{}
	then    func(error)
}

// NewAck returns an Ack holding the creator's reference.
func NewAck() *Ack { return &Ack{pending: 1, done: make(chan struct{})} }

// NewAckThen returns an Ack that calls then with its final error when it
// completes, from the goroutine of the last Done. A source uses it to free
// what one part of its work holds (one batch's share of a request) as soon
// as that part is settled, not when the whole request is.
func NewAckThen(then func(error)) *Ack {
	a := NewAck()
	a.then = then
	return a
}

// Add registers n more parties that will each call Done once.
func (a *Ack) Add(n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.pending <= 0 {
		// Adding to a completed ack would let its waiter report success for
		// work that is still in flight: a programming error, not bad input.
		panic("stream: Ack.Add after completion")
	}
	a.pending += n
}

// Done settles one party's share with err (nil for delivered).
func (a *Ack) Done(err error) {
	a.mu.Lock()
	if a.pending <= 0 {
		a.mu.Unlock()
		panic("stream: Ack.Done called more times than Add")
	}
	a.err = Worse(a.err, err)
	a.pending--
	completed := a.pending == 0
	if completed {
		close(a.done)
	}
	final := a.err
	a.mu.Unlock()
	if completed && a.then != nil {
		a.then(final)
	}
}

// Completed is closed when every party has called Done.
func (a *Ack) Completed() <-chan struct{} { return a.done }

// Err returns the worst error reported so far.
func (a *Ack) Err() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

// Wait blocks until the Ack completes or ctx ends, and returns the worst
// error reported, or ctx's error.
func (a *Ack) Wait(ctx context.Context) error {
	select {
	case <-a.done:
		return a.Err()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Worse returns the error a unit of work completes with when it already
// has cur and one more share reports err: a retryable error beats a
// permanent one, which beats success; between two of a kind the first stays.
//
// Retryable wins because the source's answer to it, delivering the unit
// again, is the only one that reaches every sink: when one sink refused the
// records for good and another only failed for now, dead-lettering them
// (the answer to a permanent error) would drop them for the second sink.
// Redelivered, the first sink refuses them again, and once the second has
// them the unit completes permanent and is dead-lettered.
func Worse(cur, err error) error {
	if err == nil || (cur != nil && (!IsPermanent(cur) || IsPermanent(err))) {
		return cur
	}
	return err
}

type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as one that retrying cannot fix (a mapping conflict, a
// record over a hard limit). Sinks use it to stop retrying.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err, or an error it wraps, was marked Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}
