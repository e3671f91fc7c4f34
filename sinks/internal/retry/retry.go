// Package retry holds the backoff the network sinks retry with.
package retry

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff is the delay before retry attempt+1: initial doubled per
// attempt up to limit, drawn between half and all of it so that workers
// and flowhose instances do not retry in step.
func Backoff(initial, limit time.Duration, attempt int) time.Duration {
	d := limit
	if attempt < 32 && initial<<attempt < limit && initial<<attempt > 0 {
		d = initial << attempt
	}
	return d/2 + rand.N(d/2+1)
}

// Sleep waits d or until ctx ends, and reports whether it waited d.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// StopOn calls cancel once ctx ends, to stop retries that would keep a
// Close from returning. The returned function ends the watch and reports
// whether ctx ended (and cancel was called) first.
func StopOn(ctx context.Context, cancel func()) (stop func() (gaveUp bool)) {
	done, gaveUp := make(chan struct{}), make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			cancel()
			close(gaveUp)
		case <-done:
		}
	}()
	return func() bool {
		close(done)
		select {
		case <-gaveUp:
			return true
		default:
			return false
		}
	}
}
