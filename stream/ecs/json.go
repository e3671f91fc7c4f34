package ecs

import "unicode/utf8"

// The helpers below write JSON by hand so that encoding a record needs no
// reflection and no allocation beyond growing dst.

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. It is correct for any byte
// sequence: quotes, backslashes and control characters are escaped, and
// invalid UTF-8 becomes U+FFFD, because lines come from untrusted input.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		// Skip eight plain ASCII bytes at a time: most values need no escaping.
		for i+8 <= len(s) && plain8(load64(s, i)) {
			i += 8
		}
		if i >= len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\uFFFD"...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// load64 reads s[i:i+8] as a little-endian word.
func load64(s string, i int) uint64 {
	_ = s[i+7]
	return uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
		uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
}

// plain8 reports whether the eight bytes of w are all ASCII that JSON
// strings carry verbatim: none is below 0x20, a quote, a backslash or
// 0x80 and above. The tests are the classic "has byte less than n" and
// "has zero byte" bit tricks, exact when used as yes/no answers.
func plain8(w uint64) bool {
	const lsb, msb = 0x0101010101010101, 0x8080808080808080
	ctl := (w - lsb*0x20) & ^w
	q := w ^ lsb*'"'
	q = (q - lsb) & ^q
	bs := w ^ lsb*'\\'
	bs = (bs - lsb) & ^bs
	return (ctl|q|bs|w)&msb == 0
}

// appendLowerString appends s as a JSON string with ASCII letters lowered.
// Lowering after escaping is safe: escapes use lower-case hex and other
// bytes of multi-byte sequences are never in 'A'..'Z'.
func appendLowerString(dst []byte, s string) []byte {
	n := len(dst)
	dst = appendString(dst, s)
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
