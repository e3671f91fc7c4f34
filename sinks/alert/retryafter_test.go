package alert

import (
	"testing"
	"time"
)

// A Retry-After too large for a time.Duration once multiplied must be
// capped, not wrap around to a negative wait that is then ignored.
func TestParseRetryAfterHugeValues(t *testing.T) {
	now := time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)
	for _, v := range []string{"10000000000", "9223372036854775807", "Fri, 31 Dec 9999 23:59:59 GMT"} {
		if got := parseRetryAfter(v, now); got != maxRetryAfter {
			t.Errorf("Retry-After %q: %s, want the cap %s", v, got, maxRetryAfter)
		}
	}
	for v, want := range map[string]time.Duration{"120": 2 * time.Minute, " 7 ": 7 * time.Second, "-5": 0,
		"Wed, 02 Dec 2026 03:00:30 GMT": 30 * time.Second, "Wed, 02 Dec 2026 02:00:00 GMT": 0, "soon": 0} {
		if got := parseRetryAfter(v, now); got != want {
			t.Errorf("Retry-After %q: %s, want %s", v, got, want)
		}
	}
}
