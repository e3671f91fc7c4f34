// Package source holds the one shape every source of `flowhose serve` is
// built through: a typed config section with its switch, the dependencies
// sources share, and a factory that opens an enabled section into an HTTP
// handler, a background loop, or both. The list of factories is written
// out in one place (config.Sources.Factories), never assembled by init().
package source

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/decode"
	"github.com/flowhose/flowhose/stream/membudget"
	"github.com/flowhose/flowhose/stream/source/accesskey"
)

// Deps is what sources share, handed to every constructor.
type Deps struct {
	// Pipeline takes the decoded batches and acknowledges them once every
	// sink has.
	Pipeline *stream.Pipeline
	// Budget bounds the bytes every source holds at once; nil leaves them
	// unbounded.
	Budget *membudget.Budget
	// Decode is the decode section compiled; Open sets its Source to the
	// source's name.
	Decode decode.Options
	// Keys are the Firehose access keys, which every endpoint Firehose
	// calls accepts; empty accepts every request.
	Keys *accesskey.Keys
	// Enrichers are the pipeline's enrichers, for a source that answers
	// with enriched records itself instead of handing them to the
	// pipeline (the transformation).
	Enrichers []stream.Enricher
	// DeadLetter stores input that cannot be decoded.
	DeadLetter stream.DeadLetterWriter
	// Registerer takes the source's metrics; nil leaves them unregistered.
	Registerer prometheus.Registerer
	// Logger is the process logger.
	Logger *slog.Logger
	// DrainLimit is how long serve waits, once it begins to stop, for
	// the sources' loops to settle what they took (http.shutdown_timeout);
	// zero is unbounded.
	DrainLimit time.Duration
}

// Source is an opened source: an HTTP handler mounted at Path, a
// background loop, or both.
type Source struct {
	// Path is where Handler is mounted.
	Path    string
	Handler http.Handler
	// Run, when set, runs until ctx ends or it fails for good. When ctx
	// ends it stops taking input and returns once what it took is settled
	// (acknowledged, or given back to whoever redelivers it); serve bounds
	// that wait by http.shutdown_timeout.
	Run func(ctx context.Context) error
}

// Validator is a source's own configuration.
type Validator interface {
	// Validate reports every bad setting, each starting with its key
	// relative to the source's section.
	Validate() error
}

// Mounted is implemented by the configuration of a source served over
// HTTP, so that start-up can refuse two sources on one path.
type Mounted interface {
	HTTPPath() string
}

// Section is one source's configuration section, sources.<name>: the
// switch and the source's own settings inline.
type Section[C Validator] struct {
	// Enabled turns the source on in `serve`.
	Enabled bool `yaml:"enabled"`
	Config  C    `yaml:",inline"`
}

// Validate checks an enabled section; a disabled one may hold anything.
func (s Section[C]) Validate() error {
	if !s.Enabled {
		return nil
	}
	return s.Config.Validate()
}

// Opener builds a source from its settings. It must not start fetching:
// that is Run's job, so a source opened when a later step of start-up
// fails holds nothing that needs releasing.
type Opener[C Validator] func(ctx context.Context, cfg C, deps Deps) (Source, error)

// Factory is one registered source: its name (the key under sources.),
// its section and its constructor.
type Factory interface {
	Name() string
	Enabled() bool
	// Validate reports the section's errors by their keys relative to
	// the section; the caller adds sources.<name>.
	Validate() error
	// Path is the HTTP path the source is mounted at, "" for a source
	// that is not served over HTTP.
	Path() string
	// SetDefault sets the section to the source's defaults, disabled.
	SetDefault()
	// Open builds the source from the section.
	Open(ctx context.Context, deps Deps) (Source, error)
}

// Register ties a section to the source's defaults and constructor.
func Register[C Validator](name string, s *Section[C], defaults func() C, open Opener[C]) Factory {
	return factory[C]{name: name, s: s, defaults: defaults, open: open}
}

type factory[C Validator] struct {
	name     string
	s        *Section[C]
	defaults func() C
	open     Opener[C]
}

func (f factory[C]) Name() string    { return f.name }
func (f factory[C]) Enabled() bool   { return f.s.Enabled }
func (f factory[C]) Validate() error { return f.s.Validate() }
func (f factory[C]) SetDefault()     { *f.s = Section[C]{Config: f.defaults()} }

func (f factory[C]) Path() string {
	if m, ok := any(f.s.Config).(Mounted); ok {
		return m.HTTPPath()
	}
	return ""
}

func (f factory[C]) Open(ctx context.Context, deps Deps) (Source, error) {
	deps.Decode.Source = f.name
	s, err := f.open(ctx, f.s.Config, deps)
	if err != nil {
		return Source{}, fmt.Errorf("source %s: %w", f.name, err)
	}
	if s.Handler != nil && s.Path == "" {
		return Source{}, fmt.Errorf("source %s: a handler without a path", f.name)
	}
	return s, nil
}

// OpenAll opens every enabled factory in order.
func OpenAll(ctx context.Context, fs []Factory, deps Deps) ([]Source, error) {
	var out []Source
	for _, f := range fs {
		if !f.Enabled() {
			continue
		}
		s, err := f.Open(ctx, deps)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}
