// Package filter compiles a sink's routing filter (sinks.<name>.filter)
// into a predicate over records: conditions on decoded and enriched fields
// that keep a record, and deterministic 1-in-N samples of records matching
// a second condition. Everything else is dropped for that sink only.
package filter

import (
	"errors"
	"fmt"
	"io"
	"math/bits"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/flowhose/flowhose/stream"
)

// MaxEvery bounds a sample's 1-in-N rate.
const MaxEvery = 1_000_000

// Config is a sink's routing filter. The zero value keeps every record.
type Config struct {
	// Keep keeps a record matching any of these conditions.
	Keep []Condition `yaml:"keep,omitempty"`
	// Sample keeps 1 in Every of the records that Keep did not keep and
	// that match When.
	Sample []Sample `yaml:"sample,omitempty"`
}

// Condition maps field names (see Fields) to the values they may take: a
// record matches when every named field has one of its values.
type Condition map[string]Values

// Values are the accepted values of one field: one scalar or a list.
type Values []string

// Sample keeps a deterministic 1 in Every of the records matching When
// (every record when When is empty).
type Sample struct {
	When  Condition `yaml:"when,omitempty"`
	Every int       `yaml:"every"`
}

// UnmarshalYAML accepts a scalar or a list of scalars.
func (v *Values) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*v = Values{n.Value}
		return nil
	case yaml.SequenceNode:
		out := make(Values, 0, len(n.Content))
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: a field's values must be scalars", c.Line)
			}
			out = append(out, c.Value)
		}
		*v = out
		return nil
	}
	return fmt.Errorf("line %d: a field takes one value or a list of values", n.Line)
}

// UnmarshalText reads a filter written as YAML, as in
// the environment variable of sinks.<name>.filter; unknown keys
// are errors, as in the configuration file.
func (c *Config) UnmarshalText(text []byte) error {
	var out Config
	dec := yaml.NewDecoder(strings.NewReader(string(text)))
	dec.KnownFields(true)
	if err := dec.Decode(&out); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("not a filter in YAML: %w", err)
	}
	*c = out
	return nil
}

// String renders the filter as YAML, "{}" when empty.
func (c Config) String() string {
	if c.Empty() {
		return "{}"
	}
	out, err := yaml.Marshal(c)
	if err != nil {
		return fmt.Sprintf("unrenderable filter: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// Empty reports whether the filter keeps every record.
func (c Config) Empty() bool { return len(c.Keep) == 0 && len(c.Sample) == 0 }

// Validate reports every unknown field and bad value by its key path
// relative to the filter (keep[0].action, sample[1].every).
func (c Config) Validate() error {
	_, err := Compile(c)
	return err
}

// Filter is a compiled Config. Its zero value (or nil) keeps everything.
type Filter struct {
	keep   []condition
	sample []sampler
}

type condition []match

type sampler struct {
	when  condition
	every uint64
}

// match tests one field of a record.
type match func(r *stream.Record) bool

// Compile checks c and builds its predicate once, at start-up.
func Compile(c Config) (*Filter, error) {
	var errs []error
	f := &Filter{}
	for i, cond := range c.Keep {
		key := fmt.Sprintf("keep[%d]", i)
		if len(cond) == 0 {
			errs = append(errs, fmt.Errorf("%s: an empty condition keeps every record; remove the filter instead", key))
			continue
		}
		m, err := compileCondition(key, cond)
		errs = append(errs, err...)
		f.keep = append(f.keep, m)
	}
	for i, s := range c.Sample {
		key := fmt.Sprintf("sample[%d]", i)
		if s.Every < 1 || s.Every > MaxEvery {
			errs = append(errs, fmt.Errorf("%s.every: must be between 1 and %d, got %d", key, MaxEvery, s.Every))
		}
		m, err := compileCondition(key+".when", s.When)
		errs = append(errs, err...)
		f.sample = append(f.sample, sampler{when: m, every: uint64(max(s.Every, 1))})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return f, nil
}

func compileCondition(key string, c Condition) (condition, []error) {
	var errs []error
	var out condition
	// Sorted, so errors come in a stable order.
	names := make([]string, 0, len(c))
	for name := range c {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		k := key + "." + name
		vals := c[name]
		if len(vals) == 0 {
			errs = append(errs, fmt.Errorf("%s: needs at least one value", k))
			continue
		}
		if slices.Contains(vals, "") {
			// An unknown value is empty too: matching it would keep the
			// records that lack the field, which nobody writes on purpose.
			errs = append(errs, fmt.Errorf("%s: values must not be empty", k))
			continue
		}
		m, err := compileField(name, vals)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", k, err))
			continue
		}
		out = append(out, m)
	}
	return out, errs
}

// Keep reports whether the sink should receive r. It does not allocate.
func (f *Filter) Keep(r *stream.Record) bool {
	if f == nil || len(f.keep) == 0 && len(f.sample) == 0 {
		return true
	}
	for _, c := range f.keep {
		if c.matches(r) {
			return true
		}
	}
	for _, s := range f.sample {
		if s.when.matches(r) {
			return s.every == 1 || lineHash(r.Raw)%s.every == 0
		}
	}
	return false
}

func (c condition) matches(r *stream.Record) bool {
	for _, m := range c {
		if !m(r) {
			return false
		}
	}
	return true
}

// lineHash mixes the raw line eight bytes at a time (about five times
// faster than FNV-1a byte by byte on a flow-log line) and ends with
// MurmurHash3's avalanche, so that the remainder by a sample rate is
// evenly spread. It depends on the line alone: a redelivered record gets
// the same decision, in every process and on every platform.
func lineHash(s string) uint64 {
	const m = 0x9e3779b97f4a7c15
	h := uint64(len(s)) * m
	for ; len(s) >= 8; s = s[8:] {
		v := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
			uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
		h = bits.RotateLeft64(h^(v*m), 29) * m
	}
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * m
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// Field names a filter understands, in documentation order.
var Fields = []string{
	"action", "protocol",
	"source.ip", "destination.ip", "source.port", "destination.port",
	"source.class", "destination.class", "source.service", "destination.service",
	"account", "interface", "vpc", "subnet", "region",
	"direction", "perimeter", "cost", "tags.<key>",
}

func compileField(name string, vals Values) (match, error) {
	switch name {
	case "action":
		if err := oneOf(vals, "ACCEPT", "REJECT"); err != nil {
			return nil, err
		}
		return present(stream.FieldAction, func(r *stream.Record) string { return r.Action }, vals), nil
	case "protocol":
		return compileProtocol(vals)
	case "source.ip":
		return compileIP(vals, func(r *stream.Record) netip.Addr { return r.SrcAddr })
	case "destination.ip":
		return compileIP(vals, func(r *stream.Record) netip.Addr { return r.DstAddr })
	case "source.port":
		return compilePorts(stream.FieldSrcPort, vals, func(r *stream.Record) uint16 { return r.SrcPort })
	case "destination.port":
		return compilePorts(stream.FieldDstPort, vals, func(r *stream.Record) uint16 { return r.DstPort })
	case "source.class":
		return compileClass(vals, func(r *stream.Record) stream.AddrClass { return r.Enrichment.Src.Class })
	case "destination.class":
		return compileClass(vals, func(r *stream.Record) stream.AddrClass { return r.Enrichment.Dst.Class })
	case "source.service":
		return anyOf(func(r *stream.Record) string { return r.Enrichment.Src.Service }, vals), nil
	case "destination.service":
		return anyOf(func(r *stream.Record) string { return r.Enrichment.Dst.Service }, vals), nil
	case "account":
		return orInterface(stream.FieldAccountID, func(r *stream.Record) string { return r.AccountID },
			func(i *stream.Interface) string { return i.AccountID }, vals), nil
	case "interface":
		return present(stream.FieldInterfaceID, func(r *stream.Record) string { return r.InterfaceID }, vals), nil
	case "vpc":
		return orInterface(stream.FieldVPCID, func(r *stream.Record) string { return r.VPCID },
			func(i *stream.Interface) string { return i.VPCID }, vals), nil
	case "subnet":
		return orInterface(stream.FieldSubnetID, func(r *stream.Record) string { return r.SubnetID },
			func(i *stream.Interface) string { return i.SubnetID }, vals), nil
	case "region":
		return orInterface(stream.FieldRegion, func(r *stream.Record) string { return r.Region },
			func(i *stream.Interface) string { return i.Region }, vals), nil
	case "direction":
		if err := oneOf(vals, "ingress", "egress"); err != nil {
			return nil, err
		}
		return anyOf(func(r *stream.Record) string { return r.Enrichment.Direction }, vals), nil
	case "perimeter":
		if err := oneOf(vals, "inbound", "outbound", "internal", "external"); err != nil {
			return nil, err
		}
		return anyOf(func(r *stream.Record) string { return r.Enrichment.Perimeter }, vals), nil
	case "cost":
		if err := oneOf(vals, string(stream.CostSameAZ), string(stream.CostCrossAZ), string(stream.CostCrossRegion),
			string(stream.CostInternet), string(stream.CostAWSService), string(stream.CostUnknown)); err != nil {
			return nil, err
		}
		return anyOf(func(r *stream.Record) string { return string(r.Enrichment.Cost) }, vals), nil
	}
	if key, ok := strings.CutPrefix(name, "tags."); ok && key != "" {
		return compileTag(key, vals), nil
	}
	return nil, fmt.Errorf("unknown field; known: %s", strings.Join(Fields, ", "))
}

func oneOf(vals Values, allowed ...string) error {
	for _, v := range vals {
		if !slices.Contains(allowed, v) {
			return fmt.Errorf("must be one of %s, got %q", strings.Join(allowed, ", "), v)
		}
	}
	return nil
}

// anyOf matches when get's value is one of vals; an empty value (not
// known) matches nothing.
func anyOf(get func(*stream.Record) string, vals Values) match {
	return func(r *stream.Record) bool {
		v := get(r)
		return v != "" && slices.Contains(vals, v)
	}
}

// present matches a record field that the record carries.
func present(f stream.Field, get func(*stream.Record) string, vals Values) match {
	return func(r *stream.Record) bool { return r.Has(f) && slices.Contains(vals, get(r)) }
}

// orInterface matches a record field, or when the record lacks it (older
// formats), the same property of the logging interface in the inventory.
func orInterface(f stream.Field, get func(*stream.Record) string, fromENI func(*stream.Interface) string, vals Values) match {
	return func(r *stream.Record) bool {
		if r.Has(f) {
			return slices.Contains(vals, get(r))
		}
		if i := r.Enrichment.Interface; i != nil {
			return slices.Contains(vals, fromENI(i))
		}
		return false
	}
}

var protocolNames = map[string]uint8{"icmp": 1, "tcp": 6, "udp": 17, "icmpv6": 58}

func compileProtocol(vals Values) (match, error) {
	var set [4]uint64 // bit per protocol number
	for _, v := range vals {
		n, ok := protocolNames[strings.ToLower(v)]
		if !ok {
			u, err := strconv.ParseUint(v, 10, 8)
			if err != nil {
				return nil, fmt.Errorf("must be a protocol number (0 to 255) or icmp, tcp, udp, icmpv6, got %q", v)
			}
			n = uint8(u)
		}
		set[n/64] |= 1 << (n % 64)
	}
	return func(r *stream.Record) bool {
		return r.Has(stream.FieldProtocol) && set[r.Protocol/64]&(1<<(r.Protocol%64)) != 0
	}, nil
}

type portRange struct{ lo, hi uint16 }

func compilePorts(f stream.Field, vals Values, get func(*stream.Record) uint16) (match, error) {
	ranges := make([]portRange, 0, len(vals))
	for _, v := range vals {
		lo, hi, isRange := strings.Cut(v, "-")
		if !isRange {
			hi = lo
		}
		a, errA := strconv.ParseUint(strings.TrimSpace(lo), 10, 16)
		b, errB := strconv.ParseUint(strings.TrimSpace(hi), 10, 16)
		if errA != nil || errB != nil || a > b {
			return nil, fmt.Errorf("must be a port (0 to 65535) or a range like 1024-65535, got %q", v)
		}
		ranges = append(ranges, portRange{uint16(a), uint16(b)})
	}
	return func(r *stream.Record) bool {
		if !r.Has(f) {
			return false
		}
		p := get(r)
		for _, pr := range ranges {
			if p >= pr.lo && p <= pr.hi {
				return true
			}
		}
		return false
	}, nil
}

func compileIP(vals Values, get func(*stream.Record) netip.Addr) (match, error) {
	prefixes := make([]netip.Prefix, 0, len(vals))
	for _, v := range vals {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			a, aerr := netip.ParseAddr(v)
			if aerr != nil {
				return nil, fmt.Errorf("must be an address or a CIDR prefix like 10.0.0.0/8, got %q", v)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		prefixes = append(prefixes, p.Masked())
	}
	return func(r *stream.Record) bool {
		a := get(r).Unmap()
		if !a.IsValid() {
			return false
		}
		for _, p := range prefixes {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}, nil
}

func compileClass(vals Values, get func(*stream.Record) stream.AddrClass) (match, error) {
	var set uint64
	var names []string
	for c := stream.AddrPublic; c.String() != ""; c++ {
		names = append(names, c.String())
	}
	for _, v := range vals {
		i := slices.Index(names, v)
		if i < 0 {
			return nil, fmt.Errorf("must be one of %s, got %q", strings.Join(names, ", "), v)
		}
		set |= 1 << (i + 1)
	}
	return func(r *stream.Record) bool {
		c := get(r)
		return c < 64 && set&(1<<c) != 0
	}, nil
}

// compileTag matches a tag of the logging interface or, failing that, of
// its instance (both sorted by key).
func compileTag(key string, vals Values) match {
	lookup := func(tags []stream.Tag) (string, bool) {
		i, ok := slices.BinarySearchFunc(tags, key, func(t stream.Tag, k string) int { return strings.Compare(t.Key, k) })
		if !ok {
			return "", false
		}
		return tags[i].Value, true
	}
	return func(r *stream.Record) bool {
		i := r.Enrichment.Interface
		if i == nil {
			return false
		}
		v, ok := lookup(i.Tags)
		if !ok && i.Instance != nil {
			v, ok = lookup(i.Instance.Tags)
		}
		return ok && slices.Contains(vals, v)
	}
}
