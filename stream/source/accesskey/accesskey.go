// Package accesskey checks the X-Amz-Firehose-Access-Key header that
// Firehose sends with every request, for every endpoint that Firehose (or
// anything pretending to be it) calls.
package accesskey

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
)

// Header is the request header that carries the key.
const Header = "X-Amz-Firehose-Access-Key"

// Keys is a set of accepted keys. A nil or empty Keys accepts every request.
type Keys struct {
	// Keys are compared as digests, so the comparison takes the same time
	// whatever the length of the key presented.
	digests [][sha256.Size]byte
}

// New returns the set of keys; several allow rotation.
func New(keys []string) *Keys {
	k := &Keys{}
	for _, key := range keys {
		k.digests = append(k.digests, sha256.Sum256([]byte(key)))
	}
	return k
}

// Enabled reports whether any key is required.
func (k *Keys) Enabled() bool { return k != nil && len(k.digests) > 0 }

// Allow reports whether r carries an accepted key (always true when no key
// is configured).
func (k *Keys) Allow(r *http.Request) bool {
	if !k.Enabled() {
		return true
	}
	got := sha256.Sum256([]byte(r.Header.Get(Header)))
	match := 0
	for i := range k.digests {
		// No early exit: every key is compared, so timing does not say
		// which one matched.
		match |= subtle.ConstantTimeCompare(got[:], k.digests[i][:])
	}
	return match == 1
}
