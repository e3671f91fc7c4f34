package elasticsearch

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/sinktest"
)

// TestIntegrationEnrichedDocuments indexes fully enriched records whose
// resource tags would clash under dynamic mapping ("kubernetes" next to
// "kubernetes.io/cluster/prod" makes one a string and the other an
// object): every document must be accepted, and the enrichment fields must
// get the template's types.
func TestIntegrationEnrichedDocuments(t *testing.T) {
	checkEnrichedDocuments(t, esURL(t), "flattened")
}

// checkEnrichedDocuments indexes the enriched records into the node at
// base, whose resource tags must be mapped as tagsType.
func checkEnrichedDocuments(t *testing.T, base, tagsType string) {
	cfg := integrationConfig(t, base)
	dl := &sinktest.DeadLetter{}
	s := setupSink(t, cfg, dl)

	inst := &stream.Instance{
		ID: "i-0123456789abcdef0", Name: "web-1", Type: "m7g.large", ImageID: "ami-0abc", State: "running",
		LaunchTime: time.Date(2023, 11, 1, 8, 0, 0, 0, time.UTC),
		Tags:       []stream.Tag{{Key: "Name", Value: "web-1"}, {Key: "kubernetes", Value: "yes"}, {Key: "kubernetes.io/cluster/prod", Value: "owned"}},
	}
	eni := &stream.Interface{
		ID: "eni-0a1b2c3d4e5f60718", Type: "interface", AccountID: "123456789012", Region: "us-east-1",
		AvailabilityZone: "us-east-1a", AZID: "use1-az4", SubnetID: "subnet-1", SubnetName: "private-a", SubnetCIDR: "10.0.1.0/24",
		VPCID: "vpc-1", VPCName: "prod", VPCCIDR: "10.0.0.0/16", SecurityGroups: []string{"sg-1"},
		Tags:     []stream.Tag{{Key: "aws:cloudformation:stack-name", Value: "prod"}, {Key: "team", Value: "net"}, {Key: "team.owner", Value: "a.b"}},
		Instance: inst,
	}
	geo := &stream.Geo{CountryISOCode: "DE", CountryName: "Germany", ContinentCode: "EU", CityName: "Frankfurt",
		Location: true, Latitude: 50.11, Longitude: 8.68, ASN: 64500, ASOrganization: "Example AS"}
	recs := sampleRecords(t, 50)
	for i := range recs {
		e := &recs[i].Enrichment
		e.Interface = eni
		e.Src = stream.Endpoint{Class: stream.AddrPublic, Interface: eni, Service: "S3", ServiceRegion: "us-east-1", ServiceFrom: stream.ServiceIPRanges, Geo: geo, PortName: "https"}
		e.Dst = stream.Endpoint{Class: stream.AddrPrivate, Interface: eni}
		e.Direction, e.DirectionFrom, e.Perimeter = "ingress", stream.DirectionInventory, "inbound"
		e.Cost, e.ViaNATGateway, e.GatewayEndpointEligible = stream.CostAWSService, true, true
	}
	if errs := ingest(t, s, recs, 20); len(errs) > 0 {
		t.Fatalf("%d batches failed, first: %v", len(errs), errs[0])
	}
	if got := dl.Failures(); len(got) > 0 {
		t.Fatalf("%d documents dead-lettered, first: %+v", len(got), got[0])
	}
	ds := cfg.dataStream()
	if got, want := esCount(t, base, ds), distinct(recs); got != want {
		t.Fatalf("count %d, want %d", got, want)
	}

	var mapping map[string]struct{ Mappings json.RawMessage }
	esJSON(t, "GET", base+"/"+ds+"/_mapping", nil, &mapping)
	for _, m := range mapping {
		for field, typ := range map[string]string{
			"cloud.instance.name":                     "keyword",
			"cloud.machine.type":                      "keyword",
			"flowhose.cost_class":                     "keyword",
			"flowhose.nat_gateway":                    "boolean",
			"flowhose.interface.tags":                 tagsType,
			"flowhose.interface.instance.tags":        tagsType,
			"flowhose.interface.instance.launch_time": "date",
			"source.geo.location":                     "geo_point",
			"source.as.number":                        "long",
		} {
			if got := fieldType(m.Mappings, field); got != typ {
				t.Errorf("mapping of %s: %q, want %q", field, got, typ)
			}
		}
	}

	// A tag is searchable by its full key.
	var res struct {
		Hits struct {
			Total struct{ Value int }
		}
	}
	esJSON(t, "POST", base+"/"+ds+"/_search", map[string]any{
		"query": map[string]any{"term": map[string]any{"flowhose.interface.instance.tags.kubernetes.io/cluster/prod": "owned"}},
	}, &res)
	if res.Hits.Total.Value == 0 {
		t.Error("no document found by its instance tag kubernetes.io/cluster/prod")
	}
}
