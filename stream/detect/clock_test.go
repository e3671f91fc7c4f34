package detect

import (
	"fmt"
	"github.com/flowhose/flowhose/stream"
	"github.com/gaissmai/bart"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/flowhose/flowhose/stream/detect/detecttest"
)

// One record stamped in the future (a skewed clock, a garbage end field)
// must not become the engine's clock: keys would then look expired, be
// swept mid-window and lose their counts and their suppression.
func TestFutureRecordDoesNotMoveTheClock(t *testing.T) {
	for _, future := range []int64{detecttest.T0 + 86400*365, math.MaxInt64} {
		var g detecttest.Traffic
		for w := range int64(14) { // one scan of 20 ports every 5-minute window
			for p := range 20 {
				g.Flow(detecttest.T0+w*300+int64(p), "91.240.118.5", 41000, "10.0.1.10", uint16(100+p), 6, 1, 44, "REJECT")
			}
		}
		var bogus detecttest.Traffic
		bogus.Flow(0, "203.0.113.9", 41000, "10.0.1.11", 443, 6, 3, 180, "ACCEPT")
		bogus.Recs[0].End = future
		// The bogus record arrives in the middle of the first scan.
		recs := append(append(g.Recs[:10:10], bogus.Recs[0]), g.Recs[10:]...)

		e := newEngine(t, DefaultConfig(), nil)
		e.clock = func() time.Time { return time.Unix(detecttest.T0+7200, 0) }
		var alerts []Alert
		e.Process(recs, func(a Alert) { alerts = append(alerts, a) })
		if len(alerts) != 2 || alerts[0].Suppressed != 0 || alerts[1].Suppressed != 11 {
			t.Fatalf("future end %d: %d alerts (%v), want 2, the second with 11 suppressed", future, len(alerts), alerts)
		}
		if got := alerts[0].WindowStart.Unix(); got != detecttest.T0 {
			t.Errorf("future end %d: first alert in the window at %d, want the first scan's (%d)", future, got, int64(detecttest.T0))
		}
	}
}

// Flow logs of one window reach the engine over minutes, from many
// interfaces: a port sweep's records delivered in two parts, with fresher
// traffic in between, must still add up in their window. The key was
// swept as soon as the engine's clock passed its window's end, and the
// late part counted from zero.
func TestLateRecordsKeepTheirWindowCount(t *testing.T) {
	var sweep, fresh detecttest.Traffic
	for h := range 30 { // 30 hosts on port 22, in the first 5-minute window
		sweep.Flow(detecttest.T0+200+int64(h), "91.240.118.5", 41000, fmt.Sprintf("10.0.1.%d", 10+h), 22, 6, 1, 44, "REJECT")
	}
	for i := range 5 { // other probes, a window later
		fresh.Flow(detecttest.T0+520+int64(i), "185.220.101.7", 41000, "10.0.9.9", uint16(8000+i), 6, 1, 44, "REJECT")
	}
	e := newEngine(t, DefaultConfig(), nil)
	e.clock = func() time.Time { return time.Unix(detecttest.T0+900, 0) }
	var alerts []Alert
	emit := func(a Alert) {
		if a.Rule == RulePortSweepInbound {
			alerts = append(alerts, a)
		}
	}
	e.Process(sweep.Recs[:15], emit)
	e.Process(fresh.Recs, emit)
	e.Process(sweep.Recs[15:], emit)
	if len(alerts) != 1 || alerts[0].WindowStart.Unix() != detecttest.T0 || alerts[0].Count != 25 {
		t.Errorf("%d sweep alerts (%v), want one in the first window at 25 hosts", len(alerts), alerts)
	}
}

// When a rule is at max_keys, a flood of new keys must not evict the key
// that is suppressing an alert: the scan's next window would alert again
// (under another window's id, a duplicate downstream) and the suppressed
// count would be lost.
func TestEvictionKeepsSuppressingKeys(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxKeys = 10
	e := newEngine(t, cfg, nil)
	e.clock = func() time.Time { return time.Unix(detecttest.T0+7200, 0) }
	scan := func(start int64) []stream.Record {
		var g detecttest.Traffic
		for p := range 20 {
			g.Flow(start+int64(p), "91.240.118.5", 41000, "10.0.1.10", uint16(100+p), 6, 1, 44, "REJECT")
		}
		return g.Recs
	}
	var alerts []Alert
	emit := func(a Alert) {
		if a.Rule == RulePortScanInbound {
			alerts = append(alerts, a)
		}
	}
	e.Process(scan(detecttest.T0), emit)
	var flood detecttest.Traffic
	for i := range 1000 { // single probes from many sources: no alert, many keys
		flood.Flow(detecttest.T0+30+int64(i%200), fmt.Sprintf("185.%d.%d.%d", i>>16, i>>8&255, i&255), 41000, "10.0.1.20", 23, 6, 1, 40, "REJECT")
	}
	e.Process(flood.Recs, emit)
	e.Process(scan(detecttest.T0+300), emit)
	if len(alerts) != 1 {
		t.Errorf("%d alerts, want 1 (the second window suppressed)", len(alerts))
	}
}

// A reload that lands while a batch is evaluated must not give an alert
// a list entry other than the one its record matched: the rule matched on
// one table and the alert looked its entry up again in the next, which
// might no longer list the address (an alert naming no list and the
// "invalid Prefix").
func TestIntelReloadDuringBatch(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c2.txt")
	if err := os.WriteFile(path, []byte("45.9.148.0/24\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	in, _, err := LoadIntel([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	listing, empty := in.table.Load(), new(bart.Table[listed])
	cfg := DefaultConfig()
	cfg.Rules.ThreatIntel.Files = []string{path}
	cfg.SuppressFor = 0
	e := newEngine(t, cfg, in)
	var g detecttest.Traffic
	for i := range 100000 {
		g.Flow(detecttest.T0+int64(i%3600), fmt.Sprintf("10.%d.%d.%d", i>>16, i>>8&255, i&255), 50000, "45.9.148.3", 443, 6, 8, 700, "ACCEPT")
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			in.table.Store(empty)
			runtime.Gosched()
			in.table.Store(listing)
		}
	}()
	bad := 0
	e.Process(g.Recs, func(a Alert) {
		if a.Listed.List != "c2" {
			bad++
		}
	})
	close(stop)
	<-done
	if bad > 0 {
		t.Errorf("%d alerts name no list entry", bad)
	}
}

func newEngine(t *testing.T, cfg Config, intel *Intel) *Engine {
	t.Helper()
	e, err := New(cfg, intel, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}
