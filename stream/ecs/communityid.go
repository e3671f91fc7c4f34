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
// for TCP, UDP and SCTP when present (absent ports count as 0). Flow logs
// carry no ICMP type or code (AWS writes 0 0), so ICMP and ICMPv6 flows are
// hashed as one-way messages with type=srcport and code=dstport, without
// the spec's request/response pairing: reading 0 as "echo reply" would give
// an A->B flow the id a sensor computes for B pinging A, a false link. As
// a consequence the two directions of an ICMP exchange get different ids.
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
	oneWay := r.Protocol == protoICMP || r.Protocol == protoICMPv6
	return appendCommunityID(dst, 0, r.SrcAddr, r.DstAddr, r.Protocol, sport, dport, oneWay), true
}

// icmpPairs maps ICMP request/response types to their counterpart (spec
// section "ICMP"); types not listed are one-way.
var (
	icmpPairs = map[uint16]uint16{
		8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 10: 9, 9: 10, 17: 18, 18: 17,
	}
	icmp6Pairs = map[uint16]uint16{
		128: 129, 129: 128, 133: 134, 134: 133, 135: 136, 136: 135,
		130: 131, 131: 130, 144: 145, 145: 144, 146: 147, 147: 146,
	}
)

// appendCommunityID implements Community ID v1 for one flow. For ICMP,
// sport and dport are the type and code; forceOneWay skips the spec's
// request/response pairing (see AppendCommunityID for why).
func appendCommunityID(out []byte, seed uint16, src, dst netip.Addr, proto uint8, sport, dport uint16, forceOneWay bool) []byte {
	ports := false
	oneWay := false
	switch proto {
	case protoTCP, protoUDP, protoSCTP:
		ports = true
	case protoICMP, protoICMPv6:
		ports = true
		pairs := icmpPairs
		if proto == protoICMPv6 {
			pairs = icmp6Pairs
		}
		if peer, ok := pairs[sport]; ok && !forceOneWay {
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
