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
	// oversized is the partition waiting to take a message larger than
	// maxBytes, if one is.
	oversized *partition
}

// tryTake takes one message of n bytes for partition p if it fits. A
// message larger than max_in_flight_bytes fits when nothing else is in
// flight, or it could never be taken; while it waits, no other partition
// takes a message, or a steady flow on other partitions would keep
// something in flight and the message would wait for ever.
func (l *limiter) tryTake(p *partition, n int64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.oversized != nil && l.oversized != p {
		return false
	}
	if n > l.maxBytes {
		if l.msgs > 0 {
			l.oversized = p
			return false
		}
		l.oversized = nil
	} else if l.msgs+1 > l.maxMsgs || l.bytes+n > l.maxBytes {
		return false
	}
	l.msgs++
	l.bytes += n
	return true
}

// forget stops p's wait for an oversized message (p dropped it).
func (l *limiter) forget(p *partition) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.oversized == p {
		l.oversized = nil
	}
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
