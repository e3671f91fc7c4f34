package ecs

import (
	"bytes"
	"crypto/sha1"
	"net/netip"

	"github.com/flowhose/flowhose/stream"
)

// IANA protocol numbers that carry ports (or ICMP type/code) in a
// Community ID.
const (
	protoICMP   = 1
	protoTCP    = 6
	protoUDP    = 17
	protoICMPv6 = 58
	protoSCTP   = 132
)

// AppendCommunityID appends the Community ID v1 (seed 0) of r's flow, and
// reports false (appending nothing) when r lacks the addresses or protocol.
//
// The flow is srcaddr/dstaddr (not pkt-*), as Elastic does. Ports are used
// for TCP, UDP and SCTP when present (absent ports count as 0). For ICMP
// and ICMPv6, srcport and dstport are taken as the message type and code,
// with the spec's request/reply pairing, as Filebeat's community_id
// processor computes it for the same record: an echo request and its reply
// share an id, unpaired types are hashed one-way. AWS logs ICMP with ports
// 0 0, which reads as an echo reply from srcaddr (see README.md).
func AppendCommunityID(dst []byte, r *stream.Record) ([]byte, bool) {
	if !r.Has(stream.FieldSrcAddr) || !r.Has(stream.FieldDstAddr) || !r.Has(stream.FieldProtocol) {
		return dst, false
	}
	if !r.SrcAddr.IsValid() || !r.DstAddr.IsValid() {
		return dst, false
	}
	var sport, dport uint16
	if r.Has(stream.FieldSrcPort) {
		sport = r.SrcPort
	}
	if r.Has(stream.FieldDstPort) {
		dport = r.DstPort
	}
	return appendCommunityID(dst, 0, r.SrcAddr, r.DstAddr, r.Protocol, sport, dport), true
}

// icmpCounterpart returns the type answering ICMP (v4 or v6) message type
// t, and false for types that have none and are hashed one-way. The pairs
// are the spec's, taken from Zeek: echo, timestamp, information, router
// solicitation/advertisement and address mask for ICMPv4; echo, multicast
// listener query/report, router and neighbour solicitation/advertisement,
// who-are-you and home agent address discovery for ICMPv6.
func icmpCounterpart(proto uint8, t uint16) (uint16, bool) {
	if proto == protoICMP {
		switch t {
		case 8: // echo request
			return 0, true
		case 0:
			return 8, true
		case 13, 15, 17: // timestamp, information, address mask requests
			return t + 1, true
		case 14, 16, 18:
			return t - 1, true
		case 10: // router solicitation
			return 9, true
		case 9:
			return 10, true
		}
		return 0, false
	}
	switch t {
	case 128, 130, 133, 135, 139, 144:
		return t + 1, true
	case 129, 131, 134, 136, 140, 145:
		return t - 1, true
	}
	return 0, false
}

// appendCommunityID implements Community ID v1 for one flow. For ICMP,
// sport and dport are the type and code.
func appendCommunityID(out []byte, seed uint16, src, dst netip.Addr, proto uint8, sport, dport uint16) []byte {
	ports := false
	oneWay := false
	switch proto {
	case protoTCP, protoUDP, protoSCTP:
		ports = true
	case protoICMP, protoICMPv6:
		ports = true
		if peer, ok := icmpCounterpart(proto, sport); ok {
			dport = peer
		} else {
			oneWay = true
		}
	}

	var sb, db [16]byte
	var a, b []byte
	if src.Is4() {
		s4 := src.As4()
		copy(sb[:], s4[:])
		a = sb[:4]
	} else {
		sb = src.As16()
		a = sb[:]
	}
	if dst.Is4() {
		d4 := dst.As4()
		copy(db[:], d4[:])
		b = db[:4]
	} else {
		db = dst.As16()
		b = db[:]
	}
	if !oneWay {
		if c := bytes.Compare(a, b); c > 0 || c == 0 && sport > dport {
			a, b = b, a
			sport, dport = dport, sport
		}
	}

	var buf [2 + 16 + 16 + 1 + 1 + 2 + 2]byte
	buf[0], buf[1] = byte(seed>>8), byte(seed)
	n := 2
	n += copy(buf[n:], a)
	n += copy(buf[n:], b)
	buf[n] = proto
	buf[n+1] = 0
	n += 2
	if ports {
		buf[n], buf[n+1], buf[n+2], buf[n+3] = byte(sport>>8), byte(sport), byte(dport>>8), byte(dport)
		n += 4
	}
	sum := sha1.Sum(buf[:n])
	return appendBase64SHA1(append(out, '1', ':'), &sum)
}

// base64Len is the padded standard base64 length of a SHA-1 sum.
const base64Len = (sha1.Size + 2) / 3 * 4

// appendBase64SHA1 appends sum in padded standard base64, as
// base64.StdEncoding would, unrolled for the fixed 20-byte input: six
// 3-byte groups, then two bytes that make three characters and a '='.
func appendBase64SHA1(dst []byte, sum *[sha1.Size]byte) []byte {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	var b [base64Len]byte
	for g := range 6 {
		v := uint(sum[3*g])<<16 | uint(sum[3*g+1])<<8 | uint(sum[3*g+2])
		b[4*g] = alphabet[v>>18&0x3f]
		b[4*g+1] = alphabet[v>>12&0x3f]
		b[4*g+2] = alphabet[v>>6&0x3f]
		b[4*g+3] = alphabet[v&0x3f]
	}
	v := uint(sum[18])<<16 | uint(sum[19])<<8
	b[24] = alphabet[v>>18&0x3f]
	b[25] = alphabet[v>>12&0x3f]
	b[26] = alphabet[v>>6&0x3f]
	b[27] = '='
	return append(dst, b[:]...)
}
