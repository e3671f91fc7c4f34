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
	"github.com/flowhose/flowhose/stream/source"
	"github.com/flowhose/flowhose/stream/source/accesskey"
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
		if cfg.Sources.Firehose.Config.AllowUnauthenticated {
			log.Warn("sources.firehose.allow_unauthenticated is set and no access keys are configured: anyone who reaches "+cfg.HTTP.Listen+" can deliver records", "listen", cfg.HTTP.Listen)
		} else {
			log.Info("no access keys configured: serving on a loopback address only", "listen", cfg.HTTP.Listen)
		}
	}
	var ready atomic.Bool
	srcs, err := a.openSources(ctx, budget)
	if err != nil {
		return errors.Join(err, a.close(context.Background()))
	}
	mux := a.routes(&ready, srcs)
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
	runners := startRunners(srcs)
	ready.Store(true)
	v, c := buildVersion()
	log.Info("serving", "addr", ln.Addr().String(), "version", v, "commit", c)

	// failed is what ended serving on its own: the listener, or a
	// source's loop giving up for good.
	var failed error
	select {
	case err := <-served:
		failed = fmt.Errorf("serve: %w", err)
	case err := <-runners.failed:
		failed = err
	case <-ctx.Done():
	}
	ready.Store(false)
	log.Info("shutting down", "delay", cfg.HTTP.ShutdownDelay.String(), "timeout", cfg.HTTP.ShutdownTimeout.String())
	start := time.Now()
	drainCtx, cancel := context.WithTimeout(context.Background(), cfg.HTTP.ShutdownTimeout)
	defer cancel()
	drained := make(chan error, 1)
	go func() {
		// Loops stop fetching at once and settle what they took; in the
		// meantime the server keeps answering (with readiness failing)
		// while load balancers notice, then stops taking requests and
		// waits for in-flight ones. The pipeline and sinks close last.
		runErr := runners.stop(drainCtx)
		if failed == nil {
			select {
			case <-time.After(cfg.HTTP.ShutdownDelay):
			case <-drainCtx.Done():
			}
		}
		err := srv.Shutdown(drainCtx)
		drained <- errors.Join(runErr, err, a.close(drainCtx))
	}()
	select {
	case err := <-drained:
		if err = errors.Join(failed, err); err != nil {
			return fmt.Errorf("shutdown: %w", err)
		}
		log.Info("drained", "took", time.Since(start).Round(time.Millisecond).String())
		return nil
	case <-drainCtx.Done():
		return errors.Join(failed, fmt.Errorf("shutdown: not drained within http.shutdown_timeout %s", cfg.HTTP.ShutdownTimeout))
	}
}

// openSources opens the enabled sources; budget bounds what they hold.
func (a *app) openSources(ctx context.Context, budget *membudget.Budget) ([]source.Source, error) {
	deps, err := a.sourceDeps(budget)
	if err != nil {
		return nil, err
	}
	return source.OpenAll(ctx, a.cfg.Sources.Factories(), deps)
}

// sourceDeps is what serve's sources share. Their drain limit is
// http.shutdown_timeout, so that a source (S3 live mode) keeps what it
// took for as long as serve waits for it to settle.
func (a *app) sourceDeps(budget *membudget.Budget) (source.Deps, error) {
	opts, err := a.cfg.DecodeOptions("")
	if err != nil {
		return source.Deps{}, err
	}
	return source.Deps{
		Pipeline:   a.pipeline,
		Budget:     budget,
		Decode:     opts,
		Keys:       accesskey.New(a.cfg.Sources.Firehose.Config.AccessKeys),
		Enrichers:  a.enrichers,
		DeadLetter: a.dl,
		Registerer: a.reg,
		Logger:     a.log,
		DrainLimit: a.cfg.HTTP.ShutdownTimeout,
	}, nil
}

// runners are the sources' background loops.
type runners struct {
	cancel context.CancelFunc
	done   chan error // each loop's result, once
	n      int
	failed chan error // the first loop that ended on its own
}

// startRunners starts every source's loop under one context that stop
// cancels.
func startRunners(srcs []source.Source) *runners {
	ctx, cancel := context.WithCancel(context.Background())
	r := &runners{cancel: cancel, done: make(chan error, len(srcs)), failed: make(chan error, len(srcs))}
	for _, s := range srcs {
		if s.Run == nil {
			continue
		}
		r.n++
		go func() {
			err := s.Run(ctx)
			if ctx.Err() == nil {
				// Nobody asked it to stop: serving without it would
				// leave its input unread, so the process ends.
				if err == nil {
					err = errors.New("a source's loop ended by itself")
				}
				r.failed <- err
			}
			r.done <- err
		}()
	}
	return r
}

// stop cancels the loops and waits, bounded by ctx, for them to settle
// what they took.
func (r *runners) stop(ctx context.Context) error {
	r.cancel()
	var errs []error
	for range r.n {
		select {
		case err := <-r.done:
			errs = append(errs, err)
		case <-ctx.Done():
			return errors.Join(append(errs, fmt.Errorf("sources: not stopped: %w", ctx.Err()))...)
		}
	}
	return errors.Join(errs...)
}

// routes mounts the sources' handlers next to the health and metrics
// endpoints.
func (a *app) routes(ready *atomic.Bool, srcs []source.Source) *http.ServeMux {
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
	for _, s := range srcs {
		if s.Handler != nil {
			mux.Handle(s.Path, s.Handler)
		}
	}
	return mux
}
