package inventory

import (
	"context"
	"net/netip"
	"testing"

	"github.com/flowhose/flowhose/stream"
)

// TestBatchIDCacheCollisions interleaves ENI ids that share a cache slot
// (same last digit) with unknown ones in one batch: each record must get
// its own ENI, never the previous occupant of the slot.
func TestBatchIDCacheCollisions(t *testing.T) {
	ifaces := []*stream.Interface{{ID: "eni-0a1", VPCID: "vpc-1"}, {ID: "eni-0b1", VPCID: "vpc-1"}, {ID: "eni-0cf", VPCID: "vpc-1"}}
	cache := DefaultCache()
	inv := start(t, cache, &fakeSource{ifaces: ifaces})
	waitFor(t, func() bool { return len(inv.snap.Load().byID) == 3 })

	a := netip.MustParseAddr("192.0.2.1")
	ids := []string{"eni-0a1", "eni-0b1", "eni-0a1", "eni-0f1", "eni-0cf", "eni-0b1", "", "eni-0a1"}
	var recs []stream.Record
	for _, id := range ids {
		recs = append(recs, record(id, a, a))
	}
	recs[6].Present &^= 1 << stream.FieldInterfaceID
	inv.Enrich(context.Background(), recs)
	for i, id := range ids {
		got := ""
		if it := recs[i].Enrichment.Interface; it != nil {
			got = it.ID
		}
		want := id
		if id == "eni-0f1" {
			want = "" // unknown
		}
		if got != want {
			t.Errorf("record %d (%q): interface %q, want %q", i, id, got, want)
		}
	}
}
