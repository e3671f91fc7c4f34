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

	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/detect/detecttest"
)

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
		traffic func(g *detecttest.Traffic)
		rule    string
		key     string
		count   uint64
		check   func(t *testing.T, a Alert)
	}{
		{"vertical scan from the internet", func(g *detecttest.Traffic) {
			for p := range 40 {
				g.Flow(detecttest.T0+int64(p)*3, scanner, 41000, internal, uint16(20+p*7), 6, 1, 44, "REJECT")
			}
		}, RulePortScanInbound, "source.ip=91.240.118.5 destination.ip=10.0.1.10", 15, nil},
		{"vertical scan by your own instance", func(g *detecttest.Traffic) {
			for p := range 30 {
				g.Flow(detecttest.T0+int64(p), internal, 50123, db, uint16(1+p), 6, 2, 88, "ACCEPT")
			}
		}, RulePortScanOutbound, "source.ip=10.0.1.10 destination.ip=10.0.2.20", 15, nil},
		{"horizontal sweep from the internet", func(g *detecttest.Traffic) {
			for h := range 60 {
				g.Flow(detecttest.T0+int64(h), scanner, 41000, fmt.Sprintf("10.0.1.%d", h+1), 445, 6, 1, 40, "REJECT")
			}
		}, RulePortSweepInbound, "source.ip=91.240.118.5 destination.port=445 protocol=6", 25, nil},
		{"horizontal sweep by your own instance", func(g *detecttest.Traffic) {
			for h := range 40 {
				g.Flow(detecttest.T0+int64(h), internal, 50000, fmt.Sprintf("10.0.9.%d", h+1), 3389, 6, 1, 40, "ACCEPT")
			}
		}, RulePortSweepOutbound, "source.ip=10.0.1.10 destination.port=3389 protocol=6", 25, nil},
		{"SSH brute force", func(g *detecttest.Traffic) {
			for i := range 50 {
				g.Flow(detecttest.T0+int64(i)*4, "10.0.3.5", uint16(40000+i), internal, 22, 6, 14, 2900, "ACCEPT")
			}
		}, RuleBruteForce, "source.ip=10.0.3.5 destination.ip=10.0.1.10 destination.port=22", 30, nil},
		{"reject burst", func(g *detecttest.Traffic) {
			for i := range 150 {
				g.Flow(detecttest.T0+int64(i), scanner, uint16(33000+i), internal, 443, 6, 3, 180, "REJECT")
			}
		}, RuleRejectBurst, "source.ip=91.240.118.5", 100, func(t *testing.T, a Alert) {
			n := a.NetworkACLEntry
			if n == nil || n.CIDRBlock != "91.240.118.5/32" || n.Protocol != "6" || n.SubnetID != "subnet-0app" ||
				n.PortRange == nil || *n.PortRange != (PortRange{443, 443}) || n.RuleAction != "deny" || n.Egress ||
				!strings.Contains(n.Command, "--cidr-block 91.240.118.5/32") || !strings.Contains(n.Command, "From=443,To=443") {
				t.Errorf("network ACL entry = %+v", n)
			}
		}},
		{"exposed port probed", func(g *detecttest.Traffic) {
			for i := range 3 {
				g.Flow(detecttest.T0+int64(i)*60, "185.220.101.8", uint16(51000+i), internal, 9200, 6, 10, 900, "ACCEPT")
			}
		}, RuleExposedPortProbed, "destination.ip=10.0.1.10 destination.port=9200", 1, nil},
		{"exfiltration to one peer", func(g *detecttest.Traffic) {
			for i := range 12 {
				g.Flow(detecttest.T0+int64(i)*120, internal, uint16(50001+i), "5.188.10.20", 443, 6, 70000, 100<<20, "ACCEPT")
			}
		}, RuleExfiltrationPeer, "source.ip=10.0.1.10 destination.ip=5.188.10.20", 11 * 100 << 20, nil},
		{"exfiltration to the whole internet", func(g *detecttest.Traffic) {
			for i := range 200 {
				g.Flow(detecttest.T0+int64(i)*10, internal, uint16(50001+i), fmt.Sprintf("5.188.%d.%d", 11+i/100, i%100+1), 443, 6, 40000, 60<<20, "ACCEPT")
			}
		}, RuleExfiltrationTotal, "source.ip=10.0.1.10", 171 * 60 << 20, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var g detecttest.Traffic
			c.traffic(&g)
			alerts := run(t, DefaultConfig(), g.Recs)
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
	var g detecttest.Traffic
	for i := range 5 { // a beacon every minute, and its answers
		g.Flow(detecttest.T0+int64(i)*60, "10.0.1.10", uint16(50000+i), "45.9.148.3", 443, 6, 8, 700, "ACCEPT")
		g.Flow(detecttest.T0+int64(i)*60, "45.9.148.3", 443, "10.0.1.10", uint16(50000+i), 6, 6, 500, "ACCEPT")
	}
	var alerts []Alert
	e.Process(g.Recs, func(a Alert) { alerts = append(alerts, a) })
	// The beacon and its answers are one connection: one alert, keyed
	// towards the listed address.
	if len(alerts) != 1 {
		t.Fatalf("%d alerts, want 1: %+v", len(alerts), alerts)
	}
	for _, a := range alerts {
		if a.Rule != RuleThreatIntel || a.Listed == nil || *a.Listed != (Listed{List: "c2", Prefix: "45.9.148.0/24", Address: "45.9.148.3"}) {
			t.Errorf("alert %s listed %+v", a.Rule, a.Listed)
		}
		if got := keyString(a); got != "source.ip=10.0.1.10 destination.ip=45.9.148.3" {
			t.Errorf("key %s, want the listed address as destination", got)
		}
	}
	// The answer alone, as another replica might see it first, raises the
	// same id.
	again, err := New(cfg, intel, nil)
	if err != nil {
		t.Fatal(err)
	}
	var answers []Alert
	again.Process(g.Recs[1:2], func(a Alert) { answers = append(answers, a) })
	if len(answers) != 1 || answers[0].ID != alerts[0].ID {
		t.Errorf("the answer alone: %+v, want id %s", answers, alerts[0].ID)
	}
}

// TestBenignHour runs an hour of busy but harmless traffic, with three
// random shapes (one under the race detector, which finds nothing more in
// the other two): no rule may fire.
func TestBenignHour(t *testing.T) {
	seeds := uint64(3)
	if raceEnabled {
		seeds = 1
	}
	for seed := range seeds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			e, err := New(DefaultConfig(), nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			detecttest.BenignHour(rand.New(rand.NewPCG(seed, 7)), func(recs []stream.Record) {
				n += len(recs)
				e.Process(recs, func(a Alert) { t.Errorf("alert on benign traffic: %s", a.Summary) })
			})
			t.Logf("%d benign records", n)
		})
	}
}

func TestSuppressionAndStableIDs(t *testing.T) {
	scan := func(g *detecttest.Traffic, start int64) {
		for p := range 20 {
			g.Flow(start+int64(p), "91.240.118.5", 41000, "10.0.1.10", uint16(100+p), 6, 1, 44, "REJECT")
		}
	}
	var g detecttest.Traffic
	for w := range int64(14) { // one scan every 5-minute window for 70 minutes
		scan(&g, detecttest.T0+w*300)
	}
	alerts := run(t, DefaultConfig(), g.Recs)
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
	again := run(t, DefaultConfig(), append(slices.Clone(g.Recs[:20]), g.Recs[:20]...))
	if len(again) != 1 || again[0].ID != alerts[0].ID {
		t.Errorf("redelivery: %d alerts, id %v, want %s", len(again), again, alerts[0].ID)
	}
}
