// Package membudget bounds the bytes that requests hold in flight across the
// whole process: request bodies, decompressed payloads, decoded records and
// encoded responses. A request that would go over the budget is refused at
// once (Firehose then retries) instead of growing the heap until the kernel
// kills the process.
package membudget

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// ErrExhausted is returned when a reservation would take the process over
// its budget while other work holds part of it: retrying later can work.
var ErrExhausted = errors.New("memory budget exhausted")

// ErrTooLarge is returned when one lease alone would need more than the
// whole budget: retrying can never work.
var ErrTooLarge = errors.New("larger than the whole memory budget")

// Budget is a process-wide count of bytes in flight with a hard limit. The
// zero value is not usable; use New.
type Budget struct {
	limit   int64
	used    atomic.Int64
	refused *prometheus.CounterVec
}

// New returns a budget of limit bytes. Metrics are registered on reg (nil
// leaves them unregistered).
func New(limit int64, reg prometheus.Registerer) (*Budget, error) {
	if limit < 1 {
		return nil, fmt.Errorf("membudget: limit must be at least 1 byte, got %d", limit)
	}
	b := &Budget{limit: limit}
	f := promauto.With(reg)
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "flowhose_memory_budget_bytes",
		Help: "Bytes that requests may hold in flight (pipeline.memory_budget).",
	}, func() float64 { return float64(b.limit) })
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "flowhose_memory_in_flight_bytes",
		Help: "Bytes that requests and their queued batches hold now.",
	}, func() float64 { return float64(b.used.Load()) })
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "flowhose_memory_idle_buffer_bytes",
		Help: "Bytes of released buffers kept for reuse (outside the budget, at most an eighth of it).",
	}, func() float64 { return float64(IdleBytes()) })
	// Idle buffers are memory no request holds: an eighth of the budget
	// keeps the usual few request bodies for reuse while the process stays
	// within the container the budget is sized for.
	setIdleLimit(limit / 8)
	b.refused = f.NewCounterVec(prometheus.CounterOpts{
		Name: "flowhose_memory_refusals_total",
		Help: "Reservations refused because the memory budget was exhausted, by source.",
	}, []string{"source"})
	return b, nil
}

// Limit returns the budget in bytes.
func (b *Budget) Limit() int64 { return b.limit }

// InFlight returns the bytes reserved now.
func (b *Budget) InFlight() int64 { return b.used.Load() }

func (b *Budget) tryAcquire(n int64) bool {
	for {
		used := b.used.Load()
		if used+n > b.limit {
			return false
		}
		if b.used.CompareAndSwap(used, used+n) {
			return true
		}
	}
}

// Lease is one unit of work's share of the budget (a request, a batch). It
// grows as the work reads and decodes, and gives everything back at once.
// A Lease is safe for concurrent use.
type Lease struct {
	b      *Budget
	source string
	mu     sync.Mutex
	held   int64
	total  int64 // every byte Grow ever granted, so ErrTooLarge is decided on the whole work
}

// Lease starts an empty lease; source labels refusals in the metrics.
func (b *Budget) Lease(source string) *Lease { return &Lease{b: b, source: source} }

// Grow reserves n more bytes, or reserves nothing and returns an error
// wrapping ErrTooLarge (the lease's work could never fit) or ErrExhausted
// (it may fit once other work is done). A nil Lease grows without bound:
// callers without a budget (tests, the Lambda runtime, which has its own
// memory limit) use nil.
func (l *Lease) Grow(n int64) error {
	if l == nil || n <= 0 {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total+n > l.b.limit {
		l.b.refused.WithLabelValues(l.source).Inc()
		return fmt.Errorf("%w: needs over %d bytes, the budget is %d", ErrTooLarge, l.total+n, l.b.limit)
	}
	if !l.b.tryAcquire(n) {
		l.b.refused.WithLabelValues(l.source).Inc()
		return fmt.Errorf("%w: %d more bytes would exceed %d with %d in flight", ErrExhausted, n, l.b.limit, l.b.used.Load())
	}
	l.held += n
	l.total += n
	return nil
}

// Split moves up to n bytes of l into a new lease, so that part of the
// work (one batch) can give its share back on its own.
func (l *Lease) Split(n int64) *Lease {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	n = max(0, min(n, l.held))
	l.held -= n
	return &Lease{b: l.b, source: l.source, held: n, total: n}
}

// Held returns the bytes the lease holds.
func (l *Lease) Held() int64 {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.held
}

// Release gives back everything the lease holds; the lease stays usable.
func (l *Lease) Release() {
	if l == nil {
		return
	}
	l.mu.Lock()
	n := l.held
	l.held = 0
	l.mu.Unlock()
	l.b.used.Add(-n)
}
