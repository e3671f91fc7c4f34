package retry

import (
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
