// Package jsonenc appends JSON strings without reflection or allocation.
// flowhose writes documents, HEC events and dead letters by hand on hot
// paths; they all share this one escaper so that every output stays valid
// JSON whatever bytes arrive from untrusted input.
package jsonenc

import "unicode/utf8"

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string. It is correct for any byte
// sequence: quotes, backslashes and control characters are escaped, and
// invalid UTF-8 becomes U+FFFD, because lines come from untrusted input.
func AppendString(dst []byte, s string) []byte {
	if isPlain(s) {
		dst = append(dst, '"')
		dst = append(dst, s...)
		return append(dst, '"')
	}
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		// Skip eight plain ASCII bytes at a time: most values need no escaping.
		for i+8 <= len(s) && Plain8(load64(s, i)) {
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

// isPlain reports whether s is ASCII that a JSON string carries verbatim,
// as nearly every flow-log value is. It tests eight bytes at a time, the
// tail of a longer string as an overlapping last word, and bytes one by
// one only in strings shorter than eight.
func isPlain(s string) bool {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		if !Plain8(load64(s, i)) {
			return false
		}
	}
	if i == len(s) {
		return true
	}
	if len(s) >= 8 {
		return Plain8(load64(s, len(s)-8))
	}
	for ; i < len(s); i++ {
		if !plainByte[s[i]] {
			return false
		}
	}
	return true
}

// plainByte[c] reports whether c is ASCII that JSON strings carry verbatim.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// load64 reads s[i:i+8] as a little-endian word.
func load64(s string, i int) uint64 {
	_ = s[i+7]
	return uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
		uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
}

// Plain8 reports whether the eight bytes of w (little-endian) are all
// ASCII that JSON strings carry verbatim: none is below 0x20, a quote, a
// backslash or 0x80 and above. The tests are the classic "has byte less
// than n" and "has zero byte" bit tricks, exact when used as yes/no
// answers. stream/internal/jsonscan skips plain input with it too.
func Plain8(w uint64) bool {
	const lsb, msb = 0x0101010101010101, 0x8080808080808080
	ctl := (w - lsb*0x20) & ^w
	q := w ^ lsb*'"'
	q = (q - lsb) & ^q
	bs := w ^ lsb*'\\'
	bs = (bs - lsb) & ^bs
	return (ctl|q|bs|w)&msb == 0
}
