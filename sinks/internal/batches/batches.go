// Package batches is what the request-based sinks share: the accounting
// of batches, and the lock, flush timer and start of Close around the
// request being filled. A sink packs the records of the batches it
// accepts into requests that neither match nor respect batch boundaries,
// and settles records as the requests' answers come; a batch's Ack completes when its last record is
// settled, with the worst error any of them had.
package batches

import (
	"sync"
	"time"

	"github.com/flowhose/flowhose/stream"
)

// Batch counts the records of one accepted batch not yet settled.
type Batch struct {
	b       *stream.Batch
	pending int
	err     error
}

// Item is one record in a request: its batch, the record (for the
// dead-letter sink) and its bytes [Off, End) in the request's body.
type Item struct {
	Batch    *Batch
	Rec      *stream.Record
	Off, End int
}

// Tracker settles items. Its zero value is ready; it is safe for
// concurrent use.
type Tracker struct{ mu sync.Mutex }

// Start begins counting b. The count starts at every record, so records
// settled while later ones are still being packed cannot complete the
// batch early.
func (t *Tracker) Start(b *stream.Batch) *Batch { return &Batch{b: b, pending: len(b.Records)} }

// Settle records the outcome of items (nil: delivered) and completes
// every batch whose last record this was.
func (t *Tracker) Settle(items []Item, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, it := range items {
		bs := it.Batch
		bs.err = stream.Worse(bs.err, err)
		bs.pending--
		if bs.pending == 0 {
			bs.b.Ack.Done(bs.err)
		}
	}
}

// Filling is what a request sink keeps about the request it is filling
// besides the request itself: the lock, whether Close has begun, and the
// timer that sends a request a quiet source left waiting.
type Filling struct {
	// Mu guards the sink's request being filled and Closed; it is held
	// while a request is handed to the workers.
	Mu sync.Mutex
	// Closed is set once Close has begun; Accept refuses batches then.
	Closed bool

	stop, flushed chan struct{}
}

// StartTimer sends the request being filled once it has waited interval,
// checking every quarter of interval (at least every millisecond), until
// Close: started reports when the request got its first record (false:
// none is being filled) and flush sends it; both run with Mu held.
func (f *Filling) StartTimer(interval time.Duration, started func() (time.Time, bool), flush func()) {
	f.stop, f.flushed = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(f.flushed)
		t := time.NewTicker(max(interval/4, time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-f.stop:
				return
			case <-t.C:
			}
			f.Mu.Lock()
			if at, ok := started(); ok && !f.Closed && time.Since(at) >= interval {
				flush()
			}
			f.Mu.Unlock()
		}
	}()
}

// Close marks the sink closed, sends the last request with flush (Mu
// held) and waits for the timer to stop. It reports false, doing nothing,
// when Close had begun already.
func (f *Filling) Close(flush func()) bool {
	f.Mu.Lock()
	if f.Closed {
		f.Mu.Unlock()
		return false
	}
	f.Closed = true
	flush()
	f.Mu.Unlock()
	close(f.stop)
	<-f.flushed
	return true
}
