// Package sinks holds the one shape every sink is built through: a typed
// config section with its switch, the dependencies sinks share, and a
// factory that opens an enabled section. The list of factories is written
// out in one place (config.Sinks.Factories), never assembled by init().
package sinks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/flowhose/flowhose/sinks/filter"
	"github.com/flowhose/flowhose/stream"
)

// Deps is what sinks share, handed to every constructor.
type Deps struct {
	// DeadLetter stores records a sink refuses for good.
	DeadLetter stream.DeadLetterWriter
	// Registerer takes the sink's metrics; nil leaves them unregistered.
	Registerer prometheus.Registerer
	// Logger is the process logger.
	Logger *slog.Logger
	// Stdout stands in for the "-" path.
	Stdout io.Writer
}

// Validator is a sink's own configuration.
type Validator interface {
	// Validate reports every bad setting, each starting with its key
	// relative to the sink's section.
	Validate() error
}

// Section is one sink's configuration section, sinks.<name>: the switch
// and the sink's own settings inline.
type Section[C Validator] struct {
	// Enabled turns the sink on.
	Enabled bool `yaml:"enabled"`
	// Filter picks the records this sink receives: conditions that keep
	// a record and 1-in-N samples; empty keeps every record (see
	// sinks/README.md).
	Filter filter.Config `yaml:"filter"`
	Config C             `yaml:",inline"`
}

// Validate checks an enabled section; a disabled one may hold anything.
func (s Section[C]) Validate() error {
	if !s.Enabled {
		return nil
	}
	errs := []error{s.Config.Validate()}
	if err := s.Filter.Validate(); err != nil {
		for line := range strings.Lines(err.Error()) {
			errs = append(errs, errors.New("filter."+strings.TrimRight(line, "\n")))
		}
	}
	return errors.Join(errs...)
}

// Opener builds a sink from its settings: it opens files and clients,
// and does any start-up step the sink needs before its first batch (the
// Elasticsearch sink installs its index template), bounded by ctx. On
// error it has released what it opened.
type Opener[C Validator] func(ctx context.Context, cfg C, deps Deps) (stream.Sink, error)

// Factory is one registered sink: its name (the key under sinks.), its
// section and its constructor.
type Factory interface {
	Name() string
	Enabled() bool
	// Validate reports the section's errors by their keys relative to
	// the section; the caller adds sinks.<name>.
	Validate() error
	// Filter is the section's routing filter.
	Filter() filter.Config
	// SetDefault sets the section to the sink's defaults, disabled.
	SetDefault()
	// Open builds the sink from the section.
	Open(ctx context.Context, deps Deps) (stream.Sink, error)
}

// Register ties a section to the sink's defaults and constructor.
func Register[C Validator](name string, s *Section[C], defaults func() C, open Opener[C]) Factory {
	return factory[C]{name: name, s: s, defaults: defaults, open: open}
}

type factory[C Validator] struct {
	name     string
	s        *Section[C]
	defaults func() C
	open     Opener[C]
}

func (f factory[C]) Name() string          { return f.name }
func (f factory[C]) Enabled() bool         { return f.s.Enabled }
func (f factory[C]) Validate() error       { return f.s.Validate() }
func (f factory[C]) Filter() filter.Config { return f.s.Filter }
func (f factory[C]) SetDefault()           { *f.s = Section[C]{Config: f.defaults()} }

func (f factory[C]) Open(ctx context.Context, deps Deps) (stream.Sink, error) {
	s, err := f.open(ctx, f.s.Config, deps)
	if err != nil {
		return nil, fmt.Errorf("sink %s: %w", f.name, err)
	}
	return s, nil
}

// Readier is a sink that can tell it cannot deliver until an operator
// acts (the Splunk sink whose token HEC refuses): /readyz reports it.
type Readier interface {
	// Ready returns nil, or why the sink cannot deliver.
	Ready() error
}

// Ready returns the errors of the sinks (unwrapped from their routing
// filters) that report they are not ready, nil when none does.
func Ready(ss []stream.Sink) error {
	var errs []error
	for _, s := range ss {
		for {
			u, ok := s.(interface{ Unwrap() stream.Sink })
			if !ok {
				break
			}
			s = u.Unwrap()
		}
		if r, ok := s.(Readier); ok {
			if err := r.Ready(); err != nil {
				errs = append(errs, fmt.Errorf("sink %s: %w", s.Name(), err))
			}
		}
	}
	return errors.Join(errs...)
}

// OpenAll opens every enabled factory in order, each behind its routing
// filter when it has one. When one fails, those already open are closed
// and the error returned.
func OpenAll(ctx context.Context, fs []Factory, deps Deps) ([]stream.Sink, error) {
	decisions := promauto.With(deps.Registerer).NewCounterVec(prometheus.CounterOpts{
		Name: "flowhose_sink_filter_records_total",
		Help: "Records a sink's routing filter kept or dropped (sinks with a filter only).",
	}, []string{"sink", "decision"})
	var out []stream.Sink
	for _, f := range fs {
		if !f.Enabled() {
			continue
		}
		s, err := open(ctx, f, deps, decisions)
		if err != nil {
			errs := []error{err}
			for _, o := range out {
				errs = append(errs, o.Close(context.Background()))
			}
			return nil, errors.Join(errs...)
		}
		out = append(out, s)
	}
	return out, nil
}

func open(ctx context.Context, f Factory, deps Deps, decisions *prometheus.CounterVec) (stream.Sink, error) {
	if f.Filter().Empty() {
		return f.Open(ctx, deps)
	}
	keep, err := filter.Compile(f.Filter())
	if err != nil {
		return nil, fmt.Errorf("sink %s: filter: %w", f.Name(), err)
	}
	s, err := f.Open(ctx, deps)
	if err != nil {
		return nil, err
	}
	return stream.Filtered(s, keep,
		decisions.WithLabelValues(f.Name(), "kept"),
		decisions.WithLabelValues(f.Name(), "dropped")), nil
}
