// Package awsip maps IP addresses to the AWS service, region and network
// border group that publish them in AWS's ip-ranges.json, with a
// longest-prefix-match table that is refreshed while running.
package awsip

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"sync"

	"github.com/gaissmai/bart"
)

// ServiceAmazon is the umbrella code that covers every AWS range.
const ServiceAmazon = "AMAZON"

// Range is one published AWS prefix and the service chosen for it. Ranges
// are shared and immutable: callers must not modify them.
type Range struct {
	Prefix             netip.Prefix
	Service            string
	Region             string
	NetworkBorderGroup string
}

// Table is an immutable lookup table built from one ip-ranges.json
// document. It is safe for concurrent use.
type Table struct {
	// SyncToken and CreateDate identify the published document.
	SyncToken  string
	CreateDate string

	// lpm answers Lookup with one longest-prefix match; merge explains
	// how it encodes the specific-over-AMAZON rule.
	lpm bart.Table[*Range]
	// v4Blocks has a bit set for every IPv4 /16 that some prefix overlaps:
	// most public addresses are in none, and testing a bit is far cheaper
	// than the trie walk that would find nothing.
	v4Blocks [1 << 16 / 64]uint64
	prefixes int
}

//go:embed ip-ranges.json.gz
var embedded []byte

// Default returns the table built from the snapshot compiled into the
// binary. It is parsed once, on first use.
var Default = sync.OnceValues(func() (*Table, error) {
	zr, err := gzip.NewReader(bytes.NewReader(embedded))
	if err != nil {
		return nil, fmt.Errorf("embedded ip-ranges: %w", err)
	}
	t, err := Parse(zr)
	if err != nil {
		return nil, fmt.Errorf("embedded ip-ranges: %w", err)
	}
	return t, nil
})

type document struct {
	SyncToken  string `json:"syncToken"`
	CreateDate string `json:"createDate"`
	Prefixes   []struct {
		Prefix             string `json:"ip_prefix"`
		Region             string `json:"region"`
		Service            string `json:"service"`
		NetworkBorderGroup string `json:"network_border_group"`
	} `json:"prefixes"`
	IPv6Prefixes []struct {
		Prefix             string `json:"ipv6_prefix"`
		Region             string `json:"region"`
		Service            string `json:"service"`
		NetworkBorderGroup string `json:"network_border_group"`
	} `json:"ipv6_prefixes"`
}

// Parse reads an ip-ranges.json document. It fails on malformed JSON, on a
// malformed prefix and on a document without any prefix, so that a broken
// download never replaces a good table.
func Parse(r io.Reader) (*Table, error) {
	var doc document
	if err := json.NewDecoder(r).Decode(&doc); err != nil {
		return nil, fmt.Errorf("decode ip-ranges: %w", err)
	}
	b := newBuilder()
	for i, p := range doc.Prefixes {
		if err := b.add(p.Prefix, p.Service, p.Region, p.NetworkBorderGroup); err != nil {
			return nil, fmt.Errorf("prefixes[%d]: %w", i, err)
		}
	}
	for i, p := range doc.IPv6Prefixes {
		if err := b.add(p.Prefix, p.Service, p.Region, p.NetworkBorderGroup); err != nil {
			return nil, fmt.Errorf("ipv6_prefixes[%d]: %w", i, err)
		}
	}
	if b.t.prefixes == 0 {
		return nil, fmt.Errorf("ip-ranges document lists no prefixes")
	}
	b.merge()
	b.t.SyncToken, b.t.CreateDate = doc.SyncToken, doc.CreateDate
	return b.t, nil
}

type builder struct {
	t        *Table
	specific bart.Table[*Range] // every service but AMAZON
	amazon   bart.Table[*Range] // AMAZON only: the fallback
	// strings interns the few distinct service, region and border-group
	// names so that thousands of ranges share them.
	strings map[string]string
}

func newBuilder() *builder {
	return &builder{t: &Table{}, strings: make(map[string]string)}
}

func (b *builder) intern(s string) string {
	if v, ok := b.strings[s]; ok {
		return v
	}
	s = strings.Clone(s)
	b.strings[s] = s
	return s
}

func (b *builder) add(prefix, service, region, nbg string) error {
	p, err := netip.ParsePrefix(prefix)
	if err != nil {
		return fmt.Errorf("prefix %q: %w", prefix, err)
	}
	if service == "" {
		return fmt.Errorf("prefix %q: empty service", prefix)
	}
	p = p.Masked()
	rg := &Range{Prefix: p, Service: b.intern(service), Region: b.intern(region), NetworkBorderGroup: b.intern(nbg)}
	tbl := &b.specific
	if service == ServiceAmazon {
		tbl = &b.amazon
	}
	old, exists := tbl.Get(p)
	if exists && !preferred(rg.Service, old.Service) {
		return nil
	}
	if !exists {
		b.t.prefixes++
	}
	tbl.Insert(p, rg)
	return nil
}

// merge builds the lookup table from the two tables add fills. Lookup
// must return the longest specific prefix holding an address, and the
// longest AMAZON one only when no specific prefix holds it. In the union
// of both tables, the longest prefix holding an address a is either
// specific (then it is the answer) or an AMAZON prefix A. In the latter
// case every specific prefix holding a is shorter than A, so it holds all
// of A: the answer is the same for every address of A, and A can carry
// it. A prefix listed by both keeps the specific range.
func (b *builder) merge() {
	for p, rg := range b.specific.All() {
		b.t.lpm.Insert(p, rg)
	}
	for p, rg := range b.amazon.All() {
		if _, ok := b.specific.Get(p); ok {
			continue
		}
		if s, ok := b.specific.LookupPrefix(p); ok {
			rg = s
		}
		b.t.lpm.Insert(p, rg)
	}
	for p := range b.t.lpm.All4() {
		first := v4Block(p.Addr())
		n := 1
		if p.Bits() < 16 {
			n = 1 << (16 - p.Bits())
		}
		for k := first; k < first+n; k++ {
			b.t.v4Blocks[k/64] |= 1 << (k % 64)
		}
	}
}

// v4Block returns the index of the /16 holding the IPv4 address a.
func v4Block(a netip.Addr) int {
	b := a.As4()
	return int(b[0])<<8 | int(b[1])
}

// preferred reports whether service a wins over service b when both list
// the same prefix. AWS documents no rule, so flowhose fixes one: a specific
// product beats a generic pool, which means EC2 (addresses any customer can
// hold) loses to everything, CLOUDFRONT loses to its subset
// CLOUDFRONT_ORIGIN_FACING, and remaining ties go to the alphabetically
// first code.
func preferred(a, b string) bool {
	ra, rb := rank(a), rank(b)
	if ra != rb {
		return ra > rb
	}
	return a < b
}

func rank(service string) int {
	switch service {
	case "EC2":
		return 0
	case "CLOUDFRONT":
		return 1
	default:
		return 2
	}
}

// Lookup returns the range of the most specific service that publishes a,
// falling back to AMAZON only when no specific service covers it. IPv4
// addresses mapped into IPv6 are looked up as IPv4.
func (t *Table) Lookup(a netip.Addr) (*Range, bool) {
	if !a.IsValid() {
		return nil, false
	}
	a = a.Unmap()
	if a.Is4() {
		if k := v4Block(a); t.v4Blocks[k/64]&(1<<(k%64)) == 0 {
			return nil, false
		}
	}
	return t.lpm.Lookup(a)
}

// Len returns the number of distinct (prefix, AMAZON or not) entries.
func (t *Table) Len() int { return t.prefixes }
