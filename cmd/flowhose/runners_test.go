package main

import (
	"context"
	"errors"
	"testing"
	"time"

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
