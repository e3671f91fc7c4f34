package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/flowhose/flowhose/config"
	"github.com/flowhose/flowhose/enrich"
	"github.com/flowhose/flowhose/sinks"
	"github.com/flowhose/flowhose/sinks/deadletter"
	"github.com/flowhose/flowhose/stream"
)

// app is what every delivering command builds from the configuration: the
// logger, one metrics registry shared by every component, the dead-letter
// file, the sinks and the pipeline joining them.
type app struct {
	cfg       config.Config
	log       *slog.Logger
	reg       *prometheus.Registry
	dl        *deadletter.Writer
	enricher  *enrich.Enricher
	enrichers []stream.Enricher
	pipeline  *stream.Pipeline
	sinks     []stream.Sink // opened, for readiness

	stopRefresh context.CancelFunc // ends the enricher's data refresh
	refreshed   sync.WaitGroup
}

// startEnrich builds the enrichment chain and starts refreshing its data
// (ip-ranges, inventory) in the background until close.
func (a *app) startEnrich(ctx context.Context) error {
	e, err := enrich.New(ctx, a.cfg.Enrich, a.reg, a.log)
	if err != nil {
		return err
	}
	a.enricher = e
	a.enrichers = []stream.Enricher{e}
	refreshCtx, cancel := context.WithCancel(context.Background())
	a.stopRefresh = cancel
	a.refreshed.Go(func() { e.Run(refreshCtx) })
	return nil
}

// stopEnrich ends the refresh and releases the enricher's databases.
func (a *app) stopEnrich() error {
	if a.enricher == nil {
		return nil
	}
	a.stopRefresh()
	a.refreshed.Wait()
	return a.enricher.Close()
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

// newLogger builds the process logger and makes it the default, which
// components without a logger parameter use.
func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	// Validate accepted only the four names UnmarshalText knows.
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewJSONHandler(w, opts)
	if c.Format == "text" {
		h = slog.NewTextHandler(w, opts)
	}
	log := slog.New(h)
	slog.SetDefault(log)
	return log
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

// newApp opens the dead-letter file, starts enrichment, opens the enabled
// sinks (each doing its start-up step) and starts the pipeline.
// stdout and stderr stand in for "-" paths.
func newApp(ctx context.Context, cfg config.Config, log *slog.Logger, stdout, stderr io.Writer) (*app, error) {
	a := &app{cfg: cfg, log: log, reg: newRegistry()}
	dl, err := deadletter.New(cfg.Sinks.DeadLetter, stderr, a.reg)
	if err != nil {
		return nil, err
	}
	a.dl = dl
	var opened []stream.Sink
	// closeSinks undoes what succeeded before a later step failed.
	closeSinks := func() {
		for _, s := range opened {
			_ = s.Close(context.Background())
		}
		_ = a.stopEnrich()
		_ = dl.Close()
	}
	if err := a.startEnrich(ctx); err != nil {
		closeSinks()
		return nil, err
	}
	opened, err = sinks.OpenAll(ctx, cfg.Sinks.Factories(), sinks.Deps{
		DeadLetter: dl,
		Registerer: a.reg,
		Logger:     log,
		Stdout:     stdout,
	})
	if err != nil {
		closeSinks()
		return nil, err
	}
	p, err := stream.New(stream.Options{
		Workers:    cfg.Pipeline.WorkerCount(),
		QueueDepth: cfg.Pipeline.QueueDepth,
		Enrichers:  a.enrichers,
		Sinks:      opened,
		DeadLetter: dl,
		Metrics:    stream.NewMetrics(a.reg),
		Logger:     log,
	})
	if err != nil {
		closeSinks()
		return nil, err
	}
	a.pipeline = p
	a.sinks = opened
	return a, nil
}

// close drains the pipeline (finishing queued batches and closing the
// sinks), then stops enrichment and closes the dead-letter file. Sources
// must have stopped.
func (a *app) close(ctx context.Context) error {
	return errors.Join(a.pipeline.Close(ctx), a.stopEnrich(), a.dl.Close())
}
