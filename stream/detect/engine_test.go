package detect

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/flowhose/flowhose/stream/detect/detecttest"
)

func TestCustomRuleFromYAML(t *testing.T) {
	var rules Rules
	err := rules.UnmarshalText([]byte(`
- name: prod_db_from_outside_vpc
  severity: critical
  window: 10m
  key: [source.ip]
  count: distinct destination.ip
  threshold: 3
  when:
    - destination.port: [5432, 3306]
      tags.env: prod
      action: ACCEPT
`))
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.CustomRules = rules
	var g detecttest.Traffic
	for i := range 4 {
		g.Flow(detecttest.T0+int64(i), "10.0.3.7", 45000, fmt.Sprintf("10.0.2.%d", 20+i), 5432, 6, 30, 9000, "ACCEPT")
	}
	alerts := run(t, cfg, g.Recs)
	if len(alerts) != 1 || alerts[0].Rule != "prod_db_from_outside_vpc" || alerts[0].Count != 3 || alerts[0].Severity != "critical" {
		t.Fatalf("alerts = %+v", alerts)
	}
}

func TestValidationNamesEveryBadKey(t *testing.T) {
	var rules Rules
	if err := rules.UnmarshalText([]byte("- name: x\n  treshold: 3\n")); err == nil {
		t.Error("a misspelt rule key was accepted")
	}
	cfg := DefaultConfig()
	cfg.MaxKeys = 0
	cfg.AllowedLateness = -time.Second
	cfg.Rules.BruteForce.Ports = []string{"22", "ssh"}
	cfg.Rules.RejectBurst.Severity = "urgent"
	cfg.CustomRules = Rules{{Name: "brute_force", Severity: "low", Window: 90 * time.Millisecond, Key: []string{"source.ip", "source.ip"},
		Count: "distinct vpc", Threshold: 0, OrRejected: true}}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"max_keys: must be between",
		"allowed_lateness: must be whole seconds",
		"rules.brute_force.when[0].destination.port: must be a port",
		"rules.reject_burst.severity: must be one of",
		"custom_rules[0].window: must be whole seconds",
		"custom_rules[0].key[1]: must be one of",
		"custom_rules[0].count: must be flows",
		"custom_rules[0].threshold: must be at least 1",
		"custom_rules[0].or_rejected: needs max_packets",
		`custom_rules[0].name: "brute_force" is already the name of rules.brute_force`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// TestKeyCapEvicts fills a rule past max_keys: the map stays bounded and
// the evictions are counted.
func TestKeyCapEvicts(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxKeys = 1000
	reg := prometheus.NewRegistry()
	e, err := New(cfg, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	var g detecttest.Traffic
	for i := range 5000 {
		g.Flow(detecttest.T0+int64(i%60), fmt.Sprintf("91.%d.%d.%d", i>>16, i>>8&255, i&255), 41000, "10.0.1.10", 23, 6, 1, 40, "REJECT")
	}
	e.Process(g.Recs, func(Alert) {})
	for _, r := range e.rules {
		if len(r.states) > cfg.MaxKeys {
			t.Errorf("%s tracks %d keys, cap %d", r.Name, len(r.states), cfg.MaxKeys)
		}
	}
	if n := testutil.ToFloat64(e.rules[0].evicted); n < 4000 {
		t.Errorf("evicted = %v, want about 4000", n)
	}
}

func TestDistinctSketchError(t *testing.T) {
	for _, n := range []int{100, 1000, 20000, 300000} {
		var d distinct
		var got uint64
		for i := range n {
			got = d.add(mix64(uint64(i)*0x9e3779b97f4a7c15+1), 128)
		}
		if rel := float64(int64(got)-int64(n)) / float64(n); rel > 0.1 || rel < -0.1 {
			t.Errorf("n=%d: estimate %d (%.1f%%)", n, got, rel*100)
		}
		if n <= 128 && got != uint64(n) {
			t.Errorf("n=%d: exact count %d", n, got)
		}
	}
}

// watchedList loads a list of one address and watches it; reloaded gets
// each reload's result.
func watchedList(t *testing.T) (in *Intel, path string, reloaded chan bool) {
	path = filepath.Join(t.TempDir(), "list.txt")
	if err := os.WriteFile(path, []byte("45.9.148.3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	in, _, err := LoadIntel([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	reloaded = make(chan bool, 4)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go in.Watch(ctx, 20*time.Millisecond, slog.New(slog.NewTextHandler(io.Discard, nil)), func(ok bool) { reloaded <- ok })
	return in, path, reloaded
}

func TestIntelReloadsOnChange(t *testing.T) {
	in, path, reloaded := watchedList(t)
	if err := os.WriteFile(path, []byte("45.9.148.3\n203.0.113.0/24\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(path, time.Now().Add(time.Second), time.Now().Add(time.Second))
	if ok := <-reloaded; !ok {
		t.Fatal("reload failed")
	}
	if _, ok := lookupIn(in.current(), mustAddr("203.0.113.9")); !ok {
		t.Error("the new entry is not matched")
	}
	os.Remove(path)
	if ok := <-reloaded; ok {
		t.Error("a vanished list reloaded")
	}
	if _, ok := lookupIn(in.current(), mustAddr("45.9.148.3")); !ok {
		t.Error("a failed reload lost the loaded lists")
	}
}

// TestExactUnder: which built-in rules a keyed topic keeps exact, for the
// keys a deployment would choose (the table of the README).
func TestExactUnder(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Rules.ThreatIntel.Files = []string{"intel.txt"}
	cfg.CustomRules = Rules{{Name: "per_port", Key: []string{"destination.port"}}}
	for _, c := range []struct {
		field string
		per   []string
	}{
		{"source.ip", []string{RuleExposedPortProbed, RuleThreatIntel, "per_port"}},
		{"destination.ip", []string{RulePortSweepInbound, RulePortSweepOutbound, RuleRejectBurst, RuleThreatIntel, RuleExfiltrationTotal, "per_port"}},
		{"network.community_id", []string{RulePortScanInbound, RulePortScanOutbound, RulePortSweepInbound, RulePortSweepOutbound,
			RuleBruteForce, RuleRejectBurst, RuleExposedPortProbed, RuleThreatIntel, RuleExfiltrationPeer, RuleExfiltrationTotal, "per_port"}},
	} {
		exact, per := cfg.ExactUnder(c.field)
		if !slices.Equal(per, c.per) || len(exact)+len(per) != 11 {
			t.Errorf("%s: per replica %v, want %v (exact %v)", c.field, per, c.per, exact)
		}
	}
}

// A list replaced by something that is not a list (an HTML error page
// from a failed download) must not wipe the loaded entries.
func TestIntelReloadKeepsListOnGarbage(t *testing.T) {
	in, path, reloaded := watchedList(t)
	page := "<html>\n<head><title>502 Bad Gateway</title></head>\n<body>502 Bad Gateway</body>\n</html>\n"
	if err := os.WriteFile(path, []byte(page), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(path, time.Now().Add(time.Second), time.Now().Add(time.Second))
	if ok := <-reloaded; ok {
		t.Error("a list of nothing but bad lines reloaded")
	}
	if _, ok := lookupIn(in.current(), mustAddr("45.9.148.3")); !ok {
		t.Error("the loaded list was wiped")
	}
	// Emptying a list on purpose still takes effect.
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(path, time.Now().Add(2*time.Second), time.Now().Add(2*time.Second))
	for ok := <-reloaded; !ok; ok = <-reloaded {
	}
	if _, ok := lookupIn(in.current(), mustAddr("45.9.148.3")); ok {
		t.Error("an emptied list still matches")
	}
}

// A user rule may not take a built-in rule's name even when that rule is
// off: the engine gives reject_burst and threat_intel their extras (a deny
// entry for the key's source, a list lookup) by name.
func TestCustomRuleCannotTakeDisabledBuiltinName(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Rules.RejectBurst.Enabled = false
	cfg.CustomRules = Rules{{Name: "reject_burst", Severity: "low", Window: time.Minute,
		Key: []string{"destination.ip"}, Count: "flows", Threshold: 1}}
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), `custom_rules[0].name: "reject_burst" is already the name of rules.reject_burst`) {
		t.Errorf("error = %v, want the name refused", err)
	}
	all := DefaultConfig()
	all.Rules.ThreatIntel.Files = []string{"intel.txt"}
	var names []string
	for _, r := range all.builtins() {
		names = append(names, r.Name)
	}
	if !slices.Equal(names, builtinNames) {
		t.Errorf("builtinNames = %v, want every built-in rule: %v", builtinNames, names)
	}
}
