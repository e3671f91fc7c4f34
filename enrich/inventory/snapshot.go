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

type vpcAddr struct {
	vpc  string
	addr netip.Addr
}

// ambiguous marks an address that several known ENIs hold (the same
// private address in different VPCs): without a VPC it names nobody.
var ambiguous = &stream.Interface{}

// snapshot is an immutable view of the inventory: readers load it with one
// atomic operation and never lock. Writers copy it and swap.
type snapshot struct {
	byID      map[string]entry
	byVPCAddr map[vpcAddr]*stream.Interface
	byAddr    map[netip.Addr]*stream.Interface
}

func newSnapshot() *snapshot {
	return &snapshot{
		byID:      make(map[string]entry),
		byVPCAddr: make(map[vpcAddr]*stream.Interface),
		byAddr:    make(map[netip.Addr]*stream.Interface),
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
	s.byVPCAddr = make(map[vpcAddr]*stream.Interface, len(s.byID))
	s.byAddr = make(map[netip.Addr]*stream.Interface, len(s.byID))
	for _, e := range s.byID {
		i := e.iface
		if i == nil {
			continue
		}
		for _, a := range i.PrivateIPs {
			s.byVPCAddr[vpcAddr{i.VPCID, a}] = i
			s.index(a, i)
		}
		for _, a := range i.PublicIPs {
			s.index(a, i)
		}
	}
}

func (s *snapshot) index(a netip.Addr, i *stream.Interface) {
	if old, ok := s.byAddr[a]; ok && old.ID != i.ID {
		s.byAddr[a] = ambiguous
		return
	}
	s.byAddr[a] = i
}

// addr returns the known ENI holding a, preferring the one in vpc.
func (s *snapshot) addr(vpc string, a netip.Addr) *stream.Interface {
	if vpc != "" {
		if i, ok := s.byVPCAddr[vpcAddr{vpc, a}]; ok {
			return i
		}
	}
	if i := s.byAddr[a]; i != ambiguous {
		return i
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
