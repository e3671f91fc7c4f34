package filter

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/flowhose/flowhose/stream"
)

func parse(t testing.TB, src string) Config {
	t.Helper()
	var c Config
	if err := c.UnmarshalText([]byte(src)); err != nil {
		t.Fatalf("parse %q: %v", src, err)
	}
	return c
}

func TestCompileErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		want []string // substrings, one per expected error, in order
	}{
		{"empty keeps all", `{}`, nil},
		{"valid", `
keep:
  - action: REJECT
  - destination.class: public
    destination.port: [443, "8000-8999"]
  - protocol: [tcp, 17]
    source.ip: [10.0.0.0/8, "2001:db8::1"]
    tags.team: payments
    cost: [internet, cross-az]
sample:
  - when: {action: ACCEPT, destination.class: private}
    every: 10
  - every: 1000
`, nil},
		{"unknown field", `keep: [{acton: REJECT}]`, []string{"keep[0].acton: unknown field; known: action, protocol"}},
		{"bad enum", `keep: [{action: DENY, direction: sideways}]`, []string{
			`keep[0].action: must be one of ACCEPT, REJECT, got "DENY"`,
			`keep[0].direction: must be one of ingress, egress, got "sideways"`,
		}},
		{"bad port", `keep: [{destination.port: "9000-80"}, {source.port: 70000}]`, []string{
			`keep[0].destination.port: must be a port (0 to 65535) or a range like 1024-65535, got "9000-80"`,
			`keep[1].source.port: must be a port`,
		}},
		{"bad protocol", `keep: [{protocol: sctp}]`, []string{`keep[0].protocol: must be a protocol number (0 to 255) or icmp, tcp, udp, icmpv6, got "sctp"`}},
		{"bad ip", `keep: [{destination.ip: 10.0.0.0/33}]`, []string{`keep[0].destination.ip: must be an address or a CIDR prefix`}},
		{"bad class", `keep: [{source.class: internet}]`, []string{`keep[0].source.class: must be one of public, private, loopback, link_local, multicast, documentation, special, got "internet"`}},
		{"empty condition", `keep: [{}]`, []string{"keep[0]: an empty condition keeps every record"}},
		{"empty values", `keep: [{vpc: []}]`, []string{"keep[0].vpc: needs at least one value"}},
		{"empty value", `keep: [{vpc: [vpc-1, ""], subnet: }]`, []string{"keep[0].subnet: needs at least one value", "keep[0].vpc: values must not be empty"}},
		{"bad every", `sample: [{when: {action: ACCEPT}, every: 0}, {every: 2000000}]`, []string{
			"sample[0].every: must be between 1 and 1000000, got 0",
			"sample[1].every: must be between 1 and 1000000, got 2000000",
		}},
		{"bad when", `sample: [{when: {cost: free}, every: 2}]`, []string{`sample[0].when.cost: must be one of same-az`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := parse(t, tc.src).Validate()
			var got []string
			if err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if len(got) != len(tc.want) {
				t.Fatalf("errors:\n%s\nwant %d: %q", err, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(got[i], w) {
					t.Errorf("error %d = %q, want prefix %q", i, got[i], w)
				}
			}
		})
	}
}

func TestDecodeRefusesBadShapes(t *testing.T) {
	for _, src := range []string{
		`keep: [{action: {a: b}}]`,       // a mapping as a value
		`keep: [{action: [[ACCEPT]]}]`,   // nested lists
		`sample: [{wehn: {}, every: 2}]`, // unknown key
		`kepe: []`,
	} {
		var c Config
		if err := c.UnmarshalText([]byte(src)); err == nil {
			t.Errorf("%s: decoded to %+v", src, c)
		}
	}
}

// record builds an enriched record for predicate tests.
func record(mod func(r *stream.Record)) *stream.Record {
	r := &stream.Record{
		Raw:      "2 123456789012 eni-0a 10.0.1.5 52.94.1.1 49152 443 6 10 840 1600000000 1600000060 ACCEPT OK",
		Action:   "ACCEPT",
		Protocol: 6, SrcPort: 49152, DstPort: 443,
		AccountID:   "123456789012",
		InterfaceID: "eni-0a",
		SrcAddr:     netip.MustParseAddr("10.0.1.5"),
		DstAddr:     netip.MustParseAddr("52.94.1.1"),
	}
	for _, f := range []stream.Field{stream.FieldAction, stream.FieldProtocol, stream.FieldSrcPort, stream.FieldDstPort,
		stream.FieldAccountID, stream.FieldInterfaceID, stream.FieldSrcAddr, stream.FieldDstAddr} {
		r.Present.Add(f)
	}
	r.Enrichment.Src.Class = stream.AddrPrivate
	r.Enrichment.Dst.Class = stream.AddrPublic
	r.Enrichment.Dst.Service = "AMAZON"
	r.Enrichment.Direction = "egress"
	r.Enrichment.Perimeter = "outbound"
	r.Enrichment.Cost = stream.CostAWSService
	r.Enrichment.Interface = &stream.Interface{
		ID: "eni-0a", VPCID: "vpc-1", SubnetID: "subnet-1", Region: "eu-west-1",
		Tags:     []stream.Tag{{Key: "env", Value: "prod"}, {Key: "team", Value: "payments"}},
		Instance: &stream.Instance{Tags: []stream.Tag{{Key: "role", Value: "web"}}},
	}
	if mod != nil {
		mod(r)
	}
	return r
}

func TestKeep(t *testing.T) {
	for _, tc := range []struct {
		cond string // one keep entry
		mod  func(r *stream.Record)
		want bool
	}{
		{`{action: ACCEPT}`, nil, true},
		{`{action: REJECT}`, nil, false},
		{`{action: [REJECT, ACCEPT]}`, nil, true},
		{`{action: ACCEPT}`, func(r *stream.Record) { r.Present = 0 }, false}, // absent field never matches
		{`{protocol: tcp}`, nil, true},
		{`{protocol: [17, icmp]}`, nil, false},
		{`{destination.port: 443}`, nil, true},
		{`{destination.port: "1-442"}`, nil, false},
		{`{source.port: "49152-65535"}`, nil, true},
		{`{source.ip: 10.0.0.0/16}`, nil, true},
		{`{destination.ip: [10.0.0.0/8, 192.168.0.0/16]}`, nil, false},
		{`{destination.ip: 52.94.1.1}`, nil, true},
		{`{source.ip: 10.0.0.0/8}`, func(r *stream.Record) { r.SrcAddr = netip.MustParseAddr("::ffff:10.1.2.3") }, true},
		{`{source.class: private, destination.class: public}`, nil, true},
		{`{destination.class: private}`, nil, false},
		{`{destination.service: AMAZON}`, nil, true},
		{`{source.service: AMAZON}`, nil, false},
		{`{account: "123456789012"}`, nil, true},
		{`{interface: eni-0b}`, nil, false},
		{`{vpc: vpc-1, subnet: subnet-1, region: eu-west-1}`, nil, true},                                        // from the inventory
		{`{vpc: vpc-1}`, func(r *stream.Record) { r.VPCID = "vpc-2"; r.Present.Add(stream.FieldVPCID) }, false}, // the record wins
		{`{vpc: vpc-1}`, func(r *stream.Record) { r.Enrichment.Interface = nil }, false},
		{`{direction: egress, perimeter: outbound}`, nil, true},
		{`{direction: ingress}`, nil, false},
		{`{cost: [internet, aws-service]}`, nil, true},
		{`{tags.team: payments}`, nil, true},
		{`{tags.role: web}`, nil, true}, // instance tag
		{`{tags.env: dev}`, nil, false},
		{`{tags.owner: x}`, nil, false},
		{`{action: ACCEPT, destination.port: 22}`, nil, false}, // all must hold
	} {
		f, err := Compile(parse(t, "keep: ["+tc.cond+"]"))
		if err != nil {
			t.Fatalf("%s: %v", tc.cond, err)
		}
		if got := f.Keep(record(tc.mod)); got != tc.want {
			t.Errorf("%s: Keep = %v, want %v", tc.cond, got, tc.want)
		}
	}
}

func TestEmptyFilterKeepsAll(t *testing.T) {
	var nilFilter *Filter
	f, err := Compile(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if !f.Keep(record(nil)) || !nilFilter.Keep(record(nil)) {
		t.Error("empty filter dropped a record")
	}
}

// readmeExample is the README's filter: every REJECT and everything to
// the internet, plus 1 in 10 internal ACCEPTs; nothing else.
const readmeExample = `
keep:
  - action: REJECT
  - cost: internet
sample:
  - when: {action: ACCEPT, destination.class: private}
    every: 10
`

func TestSampling(t *testing.T) {
	f, err := Compile(parse(t, readmeExample))
	if err != nil {
		t.Fatal(err)
	}
	internal := func(i int) *stream.Record {
		return record(func(r *stream.Record) {
			r.Raw = "2 123456789012 eni-0a 10.0.1.5 10.0.2.7 " + strconv.Itoa(i) + " 443 6 10 840 1600000000 1600000060 ACCEPT OK"
			r.Enrichment.Dst.Class = stream.AddrPrivate
			r.Enrichment.Cost = stream.CostSameAZ
		})
	}
	const n = 100000
	kept := 0
	for i := range n {
		r := internal(i)
		k := f.Keep(r)
		if k != f.Keep(r) {
			t.Fatal("same record, two decisions")
		}
		if k {
			kept++
		}
	}
	if kept < n/10*9/10 || kept > n/10*11/10 {
		t.Errorf("kept %d of %d internal ACCEPTs, want about 1 in 10", kept, n)
	}
	if !f.Keep(record(func(r *stream.Record) { r.Action = "REJECT" })) {
		t.Error("REJECT dropped")
	}
	if !f.Keep(record(func(r *stream.Record) { r.Enrichment.Cost = stream.CostInternet })) {
		t.Error("internet flow dropped")
	}
	if f.Keep(record(nil)) { // ACCEPT to an AWS service: matches nothing
		t.Error("unmatched record kept")
	}
	// The decision depends on the line only, not on the process: a
	// redelivered record, even after a restart, gets the same answer.
	if got := lineHash("2 123456789012 eni-0a"); got != 0x9d8b27077139bb16 {
		t.Errorf("lineHash changed: %#x; sampled records would be routed differently after an upgrade", got)
	}
}

func TestStringRoundTrip(t *testing.T) {
	c := parse(t, `{keep: [{action: REJECT, destination.port: [22, "3389"]}], sample: [{every: 5}]}`)
	var back Config
	if err := back.UnmarshalText([]byte(c.String())); err != nil {
		t.Fatalf("%s: %v", c, err)
	}
	if back.String() != c.String() {
		t.Errorf("round trip %q != %q", back, c)
	}
	if (Config{}).String() != "{}" {
		t.Errorf("empty renders as %q", Config{}.String())
	}
	var node yaml.Node
	if err := node.Encode(c); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkKeep(b *testing.B) {
	// The README's filter behind a costlier first entry.
	f, err := Compile(parse(b, strings.Replace(readmeExample, "keep:\n", "keep:\n  - {destination.port: [22, 3389], tags.env: prod}\n", 1)))
	if err != nil {
		b.Fatal(err)
	}
	recs := make([]*stream.Record, 64)
	for i := range recs {
		recs[i] = record(func(r *stream.Record) {
			r.Raw += strconv.Itoa(i)
			r.Enrichment.Dst.Class = stream.AddrPrivate
		})
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		f.Keep(recs[i%len(recs)])
		i++
	}
}

// Lines that differ in one field spread evenly over any sample rate.
func TestLineHashSpread(t *testing.T) {
	const n = 100000
	for _, every := range []uint64{2, 3, 10, 64, 100} {
		for _, at := range []string{"start", "middle", "end"} {
			hits := 0
			for i := range n {
				line := "2 123456789012 eni-0a 10.0.1.5 10.0.2.7 443 6 10 840 1600000000 1600000060 ACCEPT OK"
				switch at {
				case "start":
					line = strconv.Itoa(i) + line
				case "middle":
					line = line[:30] + strconv.Itoa(i) + line[30:]
				default:
					line += strconv.Itoa(i)
				}
				if lineHash(line)%every == 0 {
					hits++
				}
			}
			want := float64(n) / float64(every)
			if d := float64(hits) - want; d < -0.1*want || d > 0.1*want {
				t.Errorf("1 in %d, counter at %s: %d hits, want about %.0f", every, at, hits, want)
			}
		}
	}
}

var hashSink uint64

func BenchmarkLineHash(b *testing.B) {
	line := record(nil).Raw
	b.ReportAllocs()
	for b.Loop() {
		hashSink += lineHash(line)
	}
}
