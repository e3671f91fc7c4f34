package main

import (
	"context"
	"io"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/flowhose/flowhose/sinks/deadletter"
	"github.com/flowhose/flowhose/stream/source/transform"
)

// runLambda serves the Firehose data transformation inside AWS Lambda.
// Only the transform source runs: its response is the delivery. The
// dead-letter file defaults to standard error there (CloudWatch Logs),
// since a function's file system is read-only outside /tmp.
func runLambda(configPath string, stderr io.Writer) error {
	cfg, err := loadConfig(configPath, stderr)
	if err != nil {
		return err
	}
	if cfg.Sinks.DeadLetter.Path == deadletter.DefaultConfig().Path {
		cfg.Sinks.DeadLetter.Path = deadletter.Stderr
	}
	log := newLogger(cfg.Log, stderr)
	logWarnings(log, cfg)
	reg := newRegistry()
	dl, err := deadletter.New(cfg.Sinks.DeadLetter, stderr, reg)
	if err != nil {
		return err
	}
	defer dl.Close()
	a := &app{cfg: cfg, log: log, reg: reg, dl: dl}
	if err := a.startEnrich(context.Background()); err != nil {
		return err
	}
	defer a.stopEnrich()
	// Budget and keys stay nil: the function's memory size bounds it and
	// IAM guards the invocation.
	opts, err := cfg.DecodeOptions("transform")
	if err != nil {
		return err
	}
	h, err := transform.New(cfg.Sources.Transform.Config, opts, transform.Deps{
		Enrichers: a.enrichers, DeadLetter: dl, Registerer: reg, Log: log,
	})
	if err != nil {
		return err
	}
	log.Info("serving Firehose transformation in AWS Lambda")
	// StartWithOptions does not return: the library ends the process if
	// the runtime API fails.
	lambda.StartWithOptions(h.HandleEvent, lambda.WithContext(context.Background()))
	return nil
}
