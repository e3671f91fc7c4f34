package detect

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/flowhose/flowhose/sinks/filter"
)

// Config is the rule engine's configuration: the built-in rules' tuning,
// user rules and the bounds of its state.
type Config struct {
	// MaxKeys caps the keys each rule tracks at once; past it, keys whose
	// window has ended are dropped first, then arbitrary live keys
	// (counted in flowhose_detect_keys_evicted_total).
	MaxKeys int `yaml:"max_keys"`
	// ExactDistinct is how many distinct values a key's counter keeps
	// exactly; past it the counter becomes a HyperLogLog sketch of 1 KiB
	// (about 3% standard error).
	ExactDistinct int `yaml:"exact_distinct"`
	// SampleIDs is how many document ids of the records that led to an
	// alert it carries.
	SampleIDs int `yaml:"sample_ids"`
	// SuppressFor is how long, after an alert, the same rule and key stay
	// quiet; the next alert carries how many were suppressed.
	SuppressFor time.Duration `yaml:"suppress_for"`
	// AllowedLateness is how long past its window's end (by the latest
	// record time) a key's count is kept for records that arrive late:
	// flow logs of one window reach the engine over minutes, from many
	// interfaces. A longer lateness holds each key longer (within
	// max_keys).
	AllowedLateness time.Duration `yaml:"allowed_lateness"`
	// Rules tunes the built-in rules.
	Rules Builtins `yaml:"rules"`
	// CustomRules are user rules beside the built-ins, a YAML list of
	// {name, severity, window, key, count, threshold, when, max_packets,
	// or_rejected, replies} (see stream/detect/README.md).
	CustomRules Rules `yaml:"custom_rules"`
}

// Tuning switches and tunes one built-in rule.
type Tuning struct {
	// Enabled turns the rule on.
	Enabled bool `yaml:"enabled"`
	// Severity is info, low, medium, high or critical.
	Severity string `yaml:"severity"`
	// Window is the counting window.
	Window time.Duration `yaml:"window"`
	// Threshold is the count within a window that raises the alert.
	Threshold uint64 `yaml:"threshold"`
}

// PortTuning is a Tuning with the destination ports the rule watches.
type PortTuning struct {
	Tuning `yaml:",inline"`
	// Ports are the watched destination ports: numbers or ranges low-high.
	Ports []string `yaml:"ports"`
}

// IntelTuning is the threat-intel rule's Tuning with its list files.
type IntelTuning struct {
	Tuning `yaml:",inline"`
	// Files are lists of addresses and CIDR prefixes, one per line or in
	// the first column of a CSV file; # starts a comment. The rule is
	// inactive without files.
	Files []string `yaml:"files"`
	// ReloadInterval is how often the files are checked for changes.
	ReloadInterval time.Duration `yaml:"reload_interval"`
}

// Builtins tunes each built-in rule (thresholds and their sources are in
// stream/detect/README.md).
type Builtins struct {
	// PortScanInbound: one public source, many TCP ports of one target.
	PortScanInbound Tuning `yaml:"port_scan_inbound"`
	// PortScanOutbound: one private (your own) source, many TCP ports of one target.
	PortScanOutbound Tuning `yaml:"port_scan_outbound"`
	// PortSweepInbound: one public source, one port, many targets.
	PortSweepInbound Tuning `yaml:"port_sweep_inbound"`
	// PortSweepOutbound: one private source, one port, many targets.
	PortSweepOutbound Tuning `yaml:"port_sweep_outbound"`
	// BruteForce: many flows from one source to a login port of one target.
	BruteForce PortTuning `yaml:"brute_force"`
	// RejectBurst: many rejected flows from one source; the alert carries
	// a network-ACL deny entry.
	RejectBurst Tuning `yaml:"reject_burst"`
	// ExposedPortProbed: accepted flows from the internet to a port meant
	// to be private.
	ExposedPortProbed PortTuning `yaml:"exposed_port_probed"`
	// ThreatIntel: a flow to or from a listed address.
	ThreatIntel IntelTuning `yaml:"threat_intel"`
	// ExfiltrationPeer: bytes from one private address to one internet peer.
	ExfiltrationPeer Tuning `yaml:"exfiltration_peer"`
	// ExfiltrationTotal: bytes from one private address to the whole internet.
	ExfiltrationTotal Tuning `yaml:"exfiltration_total"`
}

// Limits of the engine's settings.
const (
	maxMaxKeys        = 10_000_000
	maxExactDistinct  = 4096
	maxSampleIDs      = 100
	minReloadInterval = time.Second
	maxLateness       = 24 * time.Hour
)

// DefaultConfig turns every built-in rule on with the thresholds
// documented in stream/detect/README.md.
func DefaultConfig() Config {
	on := func(sev string, window time.Duration, threshold uint64) Tuning {
		return Tuning{Enabled: true, Severity: sev, Window: window, Threshold: threshold}
	}
	return Config{
		MaxKeys:       100_000,
		ExactDistinct: 128,
		SampleIDs:     5,
		SuppressFor:   time.Hour,
		// AWS delivers flow logs within about 10 minutes of their
		// aggregation interval.
		AllowedLateness: 10 * time.Minute,
		Rules: Builtins{
			PortScanInbound:   on("low", 5*time.Minute, 15),
			PortScanOutbound:  on("high", 5*time.Minute, 15),
			PortSweepInbound:  on("low", 5*time.Minute, 25),
			PortSweepOutbound: on("high", 5*time.Minute, 25),
			BruteForce: PortTuning{Tuning: on("medium", 5*time.Minute, 30),
				Ports: []string{"22", "3389", "5985", "5986"}},
			RejectBurst: on("medium", 5*time.Minute, 100),
			ExposedPortProbed: PortTuning{Tuning: on("high", time.Hour, 1),
				Ports: []string{"22", "3389", "9200", "9300", "5432", "3306", "1433", "6379", "11211", "27017"}},
			ThreatIntel:       IntelTuning{Tuning: on("high", time.Hour, 1), ReloadInterval: time.Minute},
			ExfiltrationPeer:  on("medium", time.Hour, 1<<30),
			ExfiltrationTotal: on("medium", time.Hour, 10<<30),
		},
	}
}

// Validate reports every bad setting by its key relative to the section.
func (c Config) Validate() error {
	var errs []error
	if c.MaxKeys < 1 || c.MaxKeys > maxMaxKeys {
		errs = append(errs, fmt.Errorf("max_keys: must be between 1 and %d, got %d", maxMaxKeys, c.MaxKeys))
	}
	if c.ExactDistinct < 1 || c.ExactDistinct > maxExactDistinct {
		errs = append(errs, fmt.Errorf("exact_distinct: must be between 1 and %d, got %d", maxExactDistinct, c.ExactDistinct))
	}
	if c.SampleIDs < 0 || c.SampleIDs > maxSampleIDs {
		errs = append(errs, fmt.Errorf("sample_ids: must be between 0 and %d, got %d", maxSampleIDs, c.SampleIDs))
	}
	if c.SuppressFor < 0 {
		errs = append(errs, fmt.Errorf("suppress_for: must not be negative, got %s", c.SuppressFor))
	}
	if c.AllowedLateness < 0 || c.AllowedLateness > maxLateness || c.AllowedLateness%time.Second != 0 {
		errs = append(errs, fmt.Errorf("allowed_lateness: must be whole seconds between 0s and %s, got %s", maxLateness, c.AllowedLateness))
	}
	if t := c.Rules.ThreatIntel; t.Enabled && t.ReloadInterval < minReloadInterval {
		errs = append(errs, fmt.Errorf("rules.threat_intel.reload_interval: must be at least %s, got %s", minReloadInterval, t.ReloadInterval))
	}
	// Every built-in name is taken, on or off: the engine gives
	// reject_burst and threat_intel their extras by name.
	names := map[string]string{}
	for _, n := range builtinNames {
		names[n] = "rules." + n
	}
	for _, r := range c.builtins() {
		for _, err := range r.validate() {
			errs = append(errs, fmt.Errorf("rules.%s.%w", r.Name, err))
		}
	}
	for i, r := range c.CustomRules {
		key := fmt.Sprintf("custom_rules[%d]", i)
		for _, err := range r.validate() {
			errs = append(errs, fmt.Errorf("%s.%w", key, err))
		}
		if prev, dup := names[r.Name]; dup && r.Name != "" {
			errs = append(errs, fmt.Errorf("%s.name: %q is already the name of %s", key, r.Name, prev))
		}
		names[r.Name] = key
	}
	return errors.Join(errs...)
}

// Built-in rule names.
const (
	RulePortScanInbound   = "port_scan_inbound"
	RulePortScanOutbound  = "port_scan_outbound"
	RulePortSweepInbound  = "port_sweep_inbound"
	RulePortSweepOutbound = "port_sweep_outbound"
	RuleBruteForce        = "brute_force"
	RuleRejectBurst       = "reject_burst"
	RuleExposedPortProbed = "exposed_port_probed"
	RuleThreatIntel       = "threat_intel"
	RuleExfiltrationPeer  = "exfiltration_peer"
	RuleExfiltrationTotal = "exfiltration_total"
)

var builtinNames = []string{RulePortScanInbound, RulePortScanOutbound, RulePortSweepInbound, RulePortSweepOutbound,
	RuleBruteForce, RuleRejectBurst, RuleExposedPortProbed, RuleThreatIntel, RuleExfiltrationPeer, RuleExfiltrationTotal}

// builtins expands the enabled built-in rules into rules as data.
func (c Config) builtins() []Rule {
	b := c.Rules
	cond := func(kv ...string) filter.Condition {
		out := filter.Condition{}
		for i := 0; i+1 < len(kv); i += 2 {
			out[kv[i]] = filter.Values(strings.Split(kv[i+1], ","))
		}
		return out
	}
	// need repeats what the conditions require as facts, so that most
	// records are turned away by one mask (see BenchmarkEngineBenign).
	probe := func(name string, t Tuning, srcClass string, key []string, count string) Rule {
		need := factTCP | factProbe | factNotReply | map[string]facts{"public": factSrcPublic, "private": factSrcPrivate}[srcClass]
		return Rule{Name: name, Severity: t.Severity, Window: t.Window, Threshold: t.Threshold,
			Key: key, Count: count, MaxPackets: 2, OrRejected: true, need: need,
			When: []filter.Condition{cond("protocol", "tcp", "source.class", srcClass)}}
	}
	tuned := func(name string, t Tuning, need facts, key []string, count string, when ...filter.Condition) Rule {
		return Rule{Name: name, Severity: t.Severity, Window: t.Window, Threshold: t.Threshold,
			Key: key, Count: count, When: when, need: need | factNotReply}
	}
	pair := []string{"source.ip", "destination.ip"}
	sweep := []string{"source.ip", "destination.port", "protocol"}
	toInternet := cond("source.class", "private", "cost", "internet")
	all := []struct {
		on bool
		r  Rule
	}{
		{b.PortScanInbound.Enabled, probe(RulePortScanInbound, b.PortScanInbound, "public", pair, "distinct destination.port")},
		{b.PortScanOutbound.Enabled, probe(RulePortScanOutbound, b.PortScanOutbound, "private", pair, "distinct destination.port")},
		{b.PortSweepInbound.Enabled, probe(RulePortSweepInbound, b.PortSweepInbound, "public", sweep, "distinct destination.ip")},
		{b.PortSweepOutbound.Enabled, probe(RulePortSweepOutbound, b.PortSweepOutbound, "private", sweep, "distinct destination.ip")},
		{b.BruteForce.Enabled, tuned(RuleBruteForce, b.BruteForce.Tuning, factTCP, []string{"source.ip", "destination.ip", "destination.port"}, "flows",
			filter.Condition{"protocol": {"tcp"}, "destination.port": b.BruteForce.Ports})},
		{b.RejectBurst.Enabled, tuned(RuleRejectBurst, b.RejectBurst, factReject, []string{"source.ip"}, "flows", cond("action", "REJECT"))},
		{b.ExposedPortProbed.Enabled, tuned(RuleExposedPortProbed, b.ExposedPortProbed.Tuning, factAccept|factSrcPublic|factDstPrivate, []string{"destination.ip", "destination.port"}, "flows",
			filter.Condition{"action": {"ACCEPT"}, "source.class": {"public"}, "destination.class": {"private"},
				"destination.port": b.ExposedPortProbed.Ports})},
		{b.ThreatIntel.Enabled && len(b.ThreatIntel.Files) > 0, Rule{Name: RuleThreatIntel, Severity: b.ThreatIntel.Severity,
			Window: b.ThreatIntel.Window, Threshold: b.ThreatIntel.Threshold, Key: pair, Count: "flows", Replies: true}},
		{b.ExfiltrationPeer.Enabled, tuned(RuleExfiltrationPeer, b.ExfiltrationPeer, factSrcPrivate|factToInternet, pair, "bytes", toInternet)},
		{b.ExfiltrationTotal.Enabled, tuned(RuleExfiltrationTotal, b.ExfiltrationTotal, factSrcPrivate|factToInternet, []string{"source.ip"}, "bytes", toInternet)},
	}
	var out []Rule
	for _, x := range all {
		if x.on {
			out = append(out, x.r)
		}
	}
	return out
}

// ExactUnder splits the enabled rules by whether they stay exact when the
// input is partitioned by field among replicas (a Kafka topic keyed by it,
// read by one consumer group). A rule is exact when field is one of its
// key fields: every record of one of its keys then carries the same value
// of field and reaches the same replica. Any other rule counts, in each
// replica, only the share of a key's records that replica reads; with a
// threshold of 1 it still fires, possibly in several replicas, with the
// same alert id.
func (c Config) ExactUnder(field string) (exact, perReplica []string) {
	for _, r := range append(c.builtins(), c.CustomRules...) {
		// threat_intel orients its key towards the listed address, so one
		// key's records carry either address as their source.
		if slices.Contains(r.Key, field) && r.Name != RuleThreatIntel {
			exact = append(exact, r.Name)
		} else {
			perReplica = append(perReplica, r.Name)
		}
	}
	return exact, perReplica
}
