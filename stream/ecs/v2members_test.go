package ecs

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/flowhose/flowhose/stream"
)

// TestV2MembersMatchFields checks the straight-line writer of full
// version-2 records against the general per-field loop, with values that
// exercise each formatter (escapes, IPv6, extremes).
func TestV2MembersMatchFields(t *testing.T) {
	base := stream.Record{
		Present: v2Fields, Version: 2, AccountID: "123456789012", InterfaceID: "eni-1",
		SrcAddr: netip.MustParseAddr("10.0.0.1"), DstAddr: netip.MustParseAddr("203.0.113.250"),
		SrcPort: 443, DstPort: 0, Protocol: 6, Packets: 1, Bytes: 1<<64 - 1,
		Start: 1700000000, End: -5, Action: "ACCEPT", LogStatus: "OK",
	}
	odd := base
	odd.SrcAddr, odd.DstAddr = netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("::ffff:1.2.3.4")
	odd.AccountID, odd.Action, odd.LogStatus = "a\"b\\c\x01", "ré\u2028", ""
	odd.Version, odd.Protocol, odd.SrcPort, odd.DstPort = 1<<31-1, 255, 65535, 9
	odd.Start, odd.End, odd.Packets, odd.Bytes = 1<<63-1, 0, 0, 10
	for _, r := range []stream.Record{base, odd} {
		for _, n0 := range []int{0, 3} {
			var tx texts
			tx.init(&r)
			n1, n2 := n0, n0
			got := appendV2Members(nil, &n1, &r, &tx)
			want := appendFields(nil, &n2, &r, &tx)
			if !bytes.Equal(got, want) || n1 != n2 {
				t.Errorf("n=%d: straight-line writer gives (%d)\n%s\nloop gives (%d)\n%s", n0, n1, got, n2, want)
			}
		}
	}
}
