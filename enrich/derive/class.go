// Package derive computes the enrichment fields that need no I/O: address
// classes, well-known port names, direction, perimeter direction and cost
// class. It reads what other enrichers put in stream.Enrichment.
package derive

import (
	"net/netip"

	"github.com/flowhose/flowhose/stream"
)

// Classify returns the class of a after the IANA IPv4 and IPv6
// special-purpose address registries. Blocks the registries mark globally
// reachable (AS112, NAT64 64:ff9b::/96, 6to4) count as public; IPv6
// addresses outside 2000::/3 are special (unallocated). IPv4-mapped IPv6
// addresses are classified as IPv4.
func Classify(a netip.Addr) stream.AddrClass {
	if !a.IsValid() {
		return stream.AddrNone
	}
	if a.Is4In6() {
		a = a.Unmap()
	}
	if a.Is4() {
		return classify4(a.As4())
	}
	return classify6(a.As16())
}

func classify4(b [4]byte) stream.AddrClass {
	switch b[0] {
	case 0:
		return stream.AddrSpecial // "this network"
	case 10:
		return stream.AddrPrivate
	case 100:
		if b[1]&0xc0 == 64 { // 100.64.0.0/10, RFC 6598 shared address space
			return stream.AddrPrivate
		}
	case 127:
		return stream.AddrLoopback
	case 169:
		if b[1] == 254 {
			return stream.AddrLinkLocal
		}
	case 172:
		if b[1]&0xf0 == 16 {
			return stream.AddrPrivate
		}
	case 192:
		switch {
		case b[1] == 168:
			return stream.AddrPrivate
		case b[1] == 0 && b[2] == 0:
			return stream.AddrSpecial // IETF protocol assignments
		case b[1] == 0 && b[2] == 2:
			return stream.AddrDocumentation
		case b[1] == 88 && b[2] == 99:
			return stream.AddrSpecial // deprecated 6to4 relay anycast
		}
	case 198:
		switch {
		case b[1]&0xfe == 18: // 198.18.0.0/15 benchmarking
			return stream.AddrSpecial
		case b[1] == 51 && b[2] == 100:
			return stream.AddrDocumentation
		}
	case 203:
		if b[1] == 0 && b[2] == 113 {
			return stream.AddrDocumentation
		}
	}
	switch {
	case b[0]&0xf0 == 224:
		return stream.AddrMulticast
	case b[0]&0xf0 == 240: // reserved, including 255.255.255.255
		return stream.AddrSpecial
	}
	return stream.AddrPublic
}

func classify6(b [16]byte) stream.AddrClass {
	hi := uint16(b[0])<<8 | uint16(b[1])
	switch {
	case b[0] == 0xff:
		return stream.AddrMulticast
	case b[0]&0xfe == 0xfc:
		return stream.AddrPrivate // unique local fc00::/7
	case hi&0xffc0 == 0xfe80:
		return stream.AddrLinkLocal
	case hi == 0x2001 && b[2] == 0x0d && b[3] == 0xb8:
		return stream.AddrDocumentation
	case hi == 0x3fff && b[2]&0xf0 == 0:
		return stream.AddrDocumentation // 3fff::/20
	case hi == 0x2001 && b[2] < 0x02:
		return stream.AddrSpecial // 2001::/23 IETF protocol assignments
	case hi == 0x5f00:
		return stream.AddrSpecial // SRv6 SIDs
	case b[0]&0xe0 == 0x20:
		return stream.AddrPublic // 2000::/3 global unicast
	case hi == 0x0064 && b[2] == 0xff && b[3] == 0x9b && isZero(b[4:12]):
		return stream.AddrPublic // NAT64 well-known prefix 64:ff9b::/96
	}
	if isZero(b[:15]) && b[15] == 1 {
		return stream.AddrLoopback
	}
	return stream.AddrSpecial
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// Internal reports whether an address of class c, or owned by a known ENI,
// lies inside the networks flowhose watches. Documentation addresses count
// as external: AWS's own examples use them as stand-ins for public ones.
func Internal(e *stream.Endpoint) bool {
	if e.Interface != nil {
		return true
	}
	switch e.Class {
	case stream.AddrPrivate, stream.AddrLoopback, stream.AddrLinkLocal:
		return true
	}
	return false
}
