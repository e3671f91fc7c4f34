// Package batches is what the request-based sinks share: the accounting
// of batches and the flush timer. A sink packs the records of the batches it accepts into requests that
// neither match nor respect batch boundaries, and settles records as the
// requests' answers come; a batch's Ack completes when its last record is
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

// FlushEvery calls flushDue with mu held every quarter of interval (at
// least every millisecond) until stop is closed: flushDue sends the
// request being filled if it has waited interval, so a quiet source's
// records are not held back.
func FlushEvery(stop <-chan struct{}, interval time.Duration, mu sync.Locker, flushDue func()) {
	t := time.NewTicker(max(interval/4, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		mu.Lock()
		flushDue()
		mu.Unlock()
	}
}
