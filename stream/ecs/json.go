package ecs

import (
	"github.com/flowhose/flowhose/stream/jsonenc"

	"math/bits"
	"slices"
)

// The helpers below write JSON by hand so that encoding a record needs no
// reflection and no allocation beyond growing dst.

// appendLowerString appends s as a JSON string with ASCII letters lowered.
// Lowering after escaping is safe: escapes use lower-case hex and other
// bytes of multi-byte sequences are never in 'A'..'Z'.
func appendLowerString(dst []byte, s string) []byte {
	n := len(dst)
	dst = jsonenc.AppendString(dst, s)
	for i := n; i < len(dst); i++ {
		if c := dst[i]; 'A' <= c && c <= 'Z' {
			dst[i] = c + 'a' - 'A'
		}
	}
	return dst
}

// member appends the name of the next member of an object: a comma unless
// it is the first (*n == 0), then "name":. name must need no escaping.
func member(dst []byte, n *int, name string) []byte {
	if *n > 0 {
		dst = append(dst, ',')
	}
	*n++
	dst = append(dst, '"')
	dst = append(dst, name...)
	return append(dst, '"', ':')
}

// key appends the name of the next member of an object, given as its
// ready-made text `,"name":`; the comma is dropped for the first member
// (*n == 0). One copy of a constant instead of member's four appends.
func key(dst []byte, n *int, k string) []byte {
	if *n == 0 {
		k = k[1:]
	}
	*n++
	return append(dst, k...)
}

// digitPairs holds "00" to "99", so numbers are formatted two digits per
// division.
const digitPairs = "00010203040506070809101112131415161718192021222324252627282930313233343536373839" +
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879" +
	"8081828384858687888990919293949596979899"

// appendUint appends v in decimal. It writes the digits straight into
// dst's spare capacity, so it copies nothing, unlike strconv.AppendUint.
func appendUint(dst []byte, v uint64) []byte {
	n := decimalLen(v)
	l := len(dst)
	if cap(dst)-l < n {
		dst = slices.Grow(dst, n)
	}
	dst = dst[:l+n]
	b := dst[l:]
	i := len(b)
	for v >= 100 {
		q := v / 100
		d := (v - q*100) * 2
		v = q
		i -= 2
		b[i], b[i+1] = digitPairs[d], digitPairs[d+1]
	}
	if v >= 10 {
		b[0], b[1] = digitPairs[v*2], digitPairs[v*2+1]
	} else {
		b[0] = byte('0' + v)
	}
	return dst
}

// numText is the decimal text of a number written more than once.
type numText struct {
	buf [20]byte // the largest uint64 has 20 digits
	i   uint8    // the text is buf[i:]
}

func (t *numText) set(v uint64) {
	i := len(t.buf)
	for v >= 100 {
		q := v / 100
		d := (v - q*100) * 2
		v = q
		i -= 2
		t.buf[i], t.buf[i+1] = digitPairs[d], digitPairs[d+1]
	}
	if v >= 10 {
		i -= 2
		t.buf[i], t.buf[i+1] = digitPairs[v*2], digitPairs[v*2+1]
	} else {
		i--
		t.buf[i] = byte('0' + v)
	}
	t.i = uint8(i)
}

func (t *numText) text() []byte { return t.buf[t.i:] }

// appendInt appends v in decimal.
func appendInt(dst []byte, v int64) []byte {
	u := uint64(v)
	if v < 0 {
		dst = append(dst, '-')
		u = -u
	}
	return appendUint(dst, u)
}

// decimalLen returns the number of decimal digits of v.
func decimalLen(v uint64) int {
	// log10(2) is about 1233/4096: a guess from the bit length that is
	// either right or one short. The correction is computed without a
	// branch, which would be mispredicted for numbers of mixed sizes:
	// pow10[t]-1-v wraps (top bit set) exactly when v >= pow10[t], as the
	// two are less than 2^63 apart.
	t := (bits.Len64(v) * 1233) >> 12
	n := t + int((pow10[t&31]-1-v)>>63)
	return max(n, 1)
}

// pow10[i] is 10^i, for i up to 19 (the largest power in a uint64); the
// array is padded to 32 entries so that an index masked with 31 needs no
// bounds check.
var pow10 = [32]uint64{
	1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19,
}

// openObject appends member name with an opening brace and returns the
// position to roll back to if the object stays empty.
func openObject(dst []byte, n *int, name string) ([]byte, int) {
	mark := len(dst)
	dst = member(dst, n, name)
	return append(dst, '{'), mark
}

// closeObject closes an object opened by openObject. An object that got no
// members (inner == 0) is removed entirely, so documents never carry empty
// objects for fields a record lacks.
func closeObject(dst []byte, n *int, mark, inner int) []byte {
	if inner == 0 {
		*n--
	}
	return endObject(dst, mark, inner)
}

// endObject closes an object whose member name starts at mark, removing
// it if it got no members (inner == 0).
func endObject(dst []byte, mark, inner int) []byte {
	if inner == 0 {
		return dst[:mark]
	}
	return append(dst, '}')
}

// Unix seconds of 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the range
// an RFC 3339 timestamp (four-digit year) can express.
const (
	minUnix = -62135596800
	maxUnix = 253402300799
)

// timeLen is the length of a quoted timestamp written by appendTime.
const timeLen = len(`"2006-01-02T15:04:05Z"`)

// appendTime appends sec (Unix seconds) as a quoted RFC 3339 UTC timestamp
// with second precision, e.g. "2014-12-14T04:07:50Z". It reports false and
// appends nothing when sec is outside years 1 to 9999.
func appendTime(dst []byte, sec int64) ([]byte, bool) {
	if sec < minUnix || sec > maxUnix {
		return dst, false
	}
	days := sec / 86400
	rem := sec % 86400
	if rem < 0 {
		rem += 86400
		days--
	}
	y, m, d := civil(days)
	hh, mm, ss := rem/3600, rem/60%60, rem%60
	dst = append(dst, '"',
		byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-',
		byte('0'+m/10), byte('0'+m%10), '-',
		byte('0'+d/10), byte('0'+d%10), 'T',
		byte('0'+hh/10), byte('0'+hh%10), ':',
		byte('0'+mm/10), byte('0'+mm%10), ':',
		byte('0'+ss/10), byte('0'+ss%10), 'Z', '"')
	return dst, true
}

// floorDiv is a/b rounded down, for b > 0.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}

// setClock overwrites the hh:mm:ss of a timestamp written by appendTime
// with the time of day of sec.
func setClock(b *[timeLen]byte, sec int64) {
	rem := sec % 86400
	if rem < 0 {
		rem += 86400
	}
	hh, mm, ss := rem/3600*2, rem/60%60*2, rem%60*2
	b[12], b[13] = digitPairs[hh], digitPairs[hh+1]
	b[15], b[16] = digitPairs[mm], digitPairs[mm+1]
	b[18], b[19] = digitPairs[ss], digitPairs[ss+1]
}

// civil converts days since 1970-01-01 to a proleptic Gregorian date
// (Howard Hinnant's days-to-civil algorithm, valid for the range above).
func civil(days int64) (y, m, d int64) {
	z := days + 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = doy - (153*mp+2)/5 + 1
	m = mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	return y, m, d
}
