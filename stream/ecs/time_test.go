package ecs

import (
	"testing"
	"time"
)

func TestAppendTime(t *testing.T) {
	secs := []int64{0, 1, -1, 86399, 86400, 951782400, 951868800, 1418530070, 1616729349,
		4102444800, minUnix, minUnix + 86399, maxUnix, maxUnix - 86400, -62135596800 + 59*86400}
	// Every day boundary over several 400-year cycles, to cover leap rules.
	for s := int64(-13e9); s < 13e9; s += 86400*97 + 3601 {
		secs = append(secs, s)
	}
	for _, s := range secs {
		got, ok := appendTime(nil, s)
		want := `"` + time.Unix(s, 0).UTC().Format(time.RFC3339) + `"`
		if !ok || string(got) != want {
			t.Errorf("appendTime(%d) = %s, %v; want %s", s, got, ok, want)
		}
	}
	for _, s := range []int64{minUnix - 1, maxUnix + 1, -1 << 63, 1<<63 - 1} {
		if got, ok := appendTime([]byte("x"), s); ok || string(got) != "x" {
			t.Errorf("appendTime(%d) = %s, %v; want nothing", s, got, ok)
		}
	}
}
