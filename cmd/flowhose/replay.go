package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/flowhose/flowhose/stream/source/file"
)

// replaySummary is printed as JSON on standard error when replay ends.
type replaySummary struct {
	OK           bool     `json:"ok"`
	Files        int      `json:"files"`
	Lines        int64    `json:"lines"`
	Records      int64    `json:"records"`
	DeadLettered int64    `json:"dead_lettered"`
	Skipped      int64    `json:"skipped"`
	Batches      int64    `json:"batches"`
	Failed       int      `json:"failed"` // unreadable inputs and undelivered batches
	Errors       []string `json:"errors,omitempty"`
}

// replay delivers flow-log files (standard input for "-" or when none are
// named) through the configured pipeline and sinks. It fails when a file
// is unreadable, a batch is not delivered or a line did not decode. When
// ctx ends (SIGTERM, SIGINT), reading stops and the batches in flight get
// sources.file.drain_timeout to be delivered; then the sinks are closed
// with an ended context, so that a sink retrying without end (Elasticsearch
// with retry_for 0) gives up and fails them, and replay fails.
func replay(ctx context.Context, configPath string, paths []string, stdin io.Reader, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(configPath, stderr)
	if err != nil {
		return err
	}
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
	r, err := file.New(cfg.Sources.File, opts, a.pipeline, log)
	if err != nil {
		return errors.Join(err, a.close(context.Background()))
	}
	r.Stdin = stdin
	timeout := cfg.Sources.File.DrainTimeout
	drainCtx, stopDrain := drainContext(ctx, timeout)
	defer stopDrain()
	type result struct {
		sum file.Summary
		err error
	}
	ran := make(chan result, 1)
	go func() {
		sum, err := r.Run(ctx, paths)
		ran <- result{sum, err}
	}()
	var res result
	var undrained error
	select {
	case res = <-ran:
	case <-drainCtx.Done():
		undrained = fmt.Errorf("batches still undelivered after sources.file.drain_timeout %s: the sinks were closed and failed them", timeout)
		log.Error("replay: drain timed out, closing the sinks", "drain_timeout", timeout.String())
	}
	// Once Run has returned every batch is settled and closing flushes what
	// the sinks still buffer; past the drain deadline, closing with the
	// ended context makes the sinks give up, which settles the batches Run
	// still waits for.
	closeErr := a.close(drainCtx)
	if undrained != nil {
		res = <-ran
	}
	sum, runErr := res.sum, errors.Join(res.err, undrained)

	out := replaySummary{
		Files: sum.Files, Lines: sum.Lines, Records: sum.Records, DeadLettered: sum.Failures,
		Skipped: sum.Skipped, Batches: sum.Batches, Failed: sum.Errors,
	}
	for _, e := range flatten(errors.Join(runErr, closeErr)) {
		if e != nil {
			out.Errors = append(out.Errors, e.Error())
		}
	}
	out.OK = len(out.Errors) == 0 && sum.Errors == 0 && sum.Failures == 0
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
