package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/flowhose/flowhose/config"
	"github.com/flowhose/flowhose/sinks/deadletter"
	"github.com/flowhose/flowhose/sinks/ndjson"
	"github.com/flowhose/flowhose/stream"
)

// app is what every delivering command builds from the configuration: the
// logger, one metrics registry shared by every component, the dead-letter
// file, the sinks and the pipeline joining them.
type app struct {
	cfg      config.Config
	log      *slog.Logger
	reg      *prometheus.Registry
	dl       *deadletter.Writer
	pipeline *stream.Pipeline
}

// loadConfig loads and validates the configuration, printing every error.
func loadConfig(path string, stderr io.Writer) (config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintln(stderr, "flowhose: configuration is invalid:")
		for _, e := range flatten(err) {
			fmt.Fprintln(stderr, "  "+e.Error())
		}
		return cfg, exitError{1}
	}
	return cfg, nil
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	// Validate accepted only the four names UnmarshalText knows.
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// newRegistry returns a registry with the Go runtime and process
// collectors and flowhose_build_info.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	v, c := buildVersion()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "flowhose_build_info",
			Help:        "Always 1; labels say which build is running.",
			ConstLabels: prometheus.Labels{"version": v, "commit": c, "goversion": runtime.Version()},
		}, func() float64 { return 1 }),
	)
	return reg
}

// newApp opens the dead-letter file and the enabled sinks and starts the
// pipeline. stdout and stderr stand in for "-" paths.
func newApp(cfg config.Config, log *slog.Logger, stdout, stderr io.Writer) (*app, error) {
	a := &app{cfg: cfg, log: log, reg: newRegistry()}
	dl, err := deadletter.New(cfg.Sinks.DeadLetter, stderr, a.reg)
	if err != nil {
		return nil, err
	}
	a.dl = dl
	var sinks []stream.Sink
	closeSinks := func() {
		for _, s := range sinks {
			_ = s.Close(context.Background())
		}
		_ = dl.Close()
	}
	if cfg.Sinks.NDJSON.Enabled {
		s, err := ndjson.New(cfg.Sinks.NDJSON.Config, stdout, a.reg)
		if err != nil {
			closeSinks()
			return nil, err
		}
		sinks = append(sinks, s)
	}
	// TODO(ops): sinks.elasticsearch joins here when its package lands.
	p, err := stream.New(stream.Options{
		Workers:    cfg.Pipeline.Workers,
		QueueDepth: cfg.Pipeline.QueueDepth,
		Sinks:      sinks,
		DeadLetter: dl,
		Metrics:    stream.NewMetrics(a.reg),
		Logger:     log,
	})
	if err != nil {
		closeSinks()
		return nil, err
	}
	a.pipeline = p
	return a, nil
}

// close drains the pipeline (finishing queued batches and closing the
// sinks) and then the dead-letter file. Sources must have stopped.
func (a *app) close(ctx context.Context) error {
	return errors.Join(a.pipeline.Close(ctx), a.dl.Close())
}
