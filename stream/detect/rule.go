package detect

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/flowhose/flowhose/sinks/filter"
	"github.com/flowhose/flowhose/stream"
)

// Rule is one detection as data: records matching When (and, unless
// Replies, not looking like a reply) are counted per Key in tumbling
// windows of Window; when the window's Count reaches Threshold, an alert
// is raised once for that key and window.
type Rule struct {
	// Name identifies the rule in alerts and metrics.
	Name string `yaml:"name"`
	// Severity is info, low, medium, high or critical.
	Severity string `yaml:"severity"`
	// Window is the length of the tumbling, epoch-aligned windows.
	Window time.Duration `yaml:"window"`
	// Key lists the fields a counter is kept for: source.ip,
	// destination.ip, destination.port, protocol.
	Key []string `yaml:"key"`
	// Count is what is counted per key: flows, bytes, packets, or
	// "distinct <field>" with field source.ip, destination.ip,
	// source.port or destination.port.
	Count string `yaml:"count"`
	// Threshold is the count that raises the alert.
	Threshold uint64 `yaml:"threshold"`
	// When selects the counted records: any of the conditions, in the
	// routing filter's language (sinks/README.md#routing-filter); empty
	// counts every record.
	When []filter.Condition `yaml:"when,omitempty"`
	// MaxPackets, when not 0, counts only flows of at most this many
	// packets (probes: a SYN answered by a RST or by nothing).
	MaxPackets uint64 `yaml:"max_packets,omitempty"`
	// OrRejected also counts rejected flows of any size when MaxPackets
	// is set.
	OrRejected bool `yaml:"or_rejected,omitempty"`
	// Replies also counts flows that look like answers (source port below
	// an ephemeral destination port), which scans and sweeps must skip.
	Replies bool `yaml:"replies,omitempty"`

	// need is what a built-in rule's conditions imply about a record, as
	// facts checked with one mask before the conditions themselves.
	need facts
}

// facts are cheap properties of a record, computed once for all rules.
type facts uint16

const (
	factTCP facts = 1 << iota
	factReject
	factAccept
	factNotReply
	factProbe // at most two packets, or rejected
	factSrcPublic
	factSrcPrivate
	factDstPrivate
	factToInternet
)

func factsOf(r *stream.Record) facts {
	var f facts
	if r.Has(stream.FieldProtocol) && r.Protocol == 6 {
		f |= factTCP
	}
	if r.Has(stream.FieldAction) {
		switch r.Action {
		case "REJECT":
			f |= factReject | factProbe
		case "ACCEPT":
			f |= factAccept
		}
	}
	if !isReply(r) {
		f |= factNotReply
	}
	if r.Packets <= 2 {
		f |= factProbe
	}
	switch r.Enrichment.Src.Class {
	case stream.AddrPublic:
		f |= factSrcPublic
	case stream.AddrPrivate:
		f |= factSrcPrivate
	}
	if r.Enrichment.Dst.Class == stream.AddrPrivate {
		f |= factDstPrivate
	}
	if r.Enrichment.Cost == stream.CostInternet {
		f |= factToInternet
	}
	return f
}

// isReply reports a flow from a lower port to an ephemeral one (Linux's
// range starts at 32768): taken for the answer of a connection the
// destination opened.
func isReply(r *stream.Record) bool {
	return r.Has(stream.FieldSrcPort) && r.Has(stream.FieldDstPort) && r.SrcPort < r.DstPort && r.DstPort >= 32768
}

// Rules is a list of user rules; in the environment it is one YAML value.
type Rules []Rule

// UnmarshalText reads rules written as YAML (a list of rules), strictly.
func (rs *Rules) UnmarshalText(text []byte) error {
	var out []Rule
	dec := yaml.NewDecoder(strings.NewReader(string(text)))
	dec.KnownFields(true)
	if err := dec.Decode(&out); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("not a list of rules in YAML: %w", err)
	}
	*rs = out
	return nil
}

// Severities in increasing order.
var Severities = []string{"info", "low", "medium", "high", "critical"}

var keyFields = []string{"source.ip", "destination.ip", "destination.port", "protocol"}

var distinctFields = []string{"source.ip", "destination.ip", "source.port", "destination.port"}

// Limits of a rule's window.
const (
	minWindow = time.Second
	maxWindow = 24 * time.Hour
)

// validate reports every bad setting of r, keyed relative to the rule.
func (r Rule) validate() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf(key+": "+format, args...))
	}
	if r.Name == "" || strings.TrimLeft(r.Name, "abcdefghijklmnopqrstuvwxyz0123456789_") != "" {
		bad("name", "must be lower-case letters, digits and _, got %q", r.Name)
	}
	if !slices.Contains(Severities, r.Severity) {
		bad("severity", "must be one of %s, got %q", strings.Join(Severities, ", "), r.Severity)
	}
	if r.Window < minWindow || r.Window > maxWindow || r.Window%time.Second != 0 {
		bad("window", "must be whole seconds between %s and %s, got %s", minWindow, maxWindow, r.Window)
	}
	if len(r.Key) == 0 {
		bad("key", "needs at least one of %s", strings.Join(keyFields, ", "))
	}
	for i, k := range r.Key {
		if !slices.Contains(keyFields, k) || slices.Index(r.Key, k) != i {
			bad(fmt.Sprintf("key[%d]", i), "must be one of %s, each once, got %q", strings.Join(keyFields, ", "), k)
		}
	}
	if _, _, err := parseCount(r.Count); err != nil {
		bad("count", "%v", err)
	}
	if r.Threshold < 1 {
		bad("threshold", "must be at least 1")
	}
	if len(r.When) > 0 {
		if _, err := filter.Compile(filter.Config{Keep: r.When}); err != nil {
			for line := range strings.Lines(err.Error()) {
				errs = append(errs, errors.New("when"+strings.TrimPrefix(strings.TrimRight(line, "\n"), "keep")))
			}
		}
	}
	if r.OrRejected && r.MaxPackets == 0 {
		bad("or_rejected", "needs max_packets")
	}
	return errs
}

// measure is what a rule counts.
type measure uint8

const (
	countFlows measure = iota
	countBytes
	countPackets
	countDistinct
)

func parseCount(s string) (measure, string, error) {
	switch s {
	case "flows":
		return countFlows, "", nil
	case "bytes":
		return countBytes, "", nil
	case "packets":
		return countPackets, "", nil
	}
	if f, ok := strings.CutPrefix(s, "distinct "); ok && slices.Contains(distinctFields, f) {
		return countDistinct, f, nil
	}
	return 0, "", fmt.Errorf("must be flows, bytes, packets or \"distinct F\" with F one of %s, got %q",
		strings.Join(distinctFields, ", "), s)
}
