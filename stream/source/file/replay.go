// Package file replays flow-log files (as S3 delivers them: plain or gzip,
// header line first) through the pipeline: `flowhose replay [FILE…|-]`.
package file

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
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

// Add adds o's counts to s.
func (s *Summary) Add(o Summary) {
	s.Files += o.Files
	s.Lines += o.Lines
	s.Records += o.Records
	s.Failures += o.Failures
	s.Skipped += o.Skipped
	s.Batches += o.Batches
	s.Errors += o.Errors
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

// New returns a Replayer. decOpts configures each input's decoder (Ref is
// set to the input's name, Source to "replay" unless set); log may be nil.
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
	if decOpts.Source == "" {
		decOpts.Source = "replay"
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

	errs ErrorList
}

func (rn *run) fail(err error) { rn.errs.Add(err) }

// errPermanent is why reading stopped after a batch failed permanently.
var errPermanent = errors.New("a batch failed permanently")

// Input is one thing to replay: a local file, standard input, an S3
// object.
type Input struct {
	// Name names the input in failures (their Ref), errors and summaries:
	// a path, s3://bucket/key.
	Name string
	// Open returns the input's bytes. An error marked stream.Permanent (an
	// object that is gone or forbidden) dead-letters the input with the
	// reason (and, from an *InputError, its Input); any other error is counted in Summary.Errors. When the reader
	// is an *os.File, a Parquet file is read in place; otherwise it is
	// first copied to a temporary file (Parquet's index is at its end).
	Open func(ctx context.Context) (io.ReadCloser, error)
}

// PathInput returns the Input of a local path, "-" being r.Stdin.
func (r *Replayer) PathInput(path string) Input {
	return Input{Name: path, Open: func(ctx context.Context) (io.ReadCloser, error) {
		if path == Stdin {
			return io.NopCloser(&interruptible{ctx: ctx, r: r.Stdin}), nil
		}
		return os.Open(path)
	}}
}

// Run replays paths in order and returns once every submitted batch is
// acknowledged. An unreadable input is reported and the next one is read.
// When ctx ends, or a batch fails with a permanent error, reading stops
// and Run still waits for the batches in flight. The error lists the first
// problems (why reading stopped first, if it did); the summary counts
// them all.
func (r *Replayer) Run(ctx context.Context, paths []string) (Summary, error) {
	inputs := make([]Input, len(paths))
	for i, p := range paths {
		inputs[i] = r.PathInput(p)
	}
	return r.RunInputs(ctx, inputs)
}

// RunInputs is Run for inputs of any kind. Runs may go on concurrently;
// each bounds its own batches in flight by max_in_flight.
func (r *Replayer) RunInputs(ctx context.Context, inputs []Input) (Summary, error) {
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	rn := &run{r: r, inFlight: make(chan struct{}, r.cfg.MaxInFlight), free: make(chan []stream.Record, r.cfg.MaxInFlight), stop: stop}
	var stopped error
	for _, in := range inputs {
		if ctx.Err() != nil {
			stopped = context.Cause(ctx)
			break
		}
		if err := rn.input(ctx, in); err != nil {
			if ctx.Err() != nil {
				stopped = fmt.Errorf("replay interrupted: %w", err)
				break
			}
			rn.fail(err)
		}
	}
	rn.wg.Wait()
	rn.sum.Errors = rn.errs.Len()
	return rn.sum, rn.errs.Err(stopped)
}

// sourceError is an error of the input's own reader (a file system, a
// network connection): worth retrying, unlike an error in what was read.
type sourceError struct{ err error }

func (e sourceError) Error() string { return e.err.Error() }
func (e sourceError) Unwrap() error { return e.err }

// sourceReader marks its reader's errors as sourceErrors, so that they can
// be told apart from the errors of the gzip or Parquet reading on top.
type sourceReader struct{ r io.Reader }

func (s sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		err = sourceError{err}
	}
	return n, err
}

// interruptible reads r, but returns as soon as ctx ends even while a read
// of r is blocked: standard input fed by a pipe that stays open
// (`tail -f … | flowhose replay -`) would otherwise hold a stopping replay
// until the next line came. The blocked read is left behind, which only
// the process's exit ends; nothing else reads r after that.
type interruptible struct {
	ctx     context.Context
	r       io.Reader
	buf     []byte // the reading goroutine's until it answers on res
	left    []byte // read, not yet returned
	err     error  // r's error, returned once left is empty
	res     chan int
	reading bool
}

func (c *interruptible) Read(p []byte) (int, error) {
	// reading first: while a read is out, err is its goroutine's.
	if !c.reading && len(c.left) == 0 && c.err == nil {
		if c.buf == nil {
			c.buf, c.res = make([]byte, 64<<10), make(chan int, 1)
		}
		c.reading = true
		go func() {
			n, err := c.r.Read(c.buf)
			c.err = err // published by the send on res
			c.res <- n
		}()
	}
	if c.reading {
		select {
		case n := <-c.res:
			c.reading, c.left = false, c.buf[:n]
		case <-c.ctx.Done():
			return 0, context.Cause(c.ctx)
		}
	}
	if len(c.left) > 0 {
		n := copy(p, c.left)
		c.left = c.left[n:]
		return n, nil
	}
	return 0, c.err
}

// unreadable is input that can never be read as flow logs from line on:
// corrupt or truncated gzip, a corrupt Parquet file. It is dead-lettered
// rather than retried.
type unreadable struct {
	err  error
	line int
}

func (e *unreadable) Error() string { return e.err.Error() }
func (e *unreadable) Unwrap() error { return e.err }

// readFailed classifies an error met reading an input at line.
func readFailed(err error, line int) error {
	var se sourceError
	if errors.As(err, &se) {
		return err
	}
	return &unreadable{err: err, line: line}
}

// input replays one input: text (plain or gzip, detected from the bytes),
// Parquet, or Firehose error records.
func (rn *run) input(ctx context.Context, in Input) error {
	rc, err := in.Open(ctx)
	if err != nil {
		if stream.IsPermanent(err) {
			return rn.deadLetter(ctx, in.Name, 0, err)
		}
		return fmt.Errorf("replay: %w", err)
	}
	defer rc.Close()
	rn.sum.Files++
	opts := rn.r.decOpts
	opts.Ref = in.Name
	dec, err := decode.New(opts)
	if err != nil {
		return fmt.Errorf("replay %s: %w", in.Name, err)
	}
	err = rn.content(ctx, in.Name, rc, dec)
	var u *unreadable
	if errors.As(err, &u) {
		return rn.deadLetter(ctx, in.Name, u.line, u.err)
	}
	if err != nil {
		return fmt.Errorf("replay %s: %w", in.Name, err)
	}
	return nil
}

// content reads an opened input.
func (rn *run) content(ctx context.Context, name string, rc io.ReadCloser, dec *decode.Decoder) error {
	br := bufio.NewReaderSize(sourceReader{rc}, 64<<10)
	rd := br
	// S3 names do not always say .gz: the magic bytes do.
	gzipped := false
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return readFailed(fmt.Errorf("gzip: %w", err), 1)
		}
		defer gz.Close()
		rd, gzipped = bufio.NewReaderSize(gz, 64<<10), true
	}
	head, err := rd.Peek(errorRecordSniff)
	if err != nil && err != io.EOF && !errors.Is(err, bufio.ErrBufferFull) {
		return readFailed(err, 1)
	}
	switch {
	case bytes.HasPrefix(head, []byte(parquetMagic)):
		f, isFile := rc.(*os.File)
		if gzipped || !isFile {
			return rn.spooledParquet(ctx, name, rd, dec)
		}
		st, err := f.Stat()
		if err != nil {
			return sourceError{err}
		}
		return rn.parquet(ctx, name, f, st.Size(), dec)
	case isErrorRecords(head):
		return rn.errorRecords(ctx, name, rd, dec)
	}
	return rn.lines(ctx, name, newChunker(rd, rn.r.cfg.ChunkBytes, rn.r.cfg.BatchSize), dec)
}

// lines decodes and submits the chunks of a text input.
func (rn *run) lines(ctx context.Context, name string, src *chunker, dec *decode.Decoder) error {
	line := 1 // number of the chunk's first line
	for {
		c, err := src.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return readFailed(err, line)
		}
		out := decode.Output{Records: rn.records(c.lines)}
		if c.overlong != nil {
			out.Failures = append(out.Failures, stream.Failure{Source: rn.r.decOpts.Source, Ref: name, Input: string(c.overlong), Line: line,
				Reason: "line longer than chunk_bytes (" + strconv.FormatInt(rn.r.cfg.ChunkBytes, 10) + "); input truncated"})
		} else {
			dec.TextAt(c.text, line, &out)
		}
		if err := rn.deliver(ctx, name, line, c.lines, &out); err != nil {
			return err
		}
		line += c.lines
	}
}

// parquet replays a Parquet file of size bytes read through r.
func (rn *run) parquet(ctx context.Context, name string, r io.ReaderAt, size int64, dec *decode.Decoder) error {
	p, err := openParquet(r, size, rn.r.cfg.ChunkBytes, rn.r.cfg.BatchSize)
	if err != nil {
		return readFailed(err, 1)
	}
	defer p.close()
	line := 1 // number of the run's first line
	for {
		out := decode.Output{Records: rn.records(p.lines())}
		n, err := p.next(dec, line, &out)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return readFailed(err, line)
		}
		if err := rn.deliver(ctx, name, line, n, &out); err != nil {
			return err
		}
		line += n
	}
}

// deliver counts a run of n lines, the first numbered line, and submits
// what they decoded to.
func (rn *run) deliver(ctx context.Context, name string, line, n int, out *decode.Output) error {
	rn.sum.Lines += int64(n)
	rn.sum.Skipped += int64(out.Skipped)
	return rn.submit(ctx, name, line, out)
}

// spooledParquet copies a Parquet stream (gzip, an S3 body) to a temporary
// file, at most max_spool_bytes, and replays it from there.
func (rn *run) spooledParquet(ctx context.Context, name string, rd io.Reader, dec *decode.Decoder) error {
	f, err := os.CreateTemp(rn.r.cfg.SpoolDir, "flowhose-parquet-*")
	if err != nil {
		return fmt.Errorf("parquet spool: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	limit := rn.r.cfg.MaxSpoolBytes
	n, err := io.Copy(f, io.LimitReader(rd, limit+1))
	if err != nil {
		if errors.As(err, new(*fs.PathError)) { // writing the spool file
			return fmt.Errorf("parquet spool: %w", err)
		}
		return readFailed(err, 1)
	}
	if n > limit {
		return readFailed(fmt.Errorf("parquet file larger than max_spool_bytes (%d)", limit), 1)
	}
	return rn.parquet(ctx, name, f, n, dec)
}

// InputError is an error of Input.Open that carries what the dead letter
// of the input holds (its Failure.Input): the SQS message that named no
// object, so that deleting the message does not lose what it said.
type InputError struct {
	Err   error
	Input string
}

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// deadLetter records an input that cannot be read, from line on (0: not
// at all), as a failure naming it and why.
func (rn *run) deadLetter(ctx context.Context, name string, line int, err error) error {
	f := stream.Failure{Source: rn.r.decOpts.Source, Ref: name, Line: line, Reason: "unreadable input: " + err.Error()}
	if ie := (*InputError)(nil); errors.As(err, &ie) {
		f.Input = ie.Input
	}
	out := decode.Output{Failures: []stream.Failure{f}}
	return rn.submit(ctx, name, line, &out)
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
