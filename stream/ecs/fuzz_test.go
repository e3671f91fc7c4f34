package ecs

import (
	"encoding/json"
	"net/netip"
	"testing"

	"github.com/flowhose/flowhose/stream"
)

// FuzzAppend builds records from fuzzed strings and numbers and checks that
// every document is valid JSON and every id has the documented shape.
func FuzzAppend(f *testing.F) {
	f.Add(lineV2Accept, "ACCEPT", "ingress", "encryption-status", "1", uint64(0xffffffffff), int64(1418530010), int64(1418530070), uint16(18), []byte{10, 0, 0, 1}, "BPA")
	f.Add("", "REJECT\xff", "egress", "", "-", uint64(0), int64(-1<<63), int64(1<<63-1), uint16(0xffff), []byte{}, "")
	f.Add("a\"b\\\x00", "\x01", "\"", "a.b-c", "\xc3", uint64(1), int64(-62135596801), int64(0), uint16(63), []byte("0123456789abcdef"), "\u2028")
	f.Fuzz(func(t *testing.T, raw, action, dir, xname, xval string, mask uint64, start, end int64, flags uint16, ip []byte, s string) {
		src, _ := netip.AddrFromSlice(ip)
		if src.Is6() && xname != "" {
			src = src.WithZone(xname)
		}
		r := &stream.Record{
			Raw: raw, Present: stream.FieldSet(mask),
			Version: int(start), AccountID: s, InterfaceID: raw, SrcAddr: src, DstAddr: src.Prev(),
			SrcPort: flags, DstPort: ^flags, Protocol: uint8(flags), Packets: mask, Bytes: ^mask,
			Start: start, End: end, Action: action, LogStatus: s, VPCID: s, SubnetID: s, InstanceID: s,
			TCPFlags: flags, Type: s, PktSrcAddr: src, PktDstAddr: src.Next(), Region: s, AZID: s,
			SublocationType: s, SublocationID: s, PktSrcAWSService: s, PktDstAWSService: s,
			FlowDirection: dir, TrafficPath: uint8(mask), ECSClusterARN: s, ECSClusterName: s,
			ECSContainerInstanceARN: s, ECSContainerInstanceID: s, ECSContainerID: s,
			ECSSecondContainerID: s, ECSServiceName: s, ECSTaskDefinitionARN: s, ECSTaskARN: s,
			ECSTaskID: s, RejectReason: s,
			Extra:  []stream.ExtraField{{Name: xname, Value: xval}, {Name: xval, Value: xname}, {Name: xname, Value: s}},
			Origin: stream.Origin{LogGroup: s, LogStream: raw, Owner: action},
		}
		e := Encoder{Dataset: dir, Namespace: xname, Original: true}
		doc := e.Append(nil, r)
		if !json.Valid(doc) {
			t.Fatalf("invalid JSON: %s", doc)
		}
		if err := checkShape(doc); err != nil {
			t.Fatalf("%v: %s", err, doc)
		}
		if id := AppendID(nil, r); len(id) != IDLen {
			t.Fatalf("id %q has length %d", id, len(id))
		}
		if id, ok := AppendCommunityID(nil, r); ok && len(id) != 30 {
			t.Fatalf("community id %q has length %d", id, len(id))
		}
	})
}
