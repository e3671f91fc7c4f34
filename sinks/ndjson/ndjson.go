// Package ndjson is a sink that writes one ECS JSON document per line to
// standard output or a file.
package ndjson

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/flowhose/flowhose/sinks"
	"github.com/flowhose/flowhose/sinks/internal/linefile"
	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/ecs"
)

// Stdout is the Path value that selects standard output.
const Stdout = "-"

// Config configures the NDJSON sink.
type Config struct {
	// Path is the file to append to, or "-" for standard output.
	Path string `yaml:"path"`
	// Fsync makes every batch durable on disk before it is acknowledged.
	Fsync bool `yaml:"fsync"`
	// FlushBytes is how much encoded output is buffered before a write; a
	// batch is always written in full before its acknowledgement.
	FlushBytes int `yaml:"flush_bytes"`
	// Dataset is event.dataset and data_stream.dataset in each document.
	Dataset string `yaml:"dataset"`
	// Namespace is data_stream.namespace in each document.
	Namespace string `yaml:"namespace"`
	// Original adds event.original with the raw flow-log line.
	Original bool `yaml:"original"`
}

// Limits of FlushBytes.
const (
	minFlushBytes = 4 << 10
	maxFlushBytes = 64 << 20
)

// DefaultConfig writes to standard output without fsync.
func DefaultConfig() Config {
	return Config{
		Path:       Stdout,
		FlushBytes: 256 << 10,
		Dataset:    "aws.vpcflow",
		Namespace:  "default",
	}
}

// Validate reports every invalid setting, naming its key.
func (c Config) Validate() error {
	var errs []error
	if c.Path == "" {
		errs = append(errs, errors.New(`path: must be a file path or "-" for standard output, got ""`))
	}
	if c.FlushBytes < minFlushBytes || c.FlushBytes > maxFlushBytes {
		errs = append(errs, fmt.Errorf("flush_bytes: must be between %d and %d, got %d", minFlushBytes, maxFlushBytes, c.FlushBytes))
	}
	if c.Dataset == "" {
		errs = append(errs, errors.New(`dataset: must not be empty`))
	}
	if c.Namespace == "" {
		errs = append(errs, errors.New(`namespace: must not be empty`))
	}
	return errors.Join(errs...)
}

// ErrClosed is returned by Accept after Close.
var ErrClosed = errors.New("ndjson sink closed")

// Sink writes ECS documents, one per line. Accept is synchronous: the
// batch is written (and synced when configured) before it returns, and the
// batch's acknowledgement is settled by then. It is safe for concurrent use;
// batches are written whole, never interleaved.
type Sink struct {
	cfg Config
	enc ecs.Encoder

	mu     sync.Mutex
	w      *linefile.Writer
	file   *os.File // nil when writing to a caller's writer
	buf    []byte
	closed bool

	records prometheus.Counter
	bytes   prometheus.Counter
	errors  prometheus.Counter
	torn    prometheus.Counter
}

// New opens cfg.Path for appending. With Path "-" it writes to stdout, or
// to os.Stdout when stdout is nil. Metrics are registered on reg unless
// it is nil.
func New(cfg Config, stdout io.Writer, reg prometheus.Registerer) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("ndjson: %w", err)
	}
	s := &Sink{
		cfg: cfg,
		enc: ecs.Encoder{Dataset: cfg.Dataset, Namespace: cfg.Namespace, Original: cfg.Original},
		buf: make([]byte, 0, cfg.FlushBytes),
	}
	if cfg.Path == Stdout {
		if stdout == nil {
			stdout = os.Stdout
		}
		s.w = linefile.New(stdout)
	} else {
		f, err := os.OpenFile(cfg.Path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
		if err != nil {
			return nil, fmt.Errorf("ndjson: open output: %w", err)
		}
		// Syncing the file does not make a newly created file's
		// directory entry durable.
		if cfg.Fsync {
			if err := linefile.SyncDir(cfg.Path); err != nil {
				f.Close()
				return nil, fmt.Errorf("ndjson: %w", err)
			}
		}
		s.w, s.file = linefile.New(f), f
	}
	f := promauto.With(reg)
	s.records = f.NewCounter(prometheus.CounterOpts{
		Name: "flowhose_ndjson_records_total",
		Help: "Documents written by the NDJSON sink.",
	})
	s.bytes = f.NewCounter(prometheus.CounterOpts{
		Name: "flowhose_ndjson_bytes_total",
		Help: "Bytes written by the NDJSON sink.",
	})
	s.errors = f.NewCounter(prometheus.CounterOpts{
		Name: "flowhose_ndjson_write_errors_total",
		Help: "Batches the NDJSON sink failed to write.",
	})
	s.torn = f.NewCounter(prometheus.CounterOpts{
		Name: "flowhose_ndjson_torn_lines_total",
		Help: "Failed writes that left a partial line which could not be truncated away (a pipe); the next document starts on a new line.",
	})
	return s, nil
}

// Name implements stream.Sink.
func (s *Sink) Name() string { return "ndjson" }

// Accept writes the batch's records and settles the sink's share of its
// acknowledgement with the outcome.
func (s *Sink) Accept(_ context.Context, b *stream.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	err := s.write(b.Records)
	if err != nil {
		s.errors.Inc()
		if terr := s.w.Abandon(); terr != nil {
			s.torn.Inc()
			err = fmt.Errorf("%w; %w", err, terr)
		}
		err = fmt.Errorf("ndjson: %w", err)
		if errors.Is(err, syscall.EPIPE) {
			// The reader of a pipe (`flowhose replay … | head`) is gone and
			// will not come back: retrying cannot deliver.
			err = stream.Permanent(err)
		}
	} else {
		s.w.Commit()
		s.records.Add(float64(len(b.Records)))
	}
	b.Ack.Done(err)
	return nil
}

// write encodes recs into the reused buffer, writing it out whenever it
// passes FlushBytes so a huge batch does not hold its whole encoding.
func (s *Sink) write(recs []stream.Record) error {
	s.buf = s.buf[:0]
	for i := range recs {
		s.buf = s.enc.Append(s.buf, &recs[i])
		s.buf = append(s.buf, '\n')
		if len(s.buf) >= s.cfg.FlushBytes {
			if err := s.flush(); err != nil {
				return err
			}
		}
	}
	if err := s.flush(); err != nil {
		return err
	}
	if s.cfg.Fsync && s.file != nil {
		if err := s.file.Sync(); err != nil {
			return fmt.Errorf("fsync: %w", err)
		}
	}
	return nil
}

func (s *Sink) flush() error {
	if len(s.buf) == 0 {
		return nil
	}
	n, err := s.w.Write(s.buf)
	s.bytes.Add(float64(n))
	s.buf = s.buf[:0]
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// Close closes the output file; later Accepts fail with ErrClosed. Every
// accepted batch was already settled by Accept.
func (s *Sink) Close(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.file == nil {
		return nil
	}
	if err := s.file.Close(); err != nil {
		return fmt.Errorf("ndjson: close output: %w", err)
	}
	return nil
}

// Open is the sink's factory (see package sinks): New with the shared
// standard output and registry.
func Open(_ context.Context, cfg Config, deps sinks.Deps) (stream.Sink, error) {
	return New(cfg, deps.Stdout, deps.Registerer)
}
