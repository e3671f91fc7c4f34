package detect

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/detect/detecttest"
)

// keyedTraffic is n records over span seconds from n distinct internet
// sources to a thousand targets, with every rule's filter met by some of
// them: probes (rejects, one-packet flows), logins, exposed ports,
// uploads.
func keyedTraffic(n int, span int64) []stream.Record {
	rng := rand.New(rand.NewPCG(1, 2))
	var g detecttest.Traffic
	for i := range n {
		src := fmt.Sprintf("%d.%d.%d.%d", 31+i>>16, i>>8&255, i&255, 1+rng.IntN(250))
		dst := fmt.Sprintf("10.0.%d.%d", rng.IntN(4), 1+rng.IntN(250))
		t := detecttest.T0 + int64(i)*span/int64(n)
		switch i % 5 {
		case 0:
			g.Flow(t, src, uint16(40000+rng.IntN(20000)), dst, uint16(1+rng.IntN(1024)), 6, 1, 40, "REJECT")
		case 1:
			g.Flow(t, src, uint16(40000+rng.IntN(20000)), dst, 22, 6, 12, 3000, "ACCEPT")
		case 2:
			g.Flow(t, src, uint16(40000+rng.IntN(20000)), dst, 443, 6, 20, 9000, "ACCEPT")
		case 3:
			g.Flow(t, dst, uint16(40000+rng.IntN(20000)), src, 443, 6, 200, 1<<20, "ACCEPT")
		case 4:
			g.Flow(t, dst, 443, src, uint16(40000+rng.IntN(20000)), 6, 30, 40000, "ACCEPT")
		}
	}
	return g.Recs
}

func allRules(b *testing.B) (Config, *Intel) {
	path := filepath.Join(b.TempDir(), "list.txt")
	if err := os.WriteFile(path, []byte("45.9.148.0/24\n171.25.193.77\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	intel, _, err := LoadIntel([]string{path})
	if err != nil {
		b.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Rules.ThreatIntel.Files = []string{path}
	return cfg, intel
}

// BenchmarkEngine: records/s through every built-in rule with 100,000
// distinct source addresses.
func BenchmarkEngine(b *testing.B) {
	recs := keyedTraffic(100_000, 3600)
	cfg, intel := allRules(b)
	e, err := New(cfg, intel, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		e.Process(recs, func(Alert) {})
	}
	b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkMemoryAtCap fills the rules to max_keys (100,000) within one
// window, so that none expires, and reports the heap the engine then holds
// and the keys it tracks.
func BenchmarkMemoryAtCap(b *testing.B) {
	cfg, intel := allRules(b)
	recs := keyedTraffic(600_000, 290)
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		e, err := New(cfg, intel, nil)
		if err != nil {
			b.Fatal(err)
		}
		e.Process(recs, func(Alert) {})
		runtime.GC()
		runtime.ReadMemStats(&after)
		keys := 0
		for _, r := range e.rules {
			keys += len(r.states)
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "MiB")
		b.ReportMetric(float64(keys), "keys")
		runtime.KeepAlive(e)
	}
}

// BenchmarkEngineBenign: records/s through every built-in rule on an hour
// of benign traffic (few keys reach any threshold).
func BenchmarkEngineBenign(b *testing.B) {
	var recs []stream.Record
	detecttest.BenignHour(rand.New(rand.NewPCG(1, 7)), func(r []stream.Record) { recs = append(recs, r...) })
	cfg, intel := allRules(b)
	b.ReportAllocs()
	for b.Loop() {
		e, err := New(cfg, intel, nil)
		if err != nil {
			b.Fatal(err)
		}
		e.Process(recs, func(Alert) {})
	}
	b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(0, "ns/op")
}
