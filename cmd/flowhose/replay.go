package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/flowhose/flowhose/stream/source/file"
	s3src "github.com/flowhose/flowhose/stream/source/s3"
)

// replaySummary is printed as JSON on standard error when replay ends.
type replaySummary struct {
	OK           bool  `json:"ok"`
	Files        int   `json:"files"`
	Lines        int64 `json:"lines"`
	Records      int64 `json:"records"`
	DeadLettered int64 `json:"dead_lettered"`
	Skipped      int64 `json:"skipped"`
	Batches      int64 `json:"batches"`
	Failed       int   `json:"failed"` // unreadable inputs and undelivered batches
	// S3 backfills only: objects selected, skipped as already in the
	// checkpoint, and skipped for want of a date in their key.
	Objects int      `json:"objects,omitempty"`
	Resumed int      `json:"resumed,omitempty"`
	Undated int      `json:"undated,omitempty"`
	Errors  []string `json:"errors,omitempty"`
}

// replayArgs are replay's operands and flags.
type replayArgs struct {
	paths []string
	// since, until and checkpoint apply to s3:// URLs (s3.Backfill).
	since, until time.Time
	checkpoint   string
}

// parseReplayArgs reads `replay [-since T] [-until T] [-checkpoint FILE]
// [-config FILE] [FILE…|-|s3://bucket/prefix…]`.
func parseReplayArgs(args []string, configPath string, stderr io.Writer) (string, replayArgs, error) {
	fs := flag.NewFlagSet("flowhose replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", configPath, "configuration `FILE` (YAML)")
	since := fs.String("since", "", "s3:// only: first `DATE` (2024-05-01, 2024-05-01T13 or RFC 3339) of the dated key prefixes to read")
	until := fs.String("until", "", "s3:// only: `DATE` before which to stop")
	checkpoint := fs.String("checkpoint", "", "s3:// only: `FILE` of objects replayed completely, skipped and appended to, so a stopped backfill resumes")
	if err := fs.Parse(args); err != nil {
		return "", replayArgs{}, flagError(err)
	}
	ra := replayArgs{paths: fs.Args(), checkpoint: *checkpoint}
	for _, f := range []struct {
		val string
		to  *time.Time
	}{{*since, &ra.since}, {*until, &ra.until}} {
		if f.val == "" {
			continue
		}
		t, err := s3src.ParseTime(f.val)
		if err != nil {
			fmt.Fprintf(stderr, "flowhose replay: %v\n", err)
			return "", replayArgs{}, exitError{2}
		}
		*f.to = t
	}
	s3urls := 0
	for _, p := range ra.paths {
		if strings.HasPrefix(p, "s3://") {
			s3urls++
		}
	}
	switch {
	case s3urls > 0 && s3urls < len(ra.paths):
		fmt.Fprintln(stderr, "flowhose replay: give either s3:// URLs or local files, not both")
		return "", replayArgs{}, exitError{2}
	case s3urls == 0 && (!ra.since.IsZero() || !ra.until.IsZero() || ra.checkpoint != ""):
		fmt.Fprintln(stderr, "flowhose replay: -since, -until and -checkpoint apply to s3:// URLs only")
		return "", replayArgs{}, exitError{2}
	}
	return *path, ra, nil
}

// replay delivers flow-log files (standard input for "-" or when none are
// named) or the objects under s3:// URLs through the configured pipeline
// and sinks. It fails when an input is unreadable, a batch is not
// delivered or a line did not decode. When ctx ends (SIGTERM, SIGINT),
// reading stops and the batches in flight get sources.file.drain_timeout
// (sources.s3's for a backfill) to be delivered; then the sinks are closed with an ended context, so
// that a sink retrying without end (Elasticsearch with retry_for 0) gives
// up and fails them, and replay fails.
func replay(ctx context.Context, configPath string, args replayArgs, stdin io.Reader, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(configPath, stderr)
	if err != nil {
		return err
	}
	paths := args.paths
	if len(paths) == 0 {
		paths = []string{file.Stdin}
	}
	log := newLogger(cfg.Log, stderr)
	logWarnings(log, cfg)
	a, err := newApp(ctx, cfg, log, stdout, stderr)
	if err != nil {
		return err
	}
	opts, err := cfg.DecodeOptions("")
	if err != nil {
		return errors.Join(err, a.close(context.Background()))
	}
	// Backfills read objects with sources.s3's settings, files with
	// sources.file's.
	s3cfg, fileCfg, section := cfg.Sources.S3.Config, cfg.Sources.File, "sources.file"
	backfill := strings.HasPrefix(paths[0], "s3://")
	if backfill {
		fileCfg, section = s3cfg.Config, "sources.s3"
	}
	r, err := file.New(fileCfg, opts, a.pipeline, log)
	if err != nil {
		return errors.Join(err, a.close(context.Background()))
	}
	r.Stdin = stdin
	runReplay := func(ctx context.Context) (replaySummary, error) {
		sum, err := r.Run(ctx, paths)
		return summaryOf(sum), err
	}
	if backfill {
		clients, err := s3src.NewClients(ctx, s3cfg)
		if err != nil {
			return errors.Join(err, a.close(context.Background()))
		}
		bf := s3src.NewBackfill(s3cfg, clients.S3, r, log)
		bf.Since, bf.Until, bf.Checkpoint = args.since, args.until, args.checkpoint
		if f, ok := stderr.(*os.File); ok && isTerminal(f) {
			bf.Progress = stderr
		}
		runReplay = func(ctx context.Context) (replaySummary, error) {
			sum, err := bf.Run(ctx, paths)
			out := summaryOf(sum.Summary)
			out.Objects, out.Resumed, out.Undated = sum.Objects, sum.Resumed, sum.Undated
			return out, err
		}
	}
	timeout := fileCfg.DrainTimeout
	drainCtx, stopDrain := drainContext(ctx, timeout)
	defer stopDrain()
	type result struct {
		sum replaySummary
		err error
	}
	ran := make(chan result, 1)
	go func() {
		sum, err := runReplay(ctx)
		ran <- result{sum, err}
	}()
	var res result
	var undrained error
	select {
	case res = <-ran:
	case <-drainCtx.Done():
		undrained = fmt.Errorf("batches still undelivered after %s.drain_timeout %s: the sinks were closed and failed them", section, timeout)
		log.Error("replay: drain timed out, closing the sinks", "drain_timeout", timeout.String())
	}
	// Once the run has returned every batch is settled and closing flushes
	// what the sinks still buffer; past the drain deadline, closing with
	// the ended context makes the sinks give up, which settles the batches
	// the run still waits for.
	closeErr := a.close(drainCtx)
	if undrained != nil {
		res = <-ran
	}
	out, runErr := res.sum, errors.Join(res.err, undrained)
	for _, e := range flatten(errors.Join(runErr, closeErr)) {
		if e != nil {
			out.Errors = append(out.Errors, e.Error())
		}
	}
	out.OK = len(out.Errors) == 0 && out.Failed == 0 && out.DeadLettered == 0
	line, err := json.Marshal(out)
	if err != nil {
		return err
	}
	fmt.Fprintln(stderr, string(line))
	if !out.OK {
		return exitError{1}
	}
	return nil
}

// summaryOf is the printed form of a replay's counts.
func summaryOf(sum file.Summary) replaySummary {
	return replaySummary{Files: sum.Files, Lines: sum.Lines, Records: sum.Records, DeadLettered: sum.Failures,
		Skipped: sum.Skipped, Batches: sum.Batches, Failed: sum.Errors}
}

// isTerminal reports whether f is a terminal, where a progress line
// redrawn in place makes sense.
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// drainContext returns a context that ends timeout after ctx does, or when
// stop is called.
func drainContext(ctx context.Context, timeout time.Duration) (drain context.Context, stop func()) {
	drain, cancel := context.WithCancel(context.Background())
	stopAfter := context.AfterFunc(ctx, func() { time.AfterFunc(timeout, cancel) })
	return drain, func() {
		stopAfter()
		cancel()
	}
}
