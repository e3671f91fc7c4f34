package decode

import (
	"errors"
	"strings"
	"testing"

	"github.com/flowhose/flowhose/stream"
)

func TestIsHeader(t *testing.T) {
	tests := []struct {
		line string
		want bool
	}{
		{"version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status", true},
		{"instance-id interface-id srcaddr dstaddr pkt-srcaddr pkt-dstaddr", true},
		{"version srcaddr resource-id encryption-status", true},
		{"version account_id interface_id", true},
		{"resource-id srcaddr dstaddr", true}, // unknown first, but mostly known
		{"srcaddr", true},
		// Data lines.
		{"2 123456789010 eni-1 10.0.0.1 10.0.0.2 1 2 6 3 4 5 6 ACCEPT OK", false},
		{"- eni-1235b8ca123456789 10.0.1.5 10.0.0.220 10.0.1.5 203.0.113.5", false},
		{"i-01234567890123456 eni-1111aaaa2222bbbb3 10.0.1.5 203.0.113.5 10.0.1.5 203.0.113.5", false},
		{"prod web api", false},        // lowercase ECS names: no known field
		{"resource-id web api", false}, // unknown first and too few known
		{"ingress egress", false},      // flow-direction values
		{"srcaddr srcaddr", false},     // duplicates
		{"version account-id ACCEPT", false},
		{"vpc-abcdefab012345678 version", false},
	}
	for _, tt := range tests {
		if got := isHeader(strings.Fields(tt.line)); got != tt.want {
			t.Errorf("isHeader(%q) = %v, want %v", tt.line, got, tt.want)
		}
	}
}

func TestHeaderAdoption(t *testing.T) {
	const natHeader = "instance-id interface-id srcaddr dstaddr pkt-srcaddr pkt-dstaddr"
	const v2Header = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"
	tests := []struct {
		name        string
		in          string
		records     int
		failures    int
		skipped     int
		wantVersion []int
	}{
		{
			name:    "top header selects a format that is not a candidate",
			in:      natHeader + "\n- eni-1 10.0.1.5 10.0.0.220 10.0.1.5 203.0.113.5\ni-0123 eni-2 10.0.1.5 203.0.113.5 10.0.1.5 203.0.113.5\n",
			records: 2, skipped: 1, wantVersion: []int{0, 0},
		},
		{
			name:    "repeated header of concatenated files is skipped",
			in:      v2Header + "\n2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 3 4 5 6 ACCEPT OK\n" + v2Header + "\r\n2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 3 4 5 6 REJECT OK\n",
			records: 2, skipped: 2, wantVersion: []int{2, 2},
		},
		{
			name: "header switches format mid-stream",
			in: "2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 3 4 5 6 ACCEPT OK\n" +
				"version srcaddr encryption-status\n5 10.0.0.9 3\n" +
				"2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 3 4 5 6 ACCEPT OK\n",
			records: 2, failures: 1, skipped: 1, wantVersion: []int{2, 5},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDecoder(t)
			var out Output
			d.Text(tt.in, &out)
			if len(out.Records) != tt.records || len(out.Failures) != tt.failures || out.Skipped != tt.skipped {
				t.Fatalf("records %d failures %+v skipped %d", len(out.Records), out.Failures, out.Skipped)
			}
			for i, v := range tt.wantVersion {
				if out.Records[i].Version != v {
					t.Errorf("record %d version %d, want %d", i, out.Records[i].Version, v)
				}
			}
		})
	}
}

func TestHeaderUnknownFieldAndLine(t *testing.T) {
	d := newDecoder(t)
	var r stream.Record
	if err := d.Line("version srcaddr encryption-status", &r); !errors.Is(err, ErrHeader) {
		t.Fatalf("header: %v", err)
	}
	if err := d.Line("5 10.0.0.9 3", &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Extra) != 1 || r.Extra[0] != (stream.ExtraField{Name: "encryption-status", Value: "3"}) {
		t.Errorf("Extra = %+v", r.Extra)
	}
	err := d.Line("2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 3 4 5 6 ACCEPT OK", &r)
	if err == nil || err.Error() != "got 14 fields, want 3 (format of the header line)" {
		t.Errorf("after header, candidates must not apply: %v", err)
	}
}

// TestRepeatedHeaderLines decodes records that each start with a header
// line, as Firehose streams of S3-object shaped records send them: the same
// header again is skipped, and one for another format still switches to it
// and back.
func TestRepeatedHeaderLines(t *testing.T) {
	const (
		h1, d1 = "srcaddr dstaddr", "10.0.0.1 10.0.0.2"
		h2, d2 = "dstaddr srcaddr action", "10.0.0.2 10.0.0.1 REJECT"
	)
	d, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Release()
	var out Output
	for _, payload := range []string{h1 + "\n" + d1, h1 + "\n" + d1, h2 + "\n" + d2, h1 + " \n" + d1, h1 + "\n" + d1} {
		d.Payload(gz(t, payload), &out)
	}
	if out.Err != nil || len(out.Failures) != 0 {
		t.Fatalf("err %v, failures %v", out.Err, out.Failures)
	}
	if len(out.Records) != 5 || out.Skipped != 5 {
		t.Fatalf("%d records, %d skipped; want 5 and 5", len(out.Records), out.Skipped)
	}
	for i, r := range out.Records {
		if r.SrcAddr.String() != "10.0.0.1" || r.DstAddr.String() != "10.0.0.2" || (i == 2) != (r.Action == "REJECT") {
			t.Errorf("record %d: %+v", i, r)
		}
	}
}
