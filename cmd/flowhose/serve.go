package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/flowhose/flowhose/sinks"
	"github.com/flowhose/flowhose/stream/membudget"
	"github.com/flowhose/flowhose/stream/source/accesskey"
	"github.com/flowhose/flowhose/stream/source/firehose"
	"github.com/flowhose/flowhose/stream/source/transform"
)

// serve runs the HTTP server until ctx ends, then drains: readiness fails,
// in-flight requests finish (they wait for their acknowledgements), the
// pipeline delivers what is queued and the sinks close. Exceeding
// http.shutdown_timeout is an error (exit 1).
func serve(ctx context.Context, configPath string, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(configPath, stderr)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, stderr)
	logWarnings(log, cfg)
	a, err := newApp(ctx, cfg, log, stdout, stderr)
	if err != nil {
		return err
	}
	sizes := membudget.Resolve(cfg.Pipeline.MemoryBudget)
	budget, err := membudget.New(sizes.Budget, a.reg)
	if err != nil {
		return errors.Join(err, a.close(context.Background()))
	}
	goLimit := "GOMEMLIMIT"
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set && sizes.GoLimit > 0 {
		debug.SetMemoryLimit(sizes.GoLimit)
		goLimit = strconv.FormatInt(sizes.GoLimit, 10)
	}
	log.Info("memory budget", "bytes", sizes.Budget, "from", sizes.From, "go_memory_limit", goLimit)
	if cfg.Unauthenticated() {
		if cfg.Sources.Firehose.AllowUnauthenticated {
			log.Warn("sources.firehose.allow_unauthenticated is set and no access keys are configured: anyone who reaches "+cfg.HTTP.Listen+" can deliver records", "listen", cfg.HTTP.Listen)
		} else {
			log.Info("no access keys configured: serving on a loopback address only", "listen", cfg.HTTP.Listen)
		}
	}
	var ready atomic.Bool
	mux, err := a.routes(&ready, budget)
	if err != nil {
		return errors.Join(err, a.close(context.Background()))
	}
	ln, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return errors.Join(fmt.Errorf("listen: %w", err), a.close(context.Background()))
	}
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: cfg.HTTP.ReadHeaderTimeout,
		ReadTimeout:       cfg.HTTP.ReadTimeout,
		WriteTimeout:      cfg.HTTP.WriteTimeout,
		IdleTimeout:       cfg.HTTP.IdleTimeout,
		MaxHeaderBytes:    cfg.HTTP.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	ready.Store(true)
	v, c := buildVersion()
	log.Info("serving", "addr", ln.Addr().String(), "version", v, "commit", c)

	select {
	case err := <-served:
		// The listener failed on its own; nothing is being served.
		ready.Store(false)
		return errors.Join(fmt.Errorf("serve: %w", err), a.close(context.Background()))
	case <-ctx.Done():
	}
	ready.Store(false)
	log.Info("shutting down", "delay", cfg.HTTP.ShutdownDelay.String(), "timeout", cfg.HTTP.ShutdownTimeout.String())
	start := time.Now()
	drainCtx, cancel := context.WithTimeout(context.Background(), cfg.HTTP.ShutdownTimeout)
	defer cancel()
	drained := make(chan error, 1)
	go func() {
		// Keep answering (with readiness failing) while load balancers
		// notice, then stop taking requests and wait for in-flight ones.
		select {
		case <-time.After(cfg.HTTP.ShutdownDelay):
		case <-drainCtx.Done():
		}
		err := srv.Shutdown(drainCtx)
		drained <- errors.Join(err, a.close(drainCtx))
	}()
	select {
	case err := <-drained:
		if err != nil {
			return fmt.Errorf("shutdown: %w", err)
		}
		log.Info("drained", "took", time.Since(start).Round(time.Millisecond).String())
		return nil
	case <-drainCtx.Done():
		return fmt.Errorf("shutdown: not drained within http.shutdown_timeout %s", cfg.HTTP.ShutdownTimeout)
	}
}

// routes mounts the enabled sources next to the health and metrics
// endpoints; budget bounds what their requests hold.
func (a *app) routes(ready *atomic.Bool, budget *membudget.Budget) (*http.ServeMux, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "not ready")
			return
		}
		if err := sinks.Ready(a.sinks); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "not ready:", err)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{Registry: a.reg}))

	if fh := a.cfg.Sources.Firehose; fh.Enabled {
		opts, err := a.cfg.DecodeOptions("firehose")
		if err != nil {
			return nil, err
		}
		h, err := firehose.New(fh.Config, opts, firehose.Deps{Pipeline: a.pipeline, Budget: budget, Registerer: a.reg, Log: a.log})
		if err != nil {
			return nil, err
		}
		mux.Handle(fh.Path, h)
	}
	if tr := a.cfg.Sources.Transform; tr.Enabled {
		// The same keys as the Firehose endpoint: both are called by
		// Firehose, or by whoever holds its key.
		h, err := a.transformHandler(budget, accesskey.New(a.cfg.Sources.Firehose.AccessKeys))
		if err != nil {
			return nil, err
		}
		mux.Handle(tr.Path, h)
	}
	return mux, nil
}

// transformHandler builds the Firehose data-transformation handler. It
// answers from its own encoder rather than the pipeline's sinks: the
// response is the delivery. Inside Lambda budget and keys are nil: the
// function's memory size bounds it and IAM guards the invocation.
func (a *app) transformHandler(budget *membudget.Budget, keys *accesskey.Keys) (*transform.Handler, error) {
	opts, err := a.cfg.DecodeOptions("transform")
	if err != nil {
		return nil, err
	}
	return transform.New(a.cfg.Sources.Transform.Config, opts, transform.Deps{
		Enrichers: a.enrichers, DeadLetter: a.dl, Budget: budget, Keys: keys, Registerer: a.reg, Log: a.log,
	})
}
