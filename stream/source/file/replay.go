// Package file replays flow-log files (as S3 delivers them: plain or gzip,
// header line first) through the pipeline: `flowhose replay [FILE…|-]`.
package file

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"sync"

	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/decode"
)

// Stdin is the path that names standard input.
const Stdin = "-"

// maxReportedErrors bounds how many errors Run's error lists.
const maxReportedErrors = 10

// Summary counts what a replay did.
type Summary struct {
	Files    int   // inputs opened
	Lines    int64 // lines read, headers and blank lines included
	Records  int64 // records decoded and submitted
	Failures int64 // lines that failed to decode (dead-lettered)
	Skipped  int64 // header lines
	Batches  int64 // batches submitted
	Errors   int   // unreadable inputs plus batches that were not delivered
}

// Replayer reads files into a pipeline.
type Replayer struct {
	cfg      Config
	decOpts  decode.Options
	pipeline *stream.Pipeline
	log      *slog.Logger
	// Stdin is read for the path "-"; New sets it to os.Stdin.
	Stdin io.Reader
}

// New returns a Replayer. decOpts configures each file's decoder (Source is
// set to "replay" and Ref to the file's path); log may be nil.
func New(cfg Config, decOpts decode.Options, p *stream.Pipeline, log *slog.Logger) (*Replayer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("replay config: %w", err)
	}
	if p == nil {
		return nil, errors.New("replay: a pipeline is required")
	}
	if _, err := decode.New(decOpts); err != nil {
		return nil, fmt.Errorf("replay decoder options: %w", err)
	}
	if log == nil {
		log = slog.Default()
	}
	return &Replayer{cfg: cfg, decOpts: decOpts, pipeline: p, log: log, Stdin: os.Stdin}, nil
}

// run is the state of one Run.
type run struct {
	r        *Replayer
	sum      Summary
	inFlight chan struct{} // one token per unacknowledged batch
	// free holds record slices of acknowledged batches for reuse: a
	// record is about 1 KiB, so a fresh slice per chunk would make replay
	// allocate (and the GC sweep) gigabytes per million lines.
	free chan []stream.Record
	wg   sync.WaitGroup
	// stop ends reading once a batch failed permanently: the sink
	// refuses for good (a closed output pipe), so every later batch
	// would fail the same way.
	stop context.CancelCauseFunc

	mu     sync.Mutex
	errors int
	errs   []error
}

func (rn *run) fail(err error) {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	rn.errors++
	if len(rn.errs) < maxReportedErrors {
		rn.errs = append(rn.errs, err)
	}
}

// errPermanent is why reading stopped after a batch failed permanently.
var errPermanent = errors.New("a batch failed permanently")

// Run replays paths in order and returns once every submitted batch is
// acknowledged. An unreadable input is reported and the next one is read.
// When ctx ends, or a batch fails with a permanent error, reading stops
// and Run still waits for the batches in flight. The error lists the first
// problems (why reading stopped first, if it did); the summary counts
// them all.
func (r *Replayer) Run(ctx context.Context, paths []string) (Summary, error) {
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	rn := &run{r: r, inFlight: make(chan struct{}, r.cfg.MaxInFlight), free: make(chan []stream.Record, r.cfg.MaxInFlight), stop: stop}
	var stopped error
	for _, path := range paths {
		if ctx.Err() != nil {
			stopped = context.Cause(ctx)
			break
		}
		if err := rn.input(ctx, path); err != nil {
			if ctx.Err() != nil {
				stopped = fmt.Errorf("replay interrupted: %w", err)
				break
			}
			rn.fail(err)
		}
	}
	rn.wg.Wait()
	rn.sum.Errors = rn.errors
	errs := rn.errs
	if stopped != nil {
		errs = append([]error{stopped}, errs...)
	}
	if rn.errors > len(rn.errs) {
		errs = append(errs, fmt.Errorf("and %d more errors", rn.errors-len(rn.errs)))
	}
	return rn.sum, errors.Join(errs...)
}

// input replays one file or standard input.
func (rn *run) input(ctx context.Context, path string) error {
	var rd io.Reader
	if path == Stdin {
		rd = rn.r.Stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		defer f.Close()
		rd = f
	}
	rn.sum.Files++
	br := bufio.NewReaderSize(rd, 64<<10)
	// S3 names do not always say .gz: the magic bytes do.
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("replay %s: gzip: %w", path, err)
		}
		defer gz.Close()
		rd = gz
	} else {
		rd = br
	}
	opts := rn.r.decOpts
	opts.Source, opts.Ref = "replay", path
	dec, err := decode.New(opts)
	if err != nil {
		return fmt.Errorf("replay %s: %w", path, err)
	}
	ch := newChunker(rd, rn.r.cfg.ChunkBytes, rn.r.cfg.BatchSize)
	line := 1 // number of the chunk's first line
	for {
		c, err := ch.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("replay %s: after line %d: %w", path, line-1, err)
		}
		out := decode.Output{Records: rn.records(c.lines)}
		if c.overlong != nil {
			out.Failures = append(out.Failures, stream.Failure{Source: "replay", Ref: path, Input: string(c.overlong), Line: line,
				Reason: "line longer than chunk_bytes (" + strconv.FormatInt(rn.r.cfg.ChunkBytes, 10) + "); input truncated"})
		} else {
			dec.TextAt(c.text, line, &out)
		}
		rn.sum.Lines += int64(c.lines)
		rn.sum.Skipped += int64(out.Skipped)
		if err := rn.submit(ctx, path, line, &out); err != nil {
			return err
		}
		line += c.lines
	}
}

// records returns an empty record slice with room for n, reusing one of an
// acknowledged batch when there is one. The decoder zeroes every record it
// fills, so nothing of the previous batch shows through.
func (rn *run) records(n int) []stream.Record {
	select {
	case recs := <-rn.free:
		return slices.Grow(recs, n)
	default:
		return make([]stream.Record, 0, n)
	}
}

// submit hands one chunk's output to the pipeline once an in-flight slot is
// free, and settles the slot when the batch is acknowledged.
func (rn *run) submit(ctx context.Context, path string, line int, out *decode.Output) error {
	if len(out.Records) == 0 && len(out.Failures) == 0 {
		return nil
	}
	select {
	case rn.inFlight <- struct{}{}:
		// The batch that stopped the run frees its slot just after it
		// stops it: select may have taken the slot all the same.
		if ctx.Err() != nil {
			<-rn.inFlight
			return fmt.Errorf("%s at line %d: %w", path, line, context.Cause(ctx))
		}
	case <-ctx.Done():
		return fmt.Errorf("%s at line %d: %w", path, line, context.Cause(ctx))
	}
	ack := stream.NewAck()
	b := &stream.Batch{Records: out.Records, Failures: out.Failures, Ack: ack}
	recs := out.Records
	if err := rn.r.pipeline.Submit(ctx, b); err != nil {
		<-rn.inFlight
		return fmt.Errorf("%s at line %d: %w", path, line, err)
	}
	ack.Done(nil)
	rn.sum.Batches++
	rn.sum.Records += int64(len(out.Records))
	rn.sum.Failures += int64(len(out.Failures))
	rn.wg.Add(1)
	go func() {
		defer rn.wg.Done()
		<-ack.Completed()
		if err := ack.Err(); err != nil {
			rn.r.log.Error("replay batch not delivered", "file", path, "line", line, "err", err)
			rn.fail(fmt.Errorf("%s lines from %d: %w", path, line, err))
			if stream.IsPermanent(err) {
				rn.stop(errPermanent)
			}
		}
		// Every sink has settled the batch, so none uses its records now.
		select {
		case rn.free <- recs[:0]:
		default:
		}
		<-rn.inFlight
	}()
	return nil
}
