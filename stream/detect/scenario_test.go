package detect

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowhose/flowhose/enrich/derive"
	"github.com/flowhose/flowhose/stream"
)

// t0 is the start of an hour: every scenario fits in one window.
const t0 = 1_780_002_000

var webENI = &stream.Interface{ID: "eni-0web", SubnetID: "subnet-0app", VPCID: "vpc-01", AccountID: "123456789012",
	Region: "eu-west-1", AZID: "euw1-az1",
	Instance: &stream.Instance{ID: "i-0web", Name: "web-1", Tags: []stream.Tag{{Key: "env", Value: "prod"}}}}

// traffic builds enriched records as the pipeline would hand them over.
type traffic struct {
	recs []stream.Record
}

type flowOpt func(*stream.Record)

func service(name string) flowOpt {
	return func(r *stream.Record) { r.Enrichment.Dst.Service, r.Enrichment.Dst.ServiceRegion = name, "eu-west-1" }
}

func (g *traffic) flow(t int64, src string, sport uint16, dst string, dport uint16, proto uint8,
	packets, bytes uint64, action string, opts ...flowOpt) {
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
	r.Enrichment.Interface = webENI
	derive.Classes(&r)
	for _, o := range opts {
		o(&r)
	}
	derive.Apply(&r, "eu-west-1")
	g.recs = append(g.recs, r)
}

func run(t *testing.T, cfg Config, recs []stream.Record) []Alert {
	t.Helper()
	e, err := New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []Alert
	e.Process(recs, func(a Alert) { out = append(out, a) })
	return out
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func keyString(a Alert) string {
	var parts []string
	for _, k := range a.Key {
		parts = append(parts, k.Field+"="+k.Value)
	}
	return strings.Join(parts, " ")
}

func TestScenariosFireOnce(t *testing.T) {
	const scanner, internal, db = "91.240.118.5", "10.0.1.10", "10.0.2.20"
	cases := []struct {
		name    string
		traffic func(g *traffic)
		rule    string
		key     string
		count   uint64
		check   func(t *testing.T, a Alert)
	}{
		{"vertical scan from the internet", func(g *traffic) {
			for p := range 40 {
				g.flow(t0+int64(p)*3, scanner, 41000, internal, uint16(20+p*7), 6, 1, 44, "REJECT")
			}
		}, RulePortScanInbound, "source.ip=91.240.118.5 destination.ip=10.0.1.10", 15, nil},
		{"vertical scan by your own instance", func(g *traffic) {
			for p := range 30 {
				g.flow(t0+int64(p), internal, 50123, db, uint16(1+p), 6, 2, 88, "ACCEPT")
			}
		}, RulePortScanOutbound, "source.ip=10.0.1.10 destination.ip=10.0.2.20", 15, nil},
		{"horizontal sweep from the internet", func(g *traffic) {
			for h := range 60 {
				g.flow(t0+int64(h), scanner, 41000, fmt.Sprintf("10.0.1.%d", h+1), 445, 6, 1, 40, "REJECT")
			}
		}, RulePortSweepInbound, "source.ip=91.240.118.5 destination.port=445 protocol=6", 25, nil},
		{"horizontal sweep by your own instance", func(g *traffic) {
			for h := range 40 {
				g.flow(t0+int64(h), internal, 50000, fmt.Sprintf("10.0.9.%d", h+1), 3389, 6, 1, 40, "ACCEPT")
			}
		}, RulePortSweepOutbound, "source.ip=10.0.1.10 destination.port=3389 protocol=6", 25, nil},
		{"SSH brute force", func(g *traffic) {
			for i := range 50 {
				g.flow(t0+int64(i)*4, "10.0.3.5", uint16(40000+i), internal, 22, 6, 14, 2900, "ACCEPT")
			}
		}, RuleBruteForce, "source.ip=10.0.3.5 destination.ip=10.0.1.10 destination.port=22", 30, nil},
		{"reject burst", func(g *traffic) {
			for i := range 150 {
				g.flow(t0+int64(i), scanner, uint16(33000+i), internal, 443, 6, 3, 180, "REJECT")
			}
		}, RuleRejectBurst, "source.ip=91.240.118.5", 100, func(t *testing.T, a Alert) {
			n := a.NetworkACLEntry
			if n == nil || n.CIDRBlock != "91.240.118.5/32" || n.Protocol != "6" || n.SubnetID != "subnet-0app" ||
				n.PortRange == nil || *n.PortRange != (PortRange{443, 443}) || n.RuleAction != "deny" || n.Egress ||
				!strings.Contains(n.Command, "--cidr-block 91.240.118.5/32") || !strings.Contains(n.Command, "From=443,To=443") {
				t.Errorf("network ACL entry = %+v", n)
			}
		}},
		{"exposed port probed", func(g *traffic) {
			for i := range 3 {
				g.flow(t0+int64(i)*60, "185.220.101.8", uint16(51000+i), internal, 9200, 6, 10, 900, "ACCEPT")
			}
		}, RuleExposedPortProbed, "destination.ip=10.0.1.10 destination.port=9200", 1, nil},
		{"exfiltration to one peer", func(g *traffic) {
			for i := range 12 {
				g.flow(t0+int64(i)*120, internal, uint16(50001+i), "5.188.10.20", 443, 6, 70000, 100<<20, "ACCEPT")
			}
		}, RuleExfiltrationPeer, "source.ip=10.0.1.10 destination.ip=5.188.10.20", 11 * 100 << 20, nil},
		{"exfiltration to the whole internet", func(g *traffic) {
			for i := range 200 {
				g.flow(t0+int64(i)*10, internal, uint16(50001+i), fmt.Sprintf("5.188.%d.%d", 11+i/100, i%100+1), 443, 6, 40000, 60<<20, "ACCEPT")
			}
		}, RuleExfiltrationTotal, "source.ip=10.0.1.10", 171 * 60 << 20, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var g traffic
			c.traffic(&g)
			alerts := run(t, DefaultConfig(), g.recs)
			if len(alerts) != 1 {
				t.Fatalf("%d alerts, want 1: %+v", len(alerts), alerts)
			}
			a := alerts[0]
			if a.Rule != c.rule || keyString(a) != c.key || a.Count != c.count {
				t.Errorf("alert %s [%s] count %d, want %s [%s] count %d", a.Rule, keyString(a), a.Count, c.rule, c.key, c.count)
			}
			if a.Asset.InstanceID != "i-0web" || a.Asset.InstanceName != "web-1" || a.Asset.SubnetID != "subnet-0app" ||
				a.Asset.VPCID != "vpc-01" || a.Asset.Tags["env"] != "prod" {
				t.Errorf("asset = %+v", a.Asset)
			}
			if len(a.SampleIDs) == 0 || len(a.SampleIDs) > 5 || len(a.ID) != 32 || a.Summary == "" {
				t.Errorf("samples %v, id %q, summary %q", a.SampleIDs, a.ID, a.Summary)
			}
			if a.WindowEnd.Sub(a.WindowStart) <= 0 || a.FirstSeen.Before(a.WindowStart) || a.LastSeen.Before(a.FirstSeen) {
				t.Errorf("window %s–%s, seen %s–%s", a.WindowStart, a.WindowEnd, a.FirstSeen, a.LastSeen)
			}
			if c.check != nil {
				c.check(t, a)
			}
		})
	}
}

func TestThreatIntelMatch(t *testing.T) {
	dir := t.TempDir()
	csv := filepath.Join(dir, "c2.csv")
	if err := os.WriteFile(csv, []byte("ip,comment\n45.9.148.0/24,botnet C2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(dir, "tor.txt")
	if err := os.WriteFile(plain, []byte("# exit nodes\n171.25.193.77\n2001:67c:e60:c0c::1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	intel, skipped, err := LoadIntel([]string{csv, plain})
	if err != nil || skipped != 1 { // the CSV header
		t.Fatalf("skipped %d, err %v", skipped, err)
	}
	cfg := DefaultConfig()
	cfg.Rules.ThreatIntel.Files = []string{csv, plain}
	e, err := New(cfg, intel, nil)
	if err != nil {
		t.Fatal(err)
	}
	var g traffic
	for i := range 5 { // a beacon every minute, and its answers
		g.flow(t0+int64(i)*60, "10.0.1.10", uint16(50000+i), "45.9.148.3", 443, 6, 8, 700, "ACCEPT")
		g.flow(t0+int64(i)*60, "45.9.148.3", 443, "10.0.1.10", uint16(50000+i), 6, 6, 500, "ACCEPT")
	}
	var alerts []Alert
	e.Process(g.recs, func(a Alert) { alerts = append(alerts, a) })
	// The beacon and its answers are two keys (source, destination).
	if len(alerts) != 2 {
		t.Fatalf("%d alerts, want 2 (one per direction): %+v", len(alerts), alerts)
	}
	for _, a := range alerts {
		if a.Rule != RuleThreatIntel || a.Listed == nil || *a.Listed != (Listed{List: "c2", Prefix: "45.9.148.0/24", Address: "45.9.148.3"}) {
			t.Errorf("alert %s listed %+v", a.Rule, a.Listed)
		}
	}
}

// TestBenignHour runs an hour of busy but harmless traffic, with three
// random shapes: no rule may fire.
func TestBenignHour(t *testing.T) {
	for seed := range uint64(3) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			g := benignHour(rand.New(rand.NewPCG(seed, 7)))
			if alerts := run(t, DefaultConfig(), g.recs); len(alerts) > 0 {
				for _, a := range alerts {
					t.Errorf("alert on benign traffic: %s", a.Summary)
				}
			}
			t.Logf("%d benign records", len(g.recs))
		})
	}
}

func benignHour(rng *rand.Rand) *traffic {
	g := &traffic{}
	eph := func() uint16 { return uint16(32768 + rng.IntN(28000)) }
	public := func() string {
		return fmt.Sprintf("%d.%d.%d.%d", []int{31, 37, 46, 62, 77, 81, 89, 93, 109, 176, 188, 212}[rng.IntN(12)],
			rng.IntN(256), rng.IntN(256), 1+rng.IntN(254))
	}
	targets := 8 + rng.IntN(30)
	for s := int64(0); s < 3600; s += 10 {
		t := int64(t0) + s
		// Busy web tier: clients to the load balancer, the balancer to
		// its targets, and the targets' answers.
		for range 20 + rng.IntN(40) {
			client, lb := public(), fmt.Sprintf("10.0.0.%d", 10+rng.IntN(3))
			g.flow(t, client, eph(), lb, 443, 6, uint64(8+rng.IntN(40)), uint64(2000+rng.IntN(90000)), "ACCEPT")
			g.flow(t, lb, 443, client, eph(), 6, uint64(8+rng.IntN(60)), uint64(5000+rng.IntN(900000)), "ACCEPT")
			target := fmt.Sprintf("10.0.1.%d", 10+rng.IntN(targets))
			p := eph()
			g.flow(t, lb, p, target, 8080, 6, uint64(6+rng.IntN(30)), uint64(900+rng.IntN(40000)), "ACCEPT")
			g.flow(t, target, 8080, lb, p, 6, uint64(6+rng.IntN(30)), uint64(900+rng.IntN(400000)), "ACCEPT")
		}
		// Health checks of every target by each balancer node: a TCP
		// check is three packets, an HTTP one more.
		for lb := range 3 {
			for i := range targets {
				g.flow(t, fmt.Sprintf("10.0.0.%d", 10+lb), eph(), fmt.Sprintf("10.0.1.%d", 10+i), 8080, 6, uint64(3+rng.IntN(5)), 300, "ACCEPT")
			}
		}
		// NAT gateway: private hosts to many internet peers on 443, and
		// the gateway's own side of the same flows.
		for range 10 + rng.IntN(30) {
			peer := public()
			g.flow(t, fmt.Sprintf("10.0.1.%d", 10+rng.IntN(targets)), eph(), peer, 443, 6, uint64(10+rng.IntN(200)), uint64(1000+rng.IntN(2_000_000)), "ACCEPT")
			g.flow(t, "10.0.0.5", eph(), peer, 443, 6, uint64(10+rng.IntN(200)), uint64(1000+rng.IntN(2_000_000)), "ACCEPT")
		}
		// S3 and DynamoDB: large transfers to AWS's own addresses.
		for range 2 + rng.IntN(6) {
			g.flow(t, fmt.Sprintf("10.0.1.%d", 10+rng.IntN(targets)), eph(), fmt.Sprintf("52.218.%d.%d", rng.IntN(256), 1+rng.IntN(254)), 443, 6,
				uint64(1000+rng.IntN(50000)), uint64(rng.IntN(200<<20)), "ACCEPT", service("S3"))
			g.flow(t, fmt.Sprintf("10.0.1.%d", 10+rng.IntN(targets)), eph(), fmt.Sprintf("3.218.%d.%d", 180+rng.IntN(4), 1+rng.IntN(254)), 443, 6,
				uint64(10+rng.IntN(400)), uint64(rng.IntN(400000)), "ACCEPT", service("DYNAMODB"))
		}
		// DNS to the VPC resolver and its answers; a database pool that
		// churns connections.
		for range 5 + rng.IntN(20) {
			host, p := fmt.Sprintf("10.0.1.%d", 10+rng.IntN(targets)), eph()
			g.flow(t, host, p, "10.0.0.2", 53, 17, 1, 70, "ACCEPT")
			g.flow(t, "10.0.0.2", 53, host, p, 17, 1, 200, "ACCEPT")
			g.flow(t, host, eph(), "10.0.2.20", 5432, 6, uint64(10+rng.IntN(500)), uint64(2000+rng.IntN(5_000_000)), "ACCEPT")
		}
		// Internet background noise: each scanner knocks once or twice.
		for range rng.IntN(6) {
			g.flow(t, public(), eph(), fmt.Sprintf("10.0.0.%d", 10+rng.IntN(3)), []uint16{23, 445, 3389, 22, 8080}[rng.IntN(5)], 6, 1, 40, "REJECT")
		}
	}
	return g
}

func TestSuppressionAndStableIDs(t *testing.T) {
	scan := func(g *traffic, start int64) {
		for p := range 20 {
			g.flow(start+int64(p), "91.240.118.5", 41000, "10.0.1.10", uint16(100+p), 6, 1, 44, "REJECT")
		}
	}
	var g traffic
	for w := range int64(14) { // one scan every 5-minute window for 70 minutes
		scan(&g, t0+w*300)
	}
	alerts := run(t, DefaultConfig(), g.recs)
	if len(alerts) != 2 {
		t.Fatalf("%d alerts, want 2 (one, then one after an hour of suppression)", len(alerts))
	}
	if alerts[0].Suppressed != 0 || alerts[1].Suppressed != 11 {
		t.Errorf("suppressed = %d, %d; want 0, 11", alerts[0].Suppressed, alerts[1].Suppressed)
	}
	if got := alerts[1].WindowStart.Sub(alerts[0].WindowStart); got != time.Hour {
		t.Errorf("second alert %s after the first, want 1h", got)
	}
	// Another replica seeing the same records, or the same records twice,
	// raises the same ids.
	again := run(t, DefaultConfig(), append(slices.Clone(g.recs[:20]), g.recs[:20]...))
	if len(again) != 1 || again[0].ID != alerts[0].ID {
		t.Errorf("redelivery: %d alerts, id %v, want %s", len(again), again, alerts[0].ID)
	}
}
