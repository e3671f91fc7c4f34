package awsip

import (
	"net/netip"
	"os"
	"strings"
	"testing"
)

func TestDefaultLookup(t *testing.T) {
	tbl, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	if tbl.SyncToken != "1787411825" {
		t.Errorf("embedded syncToken = %q, want the 2026-08-22 snapshot", tbl.SyncToken)
	}
	tests := []struct {
		name, addr           string
		found                bool
		service, region, nbg string
		prefix               string
	}{
		// 3.5.140.0/22 is listed as AMAZON, S3 and EC2: S3 wins.
		{"s3 over ec2 and amazon", "3.5.141.7", true, "S3", "ap-northeast-2", "ap-northeast-2", "3.5.140.0/22"},
		// 54.222.64.0/24 is AMAZON, EC2 and DYNAMODB.
		{"dynamodb over ec2", "54.222.64.10", true, "DYNAMODB", "cn-north-1", "cn-north-1", "54.222.64.0/24"},
		// 70.132.0.0/18 is AMAZON, CLOUDFRONT and CLOUDFRONT_ORIGIN_FACING.
		{"origin-facing over cloudfront", "70.132.1.1", true, "CLOUDFRONT_ORIGIN_FACING", "GLOBAL", "GLOBAL", "70.132.0.0/18"},
		{"amazon only", "3.4.12.4", true, "AMAZON", "eu-west-1", "eu-west-1", "3.4.12.4/32"},
		// 140.179.15.0/26 is AMAZON inside the EC2 /16: the specific
		// service wins even though the AMAZON prefix is longer.
		{"specific beats longer amazon", "140.179.15.1", true, "EC2", "cn-north-1", "cn-north-1", "140.179.0.0/16"},
		{"border group differs from region", "15.181.232.9", true, "EC2", "us-east-1", "us-east-1-iah-1", "15.181.232.0/21"},
		{"v4-mapped v6", "::ffff:3.5.141.7", true, "S3", "ap-northeast-2", "ap-northeast-2", "3.5.140.0/22"},
		{"v6 s3", "2406:daf9:a800::1", true, "S3", "ap-southeast-1", "ap-southeast-1", "2406:daf9:a800::/40"},
		{"v6 amazon only", "2620:107:4000:8900::5", true, "AMAZON", "us-east-1", "us-east-1", "2620:107:4000:8900::/56"},
		{"v6 border group", "2600:f0fb:e000::1", true, "EC2", "us-east-1", "us-east-1-atl-1", "2600:f0fb:e000::/40"},
		{"not aws", "8.8.8.8", false, "", "", "", ""},
		{"private", "10.0.0.1", false, "", "", "", ""},
		{"v6 not aws", "2001:4860:4860::8888", false, "", "", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, ok := tbl.Lookup(netip.MustParseAddr(tc.addr))
			if ok != tc.found {
				t.Fatalf("found = %v, want %v (%+v)", ok, tc.found, r)
			}
			if !ok {
				return
			}
			got := [4]string{r.Service, r.Region, r.NetworkBorderGroup, r.Prefix.String()}
			want := [4]string{tc.service, tc.region, tc.nbg, tc.prefix}
			if got != want {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
	if _, ok := tbl.Lookup(netip.Addr{}); ok {
		t.Error("invalid address matched")
	}
}

func TestPreferenceIsOrderIndependent(t *testing.T) {
	for _, order := range [][]string{{"EC2", "S3", "AMAZON"}, {"AMAZON", "S3", "EC2"}, {"S3", "EC2"}} {
		var b strings.Builder
		b.WriteString(`{"syncToken":"1","prefixes":[`)
		for i, s := range order {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString(`{"ip_prefix":"192.0.2.0/24","region":"r","service":"` + s + `","network_border_group":"r"}`)
		}
		b.WriteString(`]}`)
		tbl, err := Parse(strings.NewReader(b.String()))
		if err != nil {
			t.Fatal(err)
		}
		if r, _ := tbl.Lookup(netip.MustParseAddr("192.0.2.1")); r == nil || r.Service != "S3" {
			t.Errorf("order %v: got %+v, want S3", order, r)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ name, doc, want string }{
		{"not json", `{`, "decode"},
		{"bad prefix", `{"prefixes":[{"ip_prefix":"300.0.0.0/8","service":"S3"}]}`, "prefixes[0]"},
		{"bad v6 prefix", `{"ipv6_prefixes":[{"ipv6_prefix":"zz::/8","service":"S3"}]}`, "ipv6_prefixes[0]"},
		{"empty service", `{"prefixes":[{"ip_prefix":"10.0.0.0/8","service":""}]}`, "empty service"},
		{"no prefixes", `{"syncToken":"1"}`, "no prefixes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	small, err := os.ReadFile("testdata/small.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(small)
	f.Add([]byte(`{"prefixes":[{"ip_prefix":"0.0.0.0/0","service":"AMAZON"}]}`))
	f.Add([]byte(`{"ipv6_prefixes":[{"ipv6_prefix":"::/0","service":"EC2"}]}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		tbl, err := Parse(strings.NewReader(string(doc)))
		if err != nil {
			return
		}
		// Every accepted table answers lookups without panicking and
		// never returns a range that does not contain the address.
		for _, a := range []string{"0.0.0.0", "198.51.100.7", "255.255.255.255", "::", "2001:db8:1234::1"} {
			addr := netip.MustParseAddr(a)
			if r, ok := tbl.Lookup(addr); ok && !r.Prefix.Contains(addr) {
				t.Fatalf("%s matched %s", a, r.Prefix)
			}
		}
	})
}

func BenchmarkLookup(b *testing.B) {
	tbl, err := Default()
	if err != nil {
		b.Fatal(err)
	}
	addrs := []netip.Addr{
		netip.MustParseAddr("3.5.141.7"), netip.MustParseAddr("8.8.8.8"),
		netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("2406:daf9:a800::1"),
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		tbl.Lookup(addrs[i%len(addrs)])
		i++
	}
}
