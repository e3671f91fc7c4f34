// Package b64dec decodes standard base64 (RFC 4648, padded) exactly as
// encoding/base64.StdEncoding does, faster on the long runs of the
// alphabet that Firehose records are: it is the decoder of the Firehose
// endpoints' fast paths (stream/source/firehose, stream/source/transform).
package b64dec

import (
	"encoding/base64"
	"encoding/binary"
)

// Each table maps a byte to its 6 bits already shifted to their place in a
// 4-byte quantum's 24 bits, or to invalid for a byte outside the alphabet:
// one OR of four lookups decodes a quantum and one test checks it.
var t0, t1, t2, t3 [256]uint32

const invalid = 1 << 31

func init() {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := range 256 {
		t0[i], t1[i], t2[i], t3[i] = invalid, invalid, invalid, invalid
	}
	for v, c := range []byte(alphabet) {
		t0[c] = uint32(v) << 18
		t1[c] = uint32(v) << 12
		t2[c] = uint32(v) << 6
		t3[c] = uint32(v)
	}
}

// Decode is base64.StdEncoding.Decode: the same bytes written to dst, the
// same count, the same error. It decodes 8 bytes of src at a time while
// they are all in the alphabet and leaves the rest (the padded end, line
// breaks, any other byte) to encoding/base64; on an error it decodes all
// of src again with encoding/base64, so that the error is exactly its own.
func Decode(dst, src []byte) (int, error) {
	n, si := 0, 0
	// Each step writes 8 bytes of which 6 are kept, as encoding/base64's
	// own loop does.
	for len(src)-si >= 8 && len(dst)-n >= 8 {
		s := src[si : si+8]
		a := t0[s[0]] | t1[s[1]] | t2[s[2]] | t3[s[3]]
		b := t0[s[4]] | t1[s[5]] | t2[s[6]] | t3[s[7]]
		if (a|b)&invalid != 0 {
			break
		}
		binary.BigEndian.PutUint64(dst[n:], uint64(a)<<40|uint64(b)<<16)
		n += 6
		si += 8
	}
	m, err := base64.StdEncoding.Decode(dst[n:], src[si:])
	if err != nil {
		return base64.StdEncoding.Decode(dst, src)
	}
	return n + m, nil
}
