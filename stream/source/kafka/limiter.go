package kafka

import "sync"

// limiter counts the messages and message bytes taken from Kafka and not
// yet settled, over every partition of the source.
type limiter struct {
	maxMsgs  int
	maxBytes int64

	mu    sync.Mutex
	msgs  int
	bytes int64
}

// tryTake takes one message of n bytes if it fits. A message larger than
// max_in_flight_bytes fits when nothing else is in flight, or it could
// never be taken.
func (l *limiter) tryTake(n int64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.msgs+1 > l.maxMsgs || (l.bytes+n > l.maxBytes && l.msgs > 0) {
		return false
	}
	l.msgs++
	l.bytes += n
	return true
}

// give returns msgs messages of n bytes in all.
func (l *limiter) give(msgs int, n int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs -= msgs
	l.bytes -= n
}

// inFlight returns what is taken now.
func (l *limiter) inFlight() (int, int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.msgs, l.bytes
}
