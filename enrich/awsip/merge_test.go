package awsip

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/gaissmai/bart"
)

// TestMergedLookupMatchesTwoTables checks the single merged table against
// the rule it encodes (longest specific prefix, else longest AMAZON one),
// evaluated on the two separate tables, for the embedded snapshot: at
// both ends of every prefix, just outside them, and at random addresses.
func TestMergedLookupMatchesTwoTables(t *testing.T) {
	zr, err := gzip.NewReader(bytes.NewReader(embedded))
	if err != nil {
		t.Fatal(err)
	}
	var doc document
	if err := json.NewDecoder(zr).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	b := newBuilder()
	for _, p := range doc.Prefixes {
		if err := b.add(p.Prefix, p.Service, p.Region, p.NetworkBorderGroup); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range doc.IPv6Prefixes {
		if err := b.add(p.Prefix, p.Service, p.Region, p.NetworkBorderGroup); err != nil {
			t.Fatal(err)
		}
	}
	b.merge()
	want := func(a netip.Addr) (*Range, bool) {
		if r, ok := b.specific.Lookup(a); ok {
			return r, true
		}
		return b.amazon.Lookup(a)
	}
	check := func(a netip.Addr) {
		t.Helper()
		got, gotOK := b.t.Lookup(a)
		exp, expOK := want(a)
		if gotOK != expOK || got != exp {
			t.Fatalf("Lookup(%s) = %+v, %v; want %+v, %v", a, got, gotOK, exp, expOK)
		}
	}
	var n int
	for _, tbl := range []*bart.Table[*Range]{&b.specific, &b.amazon} {
		for p := range tbl.All() {
			first := p.Addr()
			last := lastAddr(p)
			check(first)
			check(last)
			check(first.Prev())
			check(last.Next())
			n++
		}
	}
	if n < 1000 {
		t.Fatalf("only %d prefixes checked", n)
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		var a4 [4]byte
		for i := range a4 {
			a4[i] = byte(rnd.Uint32())
		}
		check(netip.AddrFrom4(a4))
		var a6 [16]byte
		a6[0], a6[1] = 0x24, 0x06 // a block AWS publishes much of
		for i := 2; i < 16; i++ {
			a6[i] = byte(rnd.Uint32())
		}
		check(netip.AddrFrom16(a6))
	}
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
