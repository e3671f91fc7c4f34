package enrich

import (
	"context"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/decode"
)

// Records of AWS's flow-log examples (NAT gateway and v5 service fields),
// copied into testdata/flows.txt with their header lines.
func decodeFlows(t testing.TB) []stream.Record {
	t.Helper()
	b, err := os.ReadFile("testdata/flows.txt")
	if err != nil {
		t.Fatal(err)
	}
	d, err := decode.New(decode.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var out decode.Output
	d.Text(string(b), &out)
	if len(out.Failures) > 0 || len(out.Records) != 8 {
		t.Fatalf("decoded %d records, failures %+v", len(out.Records), out.Failures)
	}
	return out.Records
}

func fileEnricher(t testing.TB) *Enricher {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Inventory = InventoryFile
	cfg.InventoryFile = "testdata/inventory.yaml"
	e, err := New(context.Background(), cfg, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	// The file inventory is loaded by Run's first sync.
	deadline := time.Now().Add(30 * time.Second)
	for {
		recs := []stream.Record{{InterfaceID: "eni-1111aaaa2222bbbb3", Present: 1 << stream.FieldInterfaceID}}
		e.Enrich(context.Background(), recs)
		if recs[0].Enrichment.Interface != nil {
			return e
		}
		if time.Now().After(deadline) {
			t.Fatal("inventory file not loaded")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestEnrichAWSExamples(t *testing.T) {
	e := fileEnricher(t)
	recs := decodeFlows(t)
	e.Enrich(context.Background(), recs)

	type want struct {
		dir      string
		from     stream.DirectionSource
		cost     stream.CostClass
		nat      bool
		peerInst string
		dstSvc   string
		srcSvc   string
	}
	wants := []want{
		// Instance to NAT gateway, seen on the NAT ENI: the instance is a
		// known peer in the same zone.
		{"ingress", stream.DirectionInventory, stream.CostSameAZ, true, "app-1", "", ""},
		{"egress", stream.DirectionInventory, stream.CostInternet, true, "", "", ""},
		{"ingress", stream.DirectionInventory, stream.CostInternet, true, "", "", ""},
		{"egress", stream.DirectionInventory, stream.CostSameAZ, true, "app-1", "", ""},
		// The instance's own ENI talking to the internet.
		{"egress", stream.DirectionInventory, stream.CostInternet, false, "", "", ""},
		{"ingress", stream.DirectionInventory, stream.CostInternet, false, "", "", ""},
		// v5: flow-direction and pkt-*-aws-service from AWS. The records
		// reuse the NAT ENI's id, whose inventory region (us-east-1)
		// overrides the record's, so S3 in ap-southeast-2 is cross-region.
		{"ingress", stream.DirectionFlowLog, stream.CostCrossRegion, true, "", "", "S3"},
		{"egress", stream.DirectionFlowLog, stream.CostCrossRegion, true, "", "S3", ""},
	}
	for i, w := range wants {
		en := recs[i].Enrichment
		if en.Direction != w.dir || en.DirectionFrom != w.from || en.Cost != w.cost || en.ViaNATGateway != w.nat {
			t.Errorf("record %d: direction %q from %s, cost %q, nat %v; want %q from %s, %q, %v",
				i, en.Direction, en.DirectionFrom, en.Cost, en.ViaNATGateway, w.dir, w.from, w.cost, w.nat)
		}
		peerInst := ""
		for _, x := range []*stream.Endpoint{&en.Src, &en.Dst} {
			if x.Interface != nil && x.Interface.Instance != nil && x.Interface != en.Interface {
				peerInst = x.Interface.Instance.Name
			}
		}
		if peerInst != w.peerInst {
			t.Errorf("record %d: peer instance %q, want %q", i, peerInst, w.peerInst)
		}
		if en.Dst.Service != w.dstSvc || en.Src.Service != w.srcSvc {
			t.Errorf("record %d: services %q -> %q, want %q -> %q", i, en.Src.Service, en.Dst.Service, w.srcSvc, w.dstSvc)
		}
	}
	// AWS's S3 tag plus the region and border group from ip-ranges.
	src := recs[6].Enrichment.Src
	if src.ServiceFrom != stream.ServiceFlowLog || src.ServiceRegion != "ap-southeast-2" || src.NetworkBorderGroup != "ap-southeast-2" {
		t.Errorf("v5 source service: %+v", src)
	}
}

func TestEnrichWithoutInventory(t *testing.T) {
	e, err := New(context.Background(), DefaultConfig(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	recs := decodeFlows(t)
	e.Enrich(context.Background(), recs)
	for i, r := range recs {
		if r.Enrichment.Cost == "" {
			t.Errorf("record %d has no cost class", i)
		}
	}
	// 10.0.1.5 -> 203.0.113.5: inferred from address classes alone.
	if en := recs[4].Enrichment; en.Direction != "egress" || en.DirectionFrom != stream.DirectionAddresses || en.Cost != stream.CostInternet || en.Perimeter != "outbound" {
		t.Errorf("record 4: %+v", en)
	}
	// ip-ranges lookup for an address AWS did not tag (no pkt service).
	r := stream.Record{SrcAddr: netip.MustParseAddr("10.0.0.5"), DstAddr: netip.MustParseAddr("3.5.141.7"), Region: "ap-northeast-2"}
	r.Present.Add(stream.FieldSrcAddr)
	r.Present.Add(stream.FieldDstAddr)
	r.Present.Add(stream.FieldRegion)
	recs = []stream.Record{r}
	e.Enrich(context.Background(), recs)
	if d := recs[0].Enrichment.Dst; d.Service != "S3" || d.ServiceFrom != stream.ServiceIPRanges || recs[0].Enrichment.Cost != stream.CostAWSService {
		t.Errorf("ip-ranges service: %+v cost %q", d, recs[0].Enrichment.Cost)
	}
}

func TestEnrichIsIdempotent(t *testing.T) {
	e := fileEnricher(t)
	recs := decodeFlows(t)
	e.Enrich(context.Background(), recs)
	first := recs[1].Enrichment
	e.Enrich(context.Background(), recs)
	if recs[1].Enrichment != first {
		t.Errorf("second pass changed the enrichment: %+v vs %+v", recs[1].Enrichment, first)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		want []string
	}{
		{"default", func(*Config) {}, nil},
		{"bad source", func(c *Config) { c.Inventory = "s3" }, []string{`inventory: must be one of ec2, file, none, got "s3"`}},
		{"file without path", func(c *Config) { c.Inventory = InventoryFile }, []string{"inventory_file:"}},
		{"ec2 without regions", func(c *Config) { c.Inventory = InventoryEC2; c.EC2.RateLimit = 0 }, []string{"ec2.regions:", "ec2.rate_limit:"}},
		{"nested keys", func(c *Config) { c.IPRanges.MaxBytes = 1; c.GeoIP.CacheSize = 0 }, []string{"ip_ranges.max_bytes:", "geoip.cache_size:"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mod(&c)
			err := c.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			for _, w := range tc.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v, want %q", err, w)
				}
			}
		})
	}
}

func TestEnrichGeoIP(t *testing.T) {
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.GeoIP.CityDB, cfg.GeoIP.ASNDB = filepath.Join(dir, "city.mmdb"), filepath.Join(dir, "asn.mmdb")
	writeTestGeoIP(t, cfg.GeoIP.CityDB, cfg.GeoIP.ASNDB)
	e, err := New(context.Background(), cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	recs := decodeFlows(t)
	e.Enrich(context.Background(), recs)
	if g := recs[6].Enrichment.Src.Geo; g == nil || g.ASN != 16509 || g.CountryISOCode != "AU" {
		t.Errorf("public S3 address geo = %+v", g)
	}
	if g := recs[6].Enrichment.Dst.Geo; g != nil {
		t.Errorf("private address got geo %+v", g)
	}
}
