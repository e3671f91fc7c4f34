package decode

import (
	"reflect"
	"strings"
	"testing"

	"github.com/flowhose/flowhose/stream"
)

// sameAsGeneral decodes text line by line with the version-2 fast path
// on and off and fails on any difference in records or errors, headers
// included (they switch the path on and off).
func sameAsGeneral(t *testing.T, text string) (fast int) {
	t.Helper()
	on := newDecoder(t, DefaultFormatString, v5Format)
	off := newDecoder(t, DefaultFormatString, v5Format)
	for _, line := range strings.Split(text, "\n") {
		off.v2 = false
		var r1, r2 stream.Record
		if on.v2 && lineV2(strings.TrimSuffix(line, "\r"), new(stream.Record)) {
			fast++
		}
		err1 := on.Line(line, &r1)
		err2 := off.Line(line, &r2)
		if !reflect.DeepEqual(err1, err2) {
			t.Fatalf("line %q: fast path says %v, general path %v", line, err1, err2)
		}
		if err1 == nil && !reflect.DeepEqual(r1, r2) {
			t.Fatalf("line %q: fast path gives\n%+v\ngeneral path\n%+v", line, r1, r2)
		}
	}
	return fast
}

func TestLineV2MatchesGeneralPath(t *testing.T) {
	for _, tc := range []struct {
		name string
		text string
		fast int // lines the fast path must decode itself
	}{
		{"regular", lineA + "\n" + lineN, 2},
		{"separators", "\t" + strings.ReplaceAll(lineA, " ", " \t ") + " \r", 1},
		{"after v2 header", v2Header + "\n" + lineA, 1},
		{"off after other header", "version srcaddr\n2 1.2.3.4\n" + lineA, 0},
		{"ipv6", "2 1 eni-1 ::1 2001:db8::1 1 2 6 3 4 5 6 ACCEPT OK", 1},
		{"leading zero number", "2 1 eni-1 10.0.0.1 10.0.0.2 007 2 6 3 4 5 6 ACCEPT OK", 1},
		{"leading zero address", "2 1 eni-1 10.0.0.01 10.0.0.2 1 2 6 3 4 5 6 ACCEPT OK", 0},
		{"twenty digits", "2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 3 18446744073709551615 5 6 ACCEPT OK", 0},
		{"overflow", "2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 3 18446744073709551616 5 6 ACCEPT OK", 0},
		{"port out of range", "2 1 eni-1 10.0.0.1 10.0.0.2 70000 2 6 3 4 5 6 ACCEPT OK", 0},
		{"signed", "2 1 eni-1 10.0.0.1 10.0.0.2 -1 2 6 3 4 5 6 ACCEPT OK", 0},
		{"dash prefix", "2 1 eni-1 10.0.0.1 10.0.0.2 -- 2 6 3 4 5 6 ACCEPT OK", 0},
		{"bad address", "2 1 eni-1 10.0.0.1x 10.0.0.2 1 2 6 3 4 5 6 ACCEPT OK", 0},
		{"too few", "2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 3 4 5 6 ACCEPT", 0},
		{"too many", lineA + " extra", 0},
		{"v5 line", strings.Repeat("5 ", 29), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := sameAsGeneral(t, tc.text); got != tc.fast {
				t.Errorf("fast path decoded %d lines, want %d", got, tc.fast)
			}
		})
	}
}

// FuzzLineV2 checks that the version-2 fast path decodes every line
// exactly as the general path does, or leaves it to it.
func FuzzLineV2(f *testing.F) {
	seedLines(f)
	f.Add("2 1 eni-1 ::1 2001:db8::1 007 2 6 3 18446744073709551615 5 6 ACCEPT OK")
	f.Fuzz(func(t *testing.T, s string) {
		sameAsGeneral(t, s)
	})
}

func TestDigits8(t *testing.T) {
	for _, s := range []string{"00000000", "12345678", "99999999", "1 345678", "-1234567", "123456:8", "1234567/",
		"0\x00\x00\x00\x00\x00\x00\x00", "9999999\xff", "x2345678", "00000001", "1234\xb9678"} {
		var want uint64
		k := 0
		for k < 8 && s[k] >= '0' && s[k] <= '9' {
			want = want*10 + uint64(s[k]-'0')
			k++
		}
		gotV, gotK := digits8(load64(s, 0))
		if gotV != want || gotK != k {
			t.Errorf("digits8(%q) = %d, %d; want %d, %d", s, gotV, gotK, want, k)
		}
	}
}

func FuzzDigits8(f *testing.F) {
	f.Add(uint64(0x3837363534333231))
	f.Fuzz(func(t *testing.T, w uint64) {
		var b [8]byte
		for i := range b {
			b[i] = byte(w >> (8 * i))
		}
		var want uint64
		k := 0
		for k < 8 && b[k] >= '0' && b[k] <= '9' {
			want = want*10 + uint64(b[k]-'0')
			k++
		}
		if v, n := digits8(w); v != want || n != k {
			t.Fatalf("digits8(%q) = %d, %d; want %d, %d", b[:], v, n, want, k)
		}
	})
}
