package derive

import (
	"net/netip"
	"testing"

	"github.com/flowhose/flowhose/stream"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		addr string
		want stream.AddrClass
	}{
		{"10.1.2.3", stream.AddrPrivate},
		{"172.16.0.1", stream.AddrPrivate},
		{"172.31.255.255", stream.AddrPrivate},
		{"172.32.0.1", stream.AddrPublic},
		{"192.168.1.1", stream.AddrPrivate},
		{"100.64.0.1", stream.AddrPrivate},
		{"100.128.0.1", stream.AddrPublic},
		{"127.0.0.1", stream.AddrLoopback},
		{"169.254.169.254", stream.AddrLinkLocal},
		{"0.0.0.0", stream.AddrSpecial},
		{"192.0.0.8", stream.AddrSpecial},
		{"192.0.2.1", stream.AddrDocumentation},
		{"198.51.100.23", stream.AddrDocumentation},
		{"203.0.113.9", stream.AddrDocumentation},
		{"198.18.0.1", stream.AddrSpecial},
		{"198.19.255.1", stream.AddrSpecial},
		{"198.20.0.1", stream.AddrPublic},
		{"224.0.0.251", stream.AddrMulticast},
		{"239.255.255.250", stream.AddrMulticast},
		{"240.0.0.1", stream.AddrSpecial},
		{"255.255.255.255", stream.AddrSpecial},
		{"8.8.8.8", stream.AddrPublic},
		{"52.95.128.179", stream.AddrPublic},
		{"::ffff:10.0.0.1", stream.AddrPrivate},
		{"::1", stream.AddrLoopback},
		{"::", stream.AddrSpecial},
		{"fd00:ec2::254", stream.AddrPrivate},
		{"fe80::1", stream.AddrLinkLocal},
		{"ff02::1", stream.AddrMulticast},
		{"2001:db8::1", stream.AddrDocumentation},
		{"3fff::1", stream.AddrDocumentation},
		{"2001::1", stream.AddrSpecial},
		{"2001:4860:4860::8888", stream.AddrPublic},
		{"2600:1f18::1", stream.AddrPublic},
		{"64:ff9b::808:808", stream.AddrPublic},
		{"100::1", stream.AddrSpecial},
	}
	for _, tc := range tests {
		if got := Classify(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("Classify(%s) = %s, want %s", tc.addr, got, tc.want)
		}
	}
	if got := Classify(netip.Addr{}); got != stream.AddrNone {
		t.Errorf("invalid address classified as %s", got)
	}
}

func TestPortName(t *testing.T) {
	tests := []struct {
		proto uint8
		port  uint16
		want  string
	}{
		{6, 443, "https"}, {17, 53, "dns"}, {6, 3389, "rdp"}, {6, 34210, ""}, {1, 443, ""}, {132, 22, "ssh"},
	}
	for _, tc := range tests {
		if got := PortName(tc.proto, tc.port); got != tc.want {
			t.Errorf("PortName(%d, %d) = %q, want %q", tc.proto, tc.port, got, tc.want)
		}
	}
}

func TestApply(t *testing.T) {
	web := &stream.Interface{ID: "eni-web", Type: "interface", Region: "us-east-1", AZID: "use1-az1"}
	db := &stream.Interface{ID: "eni-db", Type: "interface", Region: "us-east-1", AZID: "use1-az2"}
	db2 := &stream.Interface{ID: "eni-db2", Type: "interface", Region: "us-east-1", AZID: "use1-az1"}
	eu := &stream.Interface{ID: "eni-eu", Type: "interface", Region: "eu-west-1", AZID: "euw1-az1"}
	nat := &stream.Interface{ID: "eni-nat", Type: "nat_gateway", Region: "us-east-1", AZID: "use1-az1"}
	// Zone names without IDs: comparable within one account only.
	named := func(id, az, account string) *stream.Interface {
		return &stream.Interface{ID: id, Type: "interface", Region: "us-east-1", AvailabilityZone: az, AccountID: account}
	}
	webN, dbN, appN, otherN := named("eni-webn", "us-east-1a", "111"), named("eni-dbn", "us-east-1b", "111"),
		named("eni-appn", "us-east-1a", "111"), named("eni-othern", "us-east-1a", "222")

	type rec struct {
		eni, src, dst, flowDir string
		sport, dport           uint16
		iface, srcI, dstI      *stream.Interface
		dstService, dstRegion  string
	}
	tests := []struct {
		name         string
		in           rec
		dir          string
		from         stream.DirectionSource
		perimeter    string
		cost         stream.CostClass
		nat, gwEP    bool
		srcPN, dstPN string
	}{
		{"flow-direction wins", rec{eni: "eni-web", src: "10.0.2.6", dst: "10.0.1.5", flowDir: "ingress", iface: web, srcI: db, dstI: web, sport: 5432, dport: 40000},
			"ingress", stream.DirectionFlowLog, "internal", stream.CostCrossAZ, false, false, "postgresql", ""},
		{"inventory egress same az", rec{eni: "eni-web", src: "10.0.1.5", dst: "10.0.1.9", iface: web, srcI: web, dstI: db2, sport: 40000, dport: 5432},
			"egress", stream.DirectionInventory, "internal", stream.CostSameAZ, false, false, "", "postgresql"},
		{"inventory ingress cross az", rec{eni: "eni-web", src: "10.0.2.6", dst: "10.0.1.5", iface: web, srcI: db, dstI: web, dport: 443},
			"ingress", stream.DirectionInventory, "internal", stream.CostCrossAZ, false, false, "", "https"},
		{"zone names, one account, cross az", rec{eni: "eni-webn", src: "10.0.1.5", dst: "10.0.2.6", iface: webN, srcI: webN, dstI: dbN, dport: 5432},
			"egress", stream.DirectionInventory, "internal", stream.CostCrossAZ, false, false, "", "postgresql"},
		{"zone names, one account, same az", rec{eni: "eni-webn", src: "10.0.1.5", dst: "10.0.1.6", iface: webN, srcI: webN, dstI: appN},
			"egress", stream.DirectionInventory, "internal", stream.CostSameAZ, false, false, "", ""},
		{"zone names of two accounts", rec{eni: "eni-webn", src: "10.0.1.5", dst: "10.0.1.7", iface: webN, srcI: webN, dstI: otherN},
			"egress", stream.DirectionInventory, "internal", stream.CostUnknown, false, false, "", ""},
		{"zone id against a name only", rec{eni: "eni-web", src: "10.0.1.5", dst: "10.0.1.6", iface: web, srcI: web, dstI: appN},
			"egress", stream.DirectionInventory, "internal", stream.CostUnknown, false, false, "", ""},
		{"cross region peer", rec{eni: "eni-web", src: "10.0.1.5", dst: "10.9.0.1", iface: web, srcI: web, dstI: eu},
			"egress", stream.DirectionInventory, "internal", stream.CostCrossRegion, false, false, "", ""},
		{"address classes egress to internet", rec{eni: "eni-x", src: "10.0.0.5", dst: "8.8.8.8", dport: 53},
			"egress", stream.DirectionAddresses, "outbound", stream.CostInternet, false, false, "", "dns"},
		{"address classes ingress from documentation range", rec{eni: "eni-x", src: "198.51.100.23", dst: "10.0.3.17", dport: 22},
			"ingress", stream.DirectionAddresses, "inbound", stream.CostInternet, false, false, "", "ssh"},
		{"private to unknown private", rec{eni: "eni-x", src: "10.0.0.5", dst: "10.0.0.6"},
			"", stream.DirectionUnknown, "internal", stream.CostUnknown, false, false, "", ""},
		{"nat gateway to s3 same region", rec{eni: "eni-nat", src: "10.0.0.220", dst: "52.216.1.1", iface: nat, srcI: nat, dstService: "S3", dstRegion: "us-east-1", dport: 443},
			"egress", stream.DirectionInventory, "outbound", stream.CostAWSService, true, true, "", "https"},
		{"nat gateway to s3 other region", rec{eni: "eni-nat", src: "10.0.0.220", dst: "52.218.1.1", iface: nat, srcI: nat, dstService: "S3", dstRegion: "us-west-2"},
			"egress", stream.DirectionInventory, "outbound", stream.CostCrossRegion, true, false, "", ""},
		{"nat gateway to ec2 range", rec{eni: "eni-nat", src: "10.0.0.220", dst: "3.3.3.3", iface: nat, srcI: nat, dstService: "EC2", dstRegion: "us-east-1"},
			"egress", stream.DirectionInventory, "outbound", stream.CostAWSService, true, false, "", ""},
		{"global cloudfront", rec{eni: "eni-web", src: "10.0.1.5", dst: "70.132.1.1", iface: web, srcI: web, dstService: "CLOUDFRONT", dstRegion: "GLOBAL"},
			"egress", stream.DirectionInventory, "outbound", stream.CostAWSService, false, false, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := stream.Record{InterfaceID: tc.in.eni, SrcAddr: netip.MustParseAddr(tc.in.src), DstAddr: netip.MustParseAddr(tc.in.dst),
				Protocol: 6, SrcPort: tc.in.sport, DstPort: tc.in.dport}
			for _, f := range []stream.Field{stream.FieldInterfaceID, stream.FieldSrcAddr, stream.FieldDstAddr, stream.FieldProtocol, stream.FieldSrcPort, stream.FieldDstPort} {
				r.Present.Add(f)
			}
			if tc.in.flowDir != "" {
				r.FlowDirection = tc.in.flowDir
				r.Present.Add(stream.FieldFlowDirection)
			}
			r.Enrichment.Interface = tc.in.iface
			r.Enrichment.Src.Interface = tc.in.srcI
			r.Enrichment.Dst.Interface = tc.in.dstI
			r.Enrichment.Dst.Service, r.Enrichment.Dst.ServiceRegion = tc.in.dstService, tc.in.dstRegion
			Classes(&r)
			Apply(&r, "")
			e := r.Enrichment
			if e.Direction != tc.dir || e.DirectionFrom != tc.from {
				t.Errorf("direction = %q from %s, want %q from %s", e.Direction, e.DirectionFrom, tc.dir, tc.from)
			}
			if e.Perimeter != tc.perimeter {
				t.Errorf("perimeter = %q, want %q", e.Perimeter, tc.perimeter)
			}
			if e.Cost != tc.cost {
				t.Errorf("cost = %q, want %q", e.Cost, tc.cost)
			}
			if e.ViaNATGateway != tc.nat || e.GatewayEndpointEligible != tc.gwEP {
				t.Errorf("nat = %v, gateway endpoint = %v, want %v, %v", e.ViaNATGateway, e.GatewayEndpointEligible, tc.nat, tc.gwEP)
			}
			if e.Src.PortName != tc.srcPN || e.Dst.PortName != tc.dstPN {
				t.Errorf("port names = %q, %q, want %q, %q", e.Src.PortName, e.Dst.PortName, tc.srcPN, tc.dstPN)
			}
		})
	}
}

func TestApplyDefaultRegion(t *testing.T) {
	r := stream.Record{SrcAddr: netip.MustParseAddr("10.0.0.5"), DstAddr: netip.MustParseAddr("52.218.1.1")}
	r.Present.Add(stream.FieldSrcAddr)
	r.Present.Add(stream.FieldDstAddr)
	r.Enrichment.Dst.Service, r.Enrichment.Dst.ServiceRegion = "S3", "us-west-2"
	Classes(&r)
	Apply(&r, "us-east-1")
	if r.Enrichment.Cost != stream.CostCrossRegion {
		t.Errorf("cost = %q, want cross-region", r.Enrichment.Cost)
	}
	r.Region = "us-west-2"
	r.Present.Add(stream.FieldRegion)
	Apply(&r, "us-east-1")
	if r.Enrichment.Cost != stream.CostAWSService {
		t.Errorf("record region ignored: cost = %q", r.Enrichment.Cost)
	}
}

func BenchmarkApply(b *testing.B) {
	web := &stream.Interface{ID: "eni-web", Type: "interface", Region: "us-east-1", AZID: "use1-az1"}
	r := stream.Record{InterfaceID: "eni-web", SrcAddr: netip.MustParseAddr("10.0.1.5"), DstAddr: netip.MustParseAddr("52.216.1.1"), Protocol: 6, DstPort: 443}
	for _, f := range []stream.Field{stream.FieldInterfaceID, stream.FieldSrcAddr, stream.FieldDstAddr, stream.FieldProtocol, stream.FieldDstPort} {
		r.Present.Add(f)
	}
	r.Enrichment.Interface, r.Enrichment.Src.Interface = web, web
	b.ReportAllocs()
	for b.Loop() {
		Classes(&r)
		Apply(&r, "")
	}
}
