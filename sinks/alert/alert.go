// Package alert is the one shape of alert destinations (sinks/alert/<name>/):
// a typed config section with its switch, a factory, and the delivery they
// share: a bounded queue per destination, retries with backoff that honour
// Retry-After, and the dead-letter file for what cannot be delivered.
package alert

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/flowhose/flowhose/sinks"
	"github.com/flowhose/flowhose/stream/detect"
)

// Destination delivers one alert. Send's error is retried unless it is
// stream.Permanent; RetryAfter errors say how long to wait first.
type Destination interface {
	Name() string
	Send(ctx context.Context, a *detect.Alert) error
}

// Deps is what destinations share.
type Deps struct {
	// HTTP is the client of the HTTP destinations.
	HTTP   *http.Client
	Logger *slog.Logger
}

// Section is one destination's configuration: the switch and its
// settings inline.
type Section[C sinks.Validator] struct {
	// Enabled turns the destination on.
	Enabled bool `yaml:"enabled"`
	Config  C    `yaml:",inline"`
}

// Opener builds a destination from its settings.
type Opener[C sinks.Validator] func(ctx context.Context, cfg C, deps Deps) (Destination, error)

// Factory is one registered destination.
type Factory interface {
	Name() string
	Enabled() bool
	// Validate reports an enabled section's errors relative to it.
	Validate() error
	// SetDefault sets the section to its defaults, disabled.
	SetDefault()
	Open(ctx context.Context, deps Deps) (Destination, error)
}

// Register ties a section to its defaults and constructor.
func Register[C sinks.Validator](name string, s *Section[C], defaults func() C, open Opener[C]) Factory {
	return factory[C]{name: name, s: s, defaults: defaults, open: open}
}

type factory[C sinks.Validator] struct {
	name     string
	s        *Section[C]
	defaults func() C
	open     Opener[C]
}

func (f factory[C]) Name() string  { return f.name }
func (f factory[C]) Enabled() bool { return f.s.Enabled }
func (f factory[C]) SetDefault()   { *f.s = Section[C]{Config: f.defaults()} }

func (f factory[C]) Validate() error {
	if !f.s.Enabled {
		return nil
	}
	return f.s.Config.Validate()
}

func (f factory[C]) Open(ctx context.Context, deps Deps) (Destination, error) {
	d, err := f.open(ctx, f.s.Config, deps)
	if err != nil {
		return nil, fmt.Errorf("alert destination %s: %w", f.name, err)
	}
	return d, nil
}

// retryAfterError is a retryable failure whose answer said when to retry.
type retryAfterError struct {
	err   error
	after time.Duration
}

func (e retryAfterError) Error() string { return e.err.Error() }
func (e retryAfterError) Unwrap() error { return e.err }

// RetryAfter marks err as retryable no sooner than after.
func RetryAfter(err error, after time.Duration) error { return retryAfterError{err, after} }

// retryAfterOf returns the wait an error asks for, 0 when none.
func retryAfterOf(err error) time.Duration {
	var r retryAfterError
	if errors.As(err, &r) {
		return r.after
	}
	return 0
}
