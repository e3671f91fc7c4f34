package retry

import (
	"context"
	"testing"
	"time"
)

func TestBackoffBounds(t *testing.T) {
	for attempt := range 70 {
		d := Backoff(100*time.Millisecond, 30*time.Second, attempt)
		lim := min(100*time.Millisecond<<min(attempt, 20), 30*time.Second)
		if d < lim/2 || d > lim {
			t.Fatalf("attempt %d: delay %s outside [%s, %s]", attempt, d, lim/2, lim)
		}
	}
}

func TestStopOn(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	called := make(chan struct{})
	stop := StopOn(ctx, func() { close(called) })
	cancel()
	<-called
	if !stop() {
		t.Fatal("stop() = false after ctx ended")
	}
	stop = StopOn(context.Background(), func() { t.Error("cancel called") })
	if stop() {
		t.Fatal("stop() = true with ctx alive")
	}
}
