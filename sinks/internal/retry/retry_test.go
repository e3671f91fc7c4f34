package retry

import (
	"context"
	"strings"
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

func TestPolicyValidate(t *testing.T) {
	if err := DefaultPolicy().Validate(); err != nil {
		t.Fatal(err)
	}
	err := Policy{RetryInitial: 0, RetryMax: -1, RetryFor: -1}.Validate()
	for _, want := range []string{"retry_initial: must be positive", "retry_max: must be at least", "retry_for: must be 0"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
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
