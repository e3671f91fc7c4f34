package ecs

import (
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/flowhose/flowhose/stream"
)

func enrichedRecord() stream.Record {
	web := &stream.Interface{
		ID: "eni-web", Type: "interface", Description: `web "primary"`, AccountID: "111122223333", Region: "us-east-1",
		AvailabilityZone: "us-east-1a", AZID: "use1-az1", SubnetID: "subnet-a", SubnetName: "app-a", SubnetCIDR: "10.0.1.0/24",
		VPCID: "vpc-1", VPCName: "prod", VPCCIDR: "10.0.0.0/16", SecurityGroups: []string{"sg-1", "sg-2"},
		Tags: []stream.Tag{{Key: "a.b", Value: "x"}, {Key: "role", Value: "frontend"}},
		Instance: &stream.Instance{ID: "i-1", Name: "web-1", Type: "m7g.large", ImageID: "ami-1", State: "running",
			LaunchTime: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Tags: []stream.Tag{{Key: "Name", Value: "web-1"}}},
	}
	r := stream.Record{InterfaceID: "eni-web", SrcAddr: netip.MustParseAddr("10.0.1.10"), DstAddr: netip.MustParseAddr("8.8.8.8"),
		SrcPort: 40000, DstPort: 443, Protocol: 6}
	for _, f := range []stream.Field{stream.FieldInterfaceID, stream.FieldSrcAddr, stream.FieldDstAddr, stream.FieldSrcPort, stream.FieldDstPort, stream.FieldProtocol} {
		r.Present.Add(f)
	}
	r.Enrichment = stream.Enrichment{
		Interface: web, Direction: "egress", DirectionFrom: stream.DirectionInventory, Perimeter: "outbound",
		Cost: stream.CostInternet, ViaNATGateway: true,
		Src: stream.Endpoint{Class: stream.AddrPrivate, Interface: web},
		Dst: stream.Endpoint{Class: stream.AddrPublic, PortName: "https", Service: "S3", ServiceRegion: "us-east-1",
			NetworkBorderGroup: "us-east-1", ServiceFrom: stream.ServiceIPRanges,
			Geo: &stream.Geo{CountryISOCode: "US", CountryName: "United States", CityName: "Mountain View", Location: true,
				Latitude: 37.386, Longitude: -122.0838, ASN: 15169, ASOrganization: "GOOGLE"}},
	}
	return r
}

// flatten turns a decoded document into dotted paths, merging dotted
// member names with nested objects as Elasticsearch does.
func flatten(prefix string, v any, out map[string]any) {
	m, ok := v.(map[string]any)
	if !ok {
		if _, dup := out[prefix]; dup {
			out[prefix] = fmt.Sprintf("DUPLICATE %v", v)
			return
		}
		out[prefix] = v
		return
	}
	for k, x := range m {
		p := k
		if prefix != "" {
			p = prefix + "." + k
		}
		flatten(p, x, out)
	}
}

func encodeFlat(t *testing.T, r *stream.Record) map[string]any {
	t.Helper()
	var e Encoder
	doc := e.Append(nil, r)
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		t.Fatalf("invalid JSON: %v\n%s", err, doc)
	}
	if err := checkShape(doc); err != nil {
		t.Fatalf("%v in %s", err, doc)
	}
	out := map[string]any{}
	flatten("", v, out)
	for k, x := range out {
		if s, ok := x.(string); ok && strings.HasPrefix(s, "DUPLICATE") {
			t.Errorf("%s written twice", k)
		}
	}
	return out
}

func TestEnrichmentMapping(t *testing.T) {
	r := enrichedRecord()
	got := encodeFlat(t, &r)
	want := map[string]any{
		"cloud.instance.id":                             "i-1",
		"cloud.instance.name":                           "web-1",
		"cloud.machine.type":                            "m7g.large",
		"cloud.availability_zone":                       "use1-az1",
		"cloud.region":                                  "us-east-1",
		"cloud.account.id":                              "111122223333",
		"network.direction":                             "egress",
		"destination.geo.country_iso_code":              "US",
		"destination.geo.city_name":                     "Mountain View",
		"destination.geo.location.lat":                  37.386,
		"destination.geo.location.lon":                  -122.0838,
		"destination.as.number":                         float64(15169),
		"destination.as.organization.name":              "GOOGLE",
		"flowhose.cost_class":                           "internet",
		"flowhose.nat_gateway":                          true,
		"flowhose.direction":                            "egress",
		"flowhose.direction_source":                     "inventory",
		"flowhose.perimeter_direction":                  "outbound",
		"flowhose.interface.id":                         "eni-web",
		"flowhose.interface.description":                `web "primary"`,
		"flowhose.interface.subnet.name":                "app-a",
		"flowhose.interface.subnet.cidr":                "10.0.1.0/24",
		"flowhose.interface.vpc.name":                   "prod",
		"flowhose.interface.instance.launch_time":       "2026-01-02T03:04:05Z",
		"flowhose.interface.instance.image_id":          "ami-1",
		"flowhose.interface.instance.tags.Name":         "web-1",
		"flowhose.interface.tags.role":                  "frontend",
		"flowhose.source.address_class":                 "private",
		"flowhose.source.interface.id":                  "eni-web",
		"flowhose.source.interface.instance.name":       "web-1",
		"flowhose.destination.address_class":            "public",
		"flowhose.destination.port_name":                "https",
		"flowhose.destination.aws_service":              "S3",
		"flowhose.destination.aws_service_source":       "ip_ranges",
		"flowhose.destination.aws_network_border_group": "us-east-1",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %#v, want %#v", k, got[k], v)
		}
	}
	for _, absent := range []string{"flowhose.gateway_endpoint_eligible", "flowhose.source.interface.description", "flowhose.source.interface.subnet.cidr", "source.geo.country_iso_code"} {
		if _, ok := got[absent]; ok {
			t.Errorf("%s present", absent)
		}
	}
}

func TestEnrichmentDefersToRawFields(t *testing.T) {
	r := enrichedRecord()
	r.InstanceID, r.Region, r.AZID, r.AccountID, r.FlowDirection = "i-raw", "eu-west-1", "euw1-az1", "999", "ingress"
	for _, f := range []stream.Field{stream.FieldInstanceID, stream.FieldRegion, stream.FieldAZID, stream.FieldAccountID, stream.FieldFlowDirection} {
		r.Present.Add(f)
	}
	r.Enrichment.Direction, r.Enrichment.DirectionFrom = "ingress", stream.DirectionFlowLog
	got := encodeFlat(t, &r) // fails on any key written twice
	for k, v := range map[string]any{"cloud.instance.id": "i-raw", "cloud.region": "eu-west-1", "cloud.availability_zone": "euw1-az1",
		"cloud.account.id": "999", "network.direction": "ingress", "cloud.instance.name": "web-1"} {
		if got[k] != v {
			t.Errorf("%s = %#v, want %#v", k, got[k], v)
		}
	}
}

func TestEnrichmentAbsentWhenNotEnriched(t *testing.T) {
	r := enrichedRecord()
	r.Enrichment = stream.Enrichment{}
	got := encodeFlat(t, &r)
	for k := range got {
		if strings.HasPrefix(k, "flowhose.") || strings.HasPrefix(k, "destination.geo") {
			t.Errorf("%s written for a record without enrichment", k)
		}
	}
}

func TestEnrichmentHostileValues(t *testing.T) {
	r := enrichedRecord()
	r.Enrichment.Interface.Tags = []stream.Tag{{Key: "k\"\x00\n", Value: "\xff\\"}}
	r.Enrichment.Dst.Geo = &stream.Geo{Location: true, Latitude: math.NaN(), Longitude: 1}
	got := encodeFlat(t, &r)
	if _, ok := got["destination.geo.location.lat"]; ok {
		t.Error("NaN location written")
	}
}

func TestEnrichmentAllocs(t *testing.T) {
	r := enrichedRecord()
	var e Encoder
	buf := e.Append(nil, &r)
	allocs := testing.AllocsPerRun(100, func() { buf = e.Append(buf[:0], &r) })
	if allocs != 0 {
		t.Errorf("Append with enrichment allocates %v times", allocs)
	}
}

func BenchmarkAppendEnriched(b *testing.B) {
	r := enrichedRecord()
	var e Encoder
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf = e.Append(buf[:0], &r)
	}
}
