package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

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
// is unreadable, a batch is not delivered or a line did not decode.
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
	sum, runErr := r.Run(ctx, paths)
	// Every batch is acknowledged once Run returns; closing flushes what
	// the sinks still buffer.
	closeErr := a.close(context.Background())

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
