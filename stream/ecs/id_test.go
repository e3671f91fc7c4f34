package ecs

import (
	"encoding/base64"
	"testing"

	"github.com/flowhose/flowhose/stream"
)

func TestAppendID(t *testing.T) {
	id := func(r *stream.Record) string { return string(AppendID(nil, r)) }
	base := id(testRecord(t, fmtV2, lineV2Accept))
	if len(base) != IDLen {
		t.Fatalf("id %q has length %d, want %d", base, len(base), IDLen)
	}
	if _, err := base64.RawURLEncoding.DecodeString(base); err != nil {
		t.Fatalf("id %q is not unpadded base64url: %v", base, err)
	}

	same := []string{
		lineV2Accept + "\n",
		"  " + lineV2Accept + " \r\n",
		"2  123456789010\teni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK",
	}
	for _, raw := range same {
		if got := id(&stream.Record{Raw: raw}); got != base {
			t.Errorf("id(%q) = %s, want %s (same line)", raw, got, base)
		}
	}

	different := []struct{ name, a, b string }{
		{"NODATA of two ENIs", lineNoData, lineNoData2},
		{"same 5-tuple, next window", lineV2Accept, "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530070 1418530130 ACCEPT OK"},
		{"accept vs reject", lineV2Accept, "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 REJECT OK"},
		{"field boundary", "2 12 3", "2 1 23"},
	}
	for _, tc := range different {
		if a, b := id(&stream.Record{Raw: tc.a}), id(&stream.Record{Raw: tc.b}); a == b {
			t.Errorf("%s: both ids %s", tc.name, a)
		}
	}

	// Records without Raw fall back to their fields.
	r1, r2 := testRecord(t, fmtV2, lineNoData), testRecord(t, fmtV2, lineNoData2)
	r1.Raw, r2.Raw = "", ""
	if a, b := id(r1), id(r2); a == b || len(a) != IDLen {
		t.Errorf("records without Raw: ids %s and %s, want distinct of length %d", a, b, IDLen)
	}

	// dst's contents are kept and its spare capacity is only scratch.
	dst := append(make([]byte, 0, 4), "id="...)
	if got := string(AppendID(dst, testRecord(t, fmtV2, lineV2Accept))); got != "id="+base {
		t.Errorf("AppendID with prefix = %q, want %q", got, "id="+base)
	}
}

func TestAppendCollapsed(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"   ", ""},
		{"a", "a"},
		{" a ", "a"},
		{"a  b\t\tc\r\n", "a b c"},
		{"\ta b", "a b"},
	}
	for _, tc := range tests {
		if got := string(appendCollapsed(nil, tc.in)); got != tc.want {
			t.Errorf("appendCollapsed(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestIsCollapsed(t *testing.T) {
	for _, s := range []string{"", " ", "a ", " a", "a  b", "a\tb", "a\rb", "a\nb", "a b c", "abc", lineV5In, lineNoData, " " + lineV2Accept} {
		want := s != "" && string(appendCollapsed(nil, s)) == s
		if got := isCollapsed(s); got != want {
			t.Errorf("isCollapsed(%q) = %v, want %v", s, got, want)
		}
	}
}

// TestAppendIDOrigin: a line without interface-id does not name its ENI,
// so its CloudWatch Logs origin (whose stream names the ENI) tells two
// ENIs' records of one flow apart; lines with interface-id keep the ids
// they always had, origin or not.
func TestAppendIDOrigin(t *testing.T) {
	id := func(r *stream.Record) string { return string(AppendID(nil, r)) }
	eniA := stream.Origin{LogGroup: "vpc-flow", LogStream: "eni-0a-all", Owner: "123456789010"}
	eniB := stream.Origin{LogGroup: "vpc-flow", LogStream: "eni-0b-all", Owner: "123456789010"}

	// Pinned: ids of existing users must not change.
	const pinned = "24YKaX8fFisdCB9VIYrrFg"
	withENI := testRecord(t, fmtV2, lineV2Accept)
	if got := id(withENI); got != pinned {
		t.Errorf("id of a line with interface-id = %s, want %s", got, pinned)
	}
	withENI.Origin = eniA
	if got := id(withENI); got != pinned {
		t.Errorf("id of a line with interface-id and an origin = %s, want %s", got, pinned)
	}

	const fmtNoENI = "version account-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"
	const lineNoENI = "2 123456789010 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK"
	a, b := testRecord(t, fmtNoENI, lineNoENI), testRecord(t, fmtNoENI, lineNoENI)
	bare := id(a)
	if bare != id(&stream.Record{Raw: lineNoENI}) {
		t.Errorf("a line without interface-id or origin is not hashed over the line alone")
	}
	a.Origin, b.Origin = eniA, eniB
	if id(a) == id(b) {
		t.Errorf("two ENIs' records of one flow share id %s", id(a))
	}
	if id(a) == bare {
		t.Errorf("origin not hashed: %s", bare)
	}
	b.Origin = eniA
	if id(a) != id(b) {
		t.Errorf("the same record from the same stream got ids %s and %s", id(a), id(b))
	}
	for _, o := range []stream.Origin{
		{LogGroup: "other", LogStream: eniA.LogStream, Owner: eniA.Owner},
		{LogGroup: eniA.LogGroup, LogStream: eniA.LogStream, Owner: "210987654321"},
		{LogGroup: eniA.LogGroup + "e", LogStream: "ni-0a-all", Owner: eniA.Owner}, // same bytes, other split
	} {
		b.Origin = o
		if id(a) == id(b) {
			t.Errorf("origins %+v and %+v share id %s", eniA, o, id(a))
		}
	}
}
