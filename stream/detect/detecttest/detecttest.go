// Package detecttest generates enriched flow records for detection tests
// and benchmarks: attack scenarios are built flow by flow, and BenignHour
// is an hour of busy, harmless traffic of a random shape.
package detecttest

import (
	"fmt"
	"math/rand/v2"
	"net/netip"

	"github.com/flowhose/flowhose/enrich/derive"
	"github.com/flowhose/flowhose/stream"
)

// T0 is the start of an hour: every scenario fits in one window.
const T0 = 1_780_002_000

// ENI is the logging interface of every generated record.
var ENI = &stream.Interface{ID: "eni-0web", SubnetID: "subnet-0app", VPCID: "vpc-01", AccountID: "123456789012",
	Region: "eu-west-1", AZID: "euw1-az1",
	Instance: &stream.Instance{ID: "i-0web", Name: "web-1", Tags: []stream.Tag{{Key: "env", Value: "prod"}}}}

// Traffic builds enriched records as the pipeline would hand them over.
type Traffic struct {
	Recs []stream.Record
}

// FlowOpt adjusts a record before its derived fields are computed.
type FlowOpt func(*stream.Record)

// Service makes the destination an AWS service's address.
func Service(name string) FlowOpt {
	return func(r *stream.Record) { r.Enrichment.Dst.Service, r.Enrichment.Dst.ServiceRegion = name, "eu-west-1" }
}

// Flow adds one record ending at t.
func (g *Traffic) Flow(t int64, src string, sport uint16, dst string, dport uint16, proto uint8,
	packets, bytes uint64, action string, opts ...FlowOpt) {
	r := stream.Record{
		Version: 2, AccountID: "123456789012", InterfaceID: "eni-0web",
		SrcAddr: netip.MustParseAddr(src), DstAddr: netip.MustParseAddr(dst),
		SrcPort: sport, DstPort: dport, Protocol: proto, Packets: packets, Bytes: bytes,
		Start: t - 5, End: t, Action: action, LogStatus: "OK",
	}
	for _, f := range []stream.Field{stream.FieldVersion, stream.FieldAccountID, stream.FieldInterfaceID,
		stream.FieldSrcAddr, stream.FieldDstAddr, stream.FieldSrcPort, stream.FieldDstPort, stream.FieldProtocol,
		stream.FieldPackets, stream.FieldBytes, stream.FieldStart, stream.FieldEnd, stream.FieldAction, stream.FieldLogStatus} {
		r.Present.Add(f)
	}
	r.Raw = fmt.Sprintf("2 123456789012 eni-0web %s %s %d %d %d %d %d %d %d %s OK",
		src, dst, sport, dport, proto, packets, bytes, t-5, t, action)
	r.Enrichment.Interface = ENI
	derive.Classes(&r)
	for _, o := range opts {
		o(&r)
	}
	derive.Apply(&r, "eu-west-1")
	g.Recs = append(g.Recs, r)
}

// BenignHour is an hour of busy, harmless traffic from T0: a web tier
// behind a load balancer with its health checks, a NAT gateway, S3 and
// DynamoDB transfers, DNS, a database pool and internet background
// noise. rng varies its shape (target count, rates, peers). It hands the
// records to each ten seconds at a time, in a slice it reuses.
func BenignHour(rng *rand.Rand, each func([]stream.Record)) {
	g := &Traffic{}
	eph := func() uint16 { return uint16(32768 + rng.IntN(28000)) }
	public := func() string {
		return fmt.Sprintf("%d.%d.%d.%d", []int{31, 37, 46, 62, 77, 81, 89, 93, 109, 176, 188, 212}[rng.IntN(12)],
			rng.IntN(256), rng.IntN(256), 1+rng.IntN(254))
	}
	targets := 8 + rng.IntN(30)
	for s := int64(0); s < 3600; s += 10 {
		if len(g.Recs) > 0 {
			each(g.Recs)
			g.Recs = g.Recs[:0]
		}
		t := int64(T0) + s
		// Busy web tier: clients to the load balancer, the balancer to
		// its targets, and the targets' answers.
		for range 20 + rng.IntN(40) {
			client, lb := public(), fmt.Sprintf("10.0.0.%d", 10+rng.IntN(3))
			g.Flow(t, client, eph(), lb, 443, 6, uint64(8+rng.IntN(40)), uint64(2000+rng.IntN(90000)), "ACCEPT")
			g.Flow(t, lb, 443, client, eph(), 6, uint64(8+rng.IntN(60)), uint64(5000+rng.IntN(900000)), "ACCEPT")
			target := fmt.Sprintf("10.0.1.%d", 10+rng.IntN(targets))
			p := eph()
			g.Flow(t, lb, p, target, 8080, 6, uint64(6+rng.IntN(30)), uint64(900+rng.IntN(40000)), "ACCEPT")
			g.Flow(t, target, 8080, lb, p, 6, uint64(6+rng.IntN(30)), uint64(900+rng.IntN(400000)), "ACCEPT")
		}
		// Health checks of every target by each balancer node: a TCP
		// check is three packets, an HTTP one more.
		for lb := range 3 {
			for i := range targets {
				g.Flow(t, fmt.Sprintf("10.0.0.%d", 10+lb), eph(), fmt.Sprintf("10.0.1.%d", 10+i), 8080, 6, uint64(3+rng.IntN(5)), 300, "ACCEPT")
			}
		}
		// NAT gateway: private hosts to many internet peers on 443, and
		// the gateway's own side of the same flows.
		for range 10 + rng.IntN(30) {
			peer := public()
			g.Flow(t, fmt.Sprintf("10.0.1.%d", 10+rng.IntN(targets)), eph(), peer, 443, 6, uint64(10+rng.IntN(200)), uint64(1000+rng.IntN(2_000_000)), "ACCEPT")
			g.Flow(t, "10.0.0.5", eph(), peer, 443, 6, uint64(10+rng.IntN(200)), uint64(1000+rng.IntN(2_000_000)), "ACCEPT")
		}
		// S3 and DynamoDB: large transfers to AWS's own addresses.
		for range 2 + rng.IntN(6) {
			g.Flow(t, fmt.Sprintf("10.0.1.%d", 10+rng.IntN(targets)), eph(), fmt.Sprintf("52.218.%d.%d", rng.IntN(256), 1+rng.IntN(254)), 443, 6,
				uint64(1000+rng.IntN(50000)), uint64(rng.IntN(200<<20)), "ACCEPT", Service("S3"))
			g.Flow(t, fmt.Sprintf("10.0.1.%d", 10+rng.IntN(targets)), eph(), fmt.Sprintf("3.218.%d.%d", 180+rng.IntN(4), 1+rng.IntN(254)), 443, 6,
				uint64(10+rng.IntN(400)), uint64(rng.IntN(400000)), "ACCEPT", Service("DYNAMODB"))
		}
		// DNS to the VPC resolver and its answers; a database pool that
		// churns connections.
		for range 5 + rng.IntN(20) {
			host, p := fmt.Sprintf("10.0.1.%d", 10+rng.IntN(targets)), eph()
			g.Flow(t, host, p, "10.0.0.2", 53, 17, 1, 70, "ACCEPT")
			g.Flow(t, "10.0.0.2", 53, host, p, 17, 1, 200, "ACCEPT")
			g.Flow(t, host, eph(), "10.0.2.20", 5432, 6, uint64(10+rng.IntN(500)), uint64(2000+rng.IntN(5_000_000)), "ACCEPT")
		}
		// Internet background noise: each scanner knocks once or twice.
		for range rng.IntN(6) {
			g.Flow(t, public(), eph(), fmt.Sprintf("10.0.0.%d", 10+rng.IntN(3)), []uint16{23, 445, 3389, 22, 8080}[rng.IntN(5)], 6, 1, 40, "REJECT")
		}
	}
	each(g.Recs)
}
