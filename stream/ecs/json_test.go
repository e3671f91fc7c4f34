package ecs

import (
	"math"
	"net/netip"
	"strconv"
	"testing"
)

// TestAppendUint checks the hand-written formatter against strconv at
// every digit-count boundary, where decimalLen's estimate can be off.
func TestAppendUint(t *testing.T) {
	vals := []uint64{0, 1, 9, 10, 99, 100, 101, 65535, math.MaxUint32, math.MaxUint64, math.MaxUint64 - 1}
	for _, p := range pow10[:20] {
		vals = append(vals, p-1, p, p+1)
	}
	for _, v := range vals {
		want := "x" + strconv.FormatUint(v, 10)
		if got := string(appendUint([]byte("x"), v)); got != want {
			t.Errorf("appendUint(%d) = %q, want %q", v, got, want)
		}
	}
}

func TestAppendInt(t *testing.T) {
	for _, v := range []int64{0, -1, 1, -10, 1418530070, math.MaxInt64, math.MinInt64, math.MinInt64 + 1} {
		if got, want := string(appendInt(nil, v)), strconv.FormatInt(v, 10); got != want {
			t.Errorf("appendInt(%d) = %q, want %q", v, got, want)
		}
	}
}

// TestAppendQuotedIPv4 compares with netip's text for octets of one, two
// and three digits.
func TestAppendQuotedIPv4(t *testing.T) {
	for _, s := range []string{"0.0.0.0", "255.255.255.255", "10.0.1.5", "9.10.99.100", "172.31.16.139", "1.20.200.250"} {
		a := netip.MustParseAddr(s)
		if got, want := string(appendQuotedIPv4(nil, a.As4())), `"`+a.String()+`"`; got != want {
			t.Errorf("appendQuotedIPv4(%s) = %s, want %s", s, got, want)
		}
	}
}

// TestSetClock checks that rewriting the clock of another timestamp of
// the same day gives appendTime's text, on both sides of the epoch and at
// the ends of the supported range.
func TestSetClock(t *testing.T) {
	for _, sec := range []int64{0, 1, 86399, 86400, -1, -86400, -86401, 1418530070, minUnix, minUnix + 86399, maxUnix, maxUnix - 86399} {
		day := floorDiv(sec, 86400) * 86400
		for _, other := range []int64{day, day + 43210, day + 86399} {
			var b [timeLen]byte
			if _, ok := appendTime(b[:0], other); !ok {
				t.Fatalf("appendTime(%d) out of range", other)
			}
			setClock(&b, sec)
			want, _ := appendTime(nil, sec)
			if string(b[:]) != string(want) {
				t.Errorf("setClock(%d) on %d = %s, want %s", sec, other, b[:], want)
			}
		}
	}
}
