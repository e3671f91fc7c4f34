package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/flowhose/flowhose/config"
	"github.com/flowhose/flowhose/stream/source"
)

// TestRunnersFailAndStop checks that a loop ending by itself is reported
// (serve then shuts down) and that stop waits, bounded, for the others.
func TestRunnersFailAndStop(t *testing.T) {
	boom := errors.New("boom")
	settled := make(chan struct{})
	r := startRunners([]source.Source{
		{Run: func(context.Context) error { return boom }},
		{Run: func(ctx context.Context) error {
			<-ctx.Done()
			close(settled)
			return nil
		}},
		{Path: "/only-a-handler"},
	})
	select {
	case err := <-r.failed:
		if !errors.Is(err, boom) {
			t.Fatalf("failed = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a failing loop was not reported")
	}
	err := r.stop(context.Background())
	if !errors.Is(err, boom) {
		t.Errorf("stop = %v, want the loop's error", err)
	}
	select {
	case <-settled:
	default:
		t.Error("stop returned before the other loop settled")
	}
}

func TestRunnersStopBounded(t *testing.T) {
	stuck := make(chan struct{})
	defer close(stuck)
	r := startRunners([]source.Source{{Run: func(context.Context) error { <-stuck; return nil }}})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := r.stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("stop = %v, want the deadline", err)
	}
}

// TestSourcesDrainWithinShutdownTimeout checks that serve hands
// http.shutdown_timeout to the sources as their drain limit: the S3
// source's live mode keeps extending the visibility of the messages it
// took for that long while serve drains.
func TestSourcesDrainWithinShutdownTimeout(t *testing.T) {
	cfg := config.Default()
	cfg.HTTP.ShutdownTimeout = 47 * time.Second
	deps, err := (&app{cfg: cfg}).sourceDeps(nil)
	if err != nil {
		t.Fatal(err)
	}
	if deps.DrainLimit != cfg.HTTP.ShutdownTimeout {
		t.Errorf("sources' drain limit %s, want http.shutdown_timeout %s", deps.DrainLimit, cfg.HTTP.ShutdownTimeout)
	}
}
