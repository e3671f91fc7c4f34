package derive

import (
	"net/netip"
	"testing"

	"github.com/flowhose/flowhose/stream"
)

// reference is a slow, table-driven statement of the same rules that
// Classify implements with byte tests; the fuzzer checks they agree.
var reference = []struct {
	p netip.Prefix
	c stream.AddrClass
}{
	{netip.MustParsePrefix("0.0.0.0/8"), stream.AddrSpecial},
	{netip.MustParsePrefix("10.0.0.0/8"), stream.AddrPrivate},
	{netip.MustParsePrefix("100.64.0.0/10"), stream.AddrPrivate},
	{netip.MustParsePrefix("127.0.0.0/8"), stream.AddrLoopback},
	{netip.MustParsePrefix("169.254.0.0/16"), stream.AddrLinkLocal},
	{netip.MustParsePrefix("172.16.0.0/12"), stream.AddrPrivate},
	{netip.MustParsePrefix("192.0.0.0/24"), stream.AddrSpecial},
	{netip.MustParsePrefix("192.0.2.0/24"), stream.AddrDocumentation},
	{netip.MustParsePrefix("192.88.99.0/24"), stream.AddrSpecial},
	{netip.MustParsePrefix("192.168.0.0/16"), stream.AddrPrivate},
	{netip.MustParsePrefix("198.18.0.0/15"), stream.AddrSpecial},
	{netip.MustParsePrefix("198.51.100.0/24"), stream.AddrDocumentation},
	{netip.MustParsePrefix("203.0.113.0/24"), stream.AddrDocumentation},
	{netip.MustParsePrefix("224.0.0.0/4"), stream.AddrMulticast},
	{netip.MustParsePrefix("240.0.0.0/4"), stream.AddrSpecial},
	{netip.MustParsePrefix("::1/128"), stream.AddrLoopback},
	{netip.MustParsePrefix("64:ff9b::/96"), stream.AddrPublic},
	{netip.MustParsePrefix("2001::/23"), stream.AddrSpecial},
	{netip.MustParsePrefix("2001:db8::/32"), stream.AddrDocumentation},
	{netip.MustParsePrefix("3fff::/20"), stream.AddrDocumentation},
	{netip.MustParsePrefix("5f00::/16"), stream.AddrSpecial},
	{netip.MustParsePrefix("2000::/3"), stream.AddrPublic},
	{netip.MustParsePrefix("fc00::/7"), stream.AddrPrivate},
	{netip.MustParsePrefix("fe80::/10"), stream.AddrLinkLocal},
	{netip.MustParsePrefix("ff00::/8"), stream.AddrMulticast},
}

func slowClassify(a netip.Addr) stream.AddrClass {
	a = a.Unmap()
	best, class := -1, stream.AddrPublic
	if a.Is6() {
		class = stream.AddrSpecial
	}
	for _, r := range reference {
		if r.p.Contains(a) && r.p.Bits() > best {
			best, class = r.p.Bits(), r.c
		}
	}
	return class
}

func FuzzClassify(f *testing.F) {
	for _, s := range []string{"10.0.0.1", "100.127.255.255", "172.31.0.1", "198.19.0.1", "255.255.255.255",
		"::ffff:192.168.1.1", "64:ff9b::1", "2001:1ff::1", "2001:200::1", "3fff:fff::1", "fe80::1", "ff02::1"} {
		f.Add(netip.MustParseAddr(s).AsSlice())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, ok := netip.AddrFromSlice(b)
		if !ok {
			return
		}
		if got, want := Classify(a), slowClassify(a); got != want {
			t.Fatalf("Classify(%s) = %s, reference says %s", a, got, want)
		}
	})
}
