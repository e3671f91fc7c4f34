package inventory

import (
	"net/netip"
	"time"

	"github.com/flowhose/flowhose/stream"
)

// entry is one cached answer for an ENI id; iface is nil for an id the
// source said does not exist (negative caching).
type entry struct {
	iface   *stream.Interface
	expires time.Time
}

// holders is what the inventory knows about one address: the ENI holding
// it (or ambiguous), and the ENIs holding it as a private address by VPC.
type holders struct {
	any     *stream.Interface
	private []vpcHolder
}

type vpcHolder struct {
	vpc   string
	iface *stream.Interface
}

// ambiguous marks an address that several known ENIs hold (the same
// private address in different VPCs): without a VPC it names nobody.
var ambiguous = &stream.Interface{}

// snapshot is an immutable view of the inventory: readers load it with one
// atomic operation and never lock. Writers copy it and swap.
//
// Addresses are indexed once, with their VPCs alongside, so that a record
// endpoint costs one map lookup. Plain IPv4 addresses, nearly all of them,
// get a uint32-keyed map: hashing a netip.Addr key costs several times
// more. Other addresses (IPv6, IPv4-mapped, zoned) keep their exact
// netip.Addr as key, so an address matches only its own form.
//
// v4Seen is a one-hash Bloom filter over the keys of byAddr4: most flow
// endpoints are no known ENI's, and a clear bit answers that without a
// map lookup. A set bit only means "look in the map".
type snapshot struct {
	byID    map[string]entry
	byAddr4 map[uint32]*holders
	byAddr  map[netip.Addr]*holders
	v4Seen  [1 << 16 / 64]uint64
}

func newSnapshot() *snapshot {
	return &snapshot{
		byID:    make(map[string]entry),
		byAddr4: make(map[uint32]*holders),
		byAddr:  make(map[netip.Addr]*holders),
	}
}

// with returns a copy of s with ifaces added or replaced, negative entries
// for the ids in missing, and expired negative entries dropped.
func (s *snapshot) with(ifaces []*stream.Interface, missing []string, now time.Time, ttl, negTTL time.Duration) *snapshot {
	n := &snapshot{byID: make(map[string]entry, len(s.byID)+len(ifaces)+len(missing))}
	for id, e := range s.byID {
		if e.iface == nil && !now.Before(e.expires) {
			continue
		}
		n.byID[id] = e
	}
	for _, id := range missing {
		n.byID[id] = entry{expires: now.Add(negTTL)}
	}
	for _, i := range ifaces {
		n.byID[i.ID] = entry{iface: i, expires: now.Add(ttl)}
	}
	n.reindex()
	return n
}

// replaced returns a snapshot holding exactly ifaces (a full sync), keeping
// the unexpired negative entries of s for ids the sync did not find.
func (s *snapshot) replaced(ifaces []*stream.Interface, now time.Time, ttl time.Duration) *snapshot {
	n := &snapshot{byID: make(map[string]entry, len(ifaces))}
	for id, e := range s.byID {
		if e.iface == nil && now.Before(e.expires) {
			n.byID[id] = e
		}
	}
	for _, i := range ifaces {
		n.byID[i.ID] = entry{iface: i, expires: now.Add(ttl)}
	}
	n.reindex()
	return n
}

func (s *snapshot) reindex() {
	s.byAddr4 = make(map[uint32]*holders, len(s.byID))
	s.byAddr = make(map[netip.Addr]*holders)
	s.v4Seen = [len(s.v4Seen)]uint64{}
	for _, e := range s.byID {
		i := e.iface
		if i == nil {
			continue
		}
		for _, a := range i.PrivateIPs {
			h := s.holders(a)
			h.hold(i)
			h.holdPrivate(i)
		}
		for _, a := range i.PublicIPs {
			s.holders(a).hold(i)
		}
	}
}

// holders returns the entry of a, adding an empty one.
func (s *snapshot) holders(a netip.Addr) *holders {
	if a.Is4() {
		k := v4key(a)
		h := s.byAddr4[k]
		if h == nil {
			h = &holders{}
			s.byAddr4[k] = h
			f := v4Bit(k)
			s.v4Seen[f/64] |= 1 << (f % 64)
		}
		return h
	}
	h := s.byAddr[a]
	if h == nil {
		h = &holders{}
		s.byAddr[a] = h
	}
	return h
}

func v4key(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// v4Bit is the bit of v4Seen for key k: a multiplicative hash, so that
// addresses of one subnet spread over the filter.
func v4Bit(k uint32) uint32 { return k * 0x9e3779b1 >> 16 }

// hold records that i holds the address; two different ENIs make it
// ambiguous.
func (h *holders) hold(i *stream.Interface) {
	if h.any != nil && h.any.ID != i.ID {
		h.any = ambiguous
		return
	}
	h.any = i
}

// holdPrivate records that i holds the address as a private one in its
// VPC; a later ENI in the same VPC replaces an earlier one.
func (h *holders) holdPrivate(i *stream.Interface) {
	for k := range h.private {
		if h.private[k].vpc == i.VPCID {
			h.private[k].iface = i
			return
		}
	}
	h.private = append(h.private, vpcHolder{vpc: i.VPCID, iface: i})
}

// addr returns the known ENI holding a, preferring the one in vpc.
func (s *snapshot) addr(vpc string, a netip.Addr) *stream.Interface {
	var h *holders
	if a.Is4() {
		k := v4key(a)
		if f := v4Bit(k); s.v4Seen[f/64]&(1<<(f%64)) == 0 {
			return nil
		}
		h = s.byAddr4[k]
	} else {
		h = s.byAddr[a]
	}
	if h == nil {
		return nil
	}
	if vpc != "" {
		for _, p := range h.private {
			if p.vpc == vpc {
				return p.iface
			}
		}
	}
	if h.any != ambiguous {
		return h.any
	}
	return nil
}

// positives lists the ids of every known ENI, for a refresh.
func (s *snapshot) positives() []string {
	ids := make([]string, 0, len(s.byID))
	for id, e := range s.byID {
		if e.iface != nil {
			ids = append(ids, id)
		}
	}
	return ids
}
