package splunk

import "sync"

// resendQueue holds the requests to send again (no ack within
// ack_timeout, or an ackId handed out again). Its push never blocks: it
// takes parts as well as roots, and the parts of split requests are not
// bounded by max_pending_acks, so no fixed capacity holds every request
// that can await an ack; a full channel once stopped the worker, its
// only reader, that was pushing to it. Its length is bounded all the
// same, by the requests that can exist: max_pending_acks roots of at most
// flush_events parts each, sharing their roots' buffers.
type resendQueue struct {
	mu sync.Mutex
	q  []*request
	// ready holds a token while q may be non-empty: workers select on it
	// beside the new requests.
	ready chan struct{}
}

func newResendQueue() *resendQueue { return &resendQueue{ready: make(chan struct{}, 1)} }

// push queues r and wakes a worker.
func (rq *resendQueue) push(r *request) {
	rq.mu.Lock()
	rq.q = append(rq.q, r)
	rq.mu.Unlock()
	rq.signal()
}

// pop returns the oldest queued request, or nil when another worker took
// it first; it is called after taking the ready token, and hands the
// token on while requests remain.
func (rq *resendQueue) pop() *request {
	rq.mu.Lock()
	defer rq.mu.Unlock()
	if len(rq.q) == 0 {
		return nil
	}
	r := rq.q[0]
	rq.q[0] = nil
	rq.q = rq.q[1:]
	if len(rq.q) > 0 {
		rq.signal()
	}
	return r
}

func (rq *resendQueue) signal() {
	select {
	case rq.ready <- struct{}{}:
	default:
	}
}
