package ecs

import (
	"crypto/sha1"
	"encoding/base64"
	"net/netip"
	"testing"

	"github.com/flowhose/flowhose/stream"
)

// TestCommunityIDSpecVectors checks the algorithm against the baseline
// vectors of the Community ID specification.
func TestCommunityIDSpecVectors(t *testing.T) {
	tests := []struct {
		name         string
		seed         uint16
		proto        uint8
		src, dst     string
		sport, dport uint16
		want         string
	}{
		{"tcp", 0, 6, "128.232.110.120", "66.35.250.204", 34855, 80, "1:LQU9qZlK+B5F3KDmev6m5PMibrg="},
		{"tcp reversed", 0, 6, "66.35.250.204", "128.232.110.120", 80, 34855, "1:LQU9qZlK+B5F3KDmev6m5PMibrg="},
		{"udp", 0, 17, "192.168.1.52", "8.8.8.8", 54585, 53, "1:d/FP5EW3wiY1vCndhwleRRKHowQ="},
		{"sctp", 0, 132, "192.168.170.8", "192.168.170.56", 7, 7, "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs="},
		{"tcp ipv6", 0, 6, "2001:470:e5bf:dead:4957:2174:e82c:4887", "2607:f8b0:400c:c03::1a", 63943, 25, "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4="},
		{"icmp echo", 0, 1, "192.168.0.89", "192.168.0.1", 8, 0, "1:X0snYXpgwiv9TZtqg64sgzUn6Dk="},
		{"icmp echo reply", 0, 1, "192.168.0.1", "192.168.0.89", 0, 0, "1:X0snYXpgwiv9TZtqg64sgzUn6Dk="},
		{"rsvp, no ports", 0, 46, "10.1.12.1", "10.1.12.2", 0, 0, "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw="},
		{"udp seed 1", 1, 17, "192.168.1.52", "8.8.8.8", 54585, 53, "1:Q9We8WO3piVF8yEQBNJF4uiSVrI="},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := appendCommunityID(nil, tc.seed, netip.MustParseAddr(tc.src), netip.MustParseAddr(tc.dst), tc.proto, tc.sport, tc.dport, false)
			if string(got) != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// TestAppendCommunityID checks the flow-log vectors, built as records.
func TestAppendCommunityID(t *testing.T) {
	tests := []struct {
		name, format, line, want string
	}{
		{"v2 ipv6 ssh", fmtV2, lineV2IPv6, "1:hXZclvxUJScaVf0xMIJR6yW6tBQ="},
		{"v2 ssh", fmtV2, lineV2Accept, "1:78twGw5/iHs2/5/1899dIS6GfPc="},
		{"v2 rdp", fmtV2, lineV2Reject, "1:uNfXEHxtOFkEsLzQLEzproPA1iU="},
		{"v5 ingress", fmtV5, lineV5In, "1:b331cOeX1JF5o9HeF19CO0WYIbw="},
		{"v5 egress", fmtV5, lineV5Out, "1:b331cOeX1JF5o9HeF19CO0WYIbw="},
		{"v8 ssh", fmtV8, lineV8, "1:rzdnqeBSER6BBvZtF234cWNmojE="},
		// A spec vector carried by a record: UDP has ports.
		{"udp record", "srcaddr dstaddr srcport dstport protocol", "192.168.1.52 8.8.8.8 54585 53 17", "1:d/FP5EW3wiY1vCndhwleRRKHowQ="},
		// Port-less protocol: ports in the record are ignored.
		{"rsvp record", "srcaddr dstaddr srcport dstport protocol", "10.1.12.1 10.1.12.2 9 9 46", "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw="},
		{"rsvp record without ports", "srcaddr dstaddr protocol", "10.1.12.2 10.1.12.1 46", "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw="},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := AppendCommunityID([]byte("x"), testRecord(t, tc.format, tc.line))
			if !ok || string(got) != "x"+tc.want {
				t.Errorf("got %s, %v; want x%s", got, ok, tc.want)
			}
		})
	}
}

// TestCommunityIDICMP pins the flow-log ICMP decision: one-way, with
// srcport/dstport as type/code and no request/response pairing.
func TestCommunityIDICMP(t *testing.T) {
	fwd := testRecord(t, fmtV2, lineV2ICMP)
	rev := testRecord(t, fmtV2, "2 123456789010 eni-1235b8ca123456789 172.31.16.139 203.0.113.12 0 0 1 4 336 1432917094 1432917142 REJECT OK")
	a, okA := AppendCommunityID(nil, fwd)
	b, okB := AppendCommunityID(nil, rev)
	if !okA || !okB {
		t.Fatal("no community id for ICMP")
	}
	want := appendCommunityID(nil, 0, fwd.SrcAddr, fwd.DstAddr, 1, 0, 0, true)
	if string(a) != string(want) {
		t.Errorf("forward = %s, want one-way %s", a, want)
	}
	if string(a) == string(b) {
		t.Errorf("one-way ICMP ids of opposite directions should differ, both %s", a)
	}
	// Type 0 read as echo reply would have linked to a sensor's ping in
	// the opposite direction; make sure that id is not produced.
	if paired := appendCommunityID(nil, 0, fwd.SrcAddr, fwd.DstAddr, 1, 0, 0, false); string(a) == string(paired) {
		t.Errorf("ICMP id %s uses echo-reply pairing", a)
	}
}

func TestAppendCommunityIDMissing(t *testing.T) {
	full := testRecord(t, fmtV2, lineV2Accept)
	for _, f := range []stream.Field{stream.FieldSrcAddr, stream.FieldDstAddr, stream.FieldProtocol} {
		r := *full
		r.Present &^= 1 << f
		if got, ok := AppendCommunityID([]byte("x"), &r); ok || string(got) != "x" {
			t.Errorf("without %s: got %q, %v; want nothing", f, got, ok)
		}
	}
	r := *full
	r.SrcAddr = netip.Addr{}
	if _, ok := AppendCommunityID(nil, &r); ok {
		t.Error("invalid source address gave a community id")
	}
}

// TestAppendBase64SHA1 compares the unrolled encoder with encoding/base64.
func TestAppendBase64SHA1(t *testing.T) {
	for i := range 64 {
		sum := sha1.Sum([]byte{byte(i), byte(i * 7)})
		if i == 0 {
			sum = [sha1.Size]byte{}
		}
		if i == 1 {
			for j := range sum {
				sum[j] = 0xff
			}
		}
		want := "x" + base64.StdEncoding.EncodeToString(sum[:])
		if got := string(appendBase64SHA1([]byte("x"), &sum)); got != want {
			t.Errorf("appendBase64SHA1(%x) = %s, want %s", sum, got, want)
		}
	}
}
