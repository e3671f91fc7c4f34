// Package retry holds the backoff the sinks share between attempts to
// deliver the same documents.
package retry

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Policy is how long and how often a sink retries what it could not
// deliver: the keys retry_initial, retry_max and retry_for of its section,
// which embeds Policy inline.
type Policy struct {
	// RetryInitial is the first retry delay; it doubles up to RetryMax,
	// each delay drawn at random between half and all of it.
	RetryInitial time.Duration `yaml:"retry_initial"`
	RetryMax     time.Duration `yaml:"retry_max"`
	// RetryFor bounds how long a record the sink could not deliver (a
	// failed request, an error the destination may get over) is retried
	// before its batch fails with a retryable error, for the source to
	// redeliver. 0 retries until Close gives up.
	RetryFor time.Duration `yaml:"retry_for"`
}

// DefaultPolicy starts at 100ms, backs off up to 30s and gives up after
// 5m.
func DefaultPolicy() Policy {
	return Policy{RetryInitial: 100 * time.Millisecond, RetryMax: 30 * time.Second, RetryFor: 5 * time.Minute}
}

// Validate reports every bad setting by its key.
func (p Policy) Validate() error {
	var errs []error
	if p.RetryInitial <= 0 {
		errs = append(errs, fmt.Errorf("retry_initial: must be positive, got %s", p.RetryInitial))
	}
	if p.RetryMax < p.RetryInitial {
		errs = append(errs, fmt.Errorf("retry_max: must be at least retry_initial (%s), got %s", p.RetryInitial, p.RetryMax))
	}
	if p.RetryFor < 0 {
		errs = append(errs, fmt.Errorf("retry_for: must be 0 (until close) or positive, got %s", p.RetryFor))
	}
	return errors.Join(errs...)
}

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
