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

func TestSleepEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Sleep(ctx, time.Hour) {
		t.Fatal("Sleep reported a full wait on a cancelled context")
	}
	if !Sleep(context.Background(), time.Millisecond) {
		t.Fatal("Sleep did not report a full wait")
	}
}
