// Package detect is flowhose's rule engine: detections as data (keyed,
// windowed counters with filters on enriched fields), the built-in rules
// with their documented thresholds, and the alerts they raise.
package detect

import (
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/gaissmai/bart"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/flowhose/flowhose/sinks/filter"
	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/ecs"
)

// Engine evaluates every rule on every record it is given. It is not safe
// for concurrent use: one goroutine feeds it (see sinks/detections).
type Engine struct {
	cfg   Config
	rules []*rule
	intel *Intel
	// lists is intel's table for the batch being evaluated.
	lists *bart.Table[listed]
	// now is the latest record time seen (Unix seconds) that is not in
	// the future: windows end and keys expire by the records' clock, so a
	// replay detects what the live stream did, and one record stamped
	// ahead of the wall clock (a skewed clock, a garbage end field) cannot
	// make every key look expired.
	now   int64
	clock func() time.Time

	records prometheus.Counter
}

// rule is a compiled Rule with its per-key state.
type rule struct {
	Rule
	keep     *filter.Filter
	measure  measure
	distinct string
	keyMask  keyMask
	window   int64
	listed   bool
	states   map[key]*state
	sweepAt  int64

	alerts, suppressed, evicted prometheus.Counter
	keys                        prometheus.Gauge
}

type keyMask uint8

const (
	keySrc keyMask = 1 << iota
	keyDst
	keyPort
	keyProto
)

// key is a rule's counter key; fields outside the rule's mask are zero.
// Addresses are kept as 16-byte arrays, not netip.Addr: the key then has
// no pointer for the collector to scan and compares as plain memory.
type key struct {
	src, dst [16]byte
	port     uint16
	proto    uint8
}

// state is one key's counter in its current window, and its suppression.
type state struct {
	window      int64 // start, Unix seconds
	count       uint64
	set         distinct
	first, last int64
	fired       bool // raised (or suppressed) in this window
	samples     []string
	next        int // ring position in samples
	protos      protoSet
	portLo      uint16
	portHi      uint16
	alerted     bool
	lastAlert   int64 // window start of the last raised alert
	suppressed  uint64
}

// New compiles the enabled built-in rules and the user rules. intel may be
// nil when no list is configured.
func New(cfg Config, intel *Intel, reg prometheus.Registerer) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	f := promauto.With(reg)
	alerts := f.NewCounterVec(prometheus.CounterOpts{Name: "flowhose_detect_alerts_total",
		Help: "Alerts raised, by rule."}, []string{"rule"})
	suppressed := f.NewCounterVec(prometheus.CounterOpts{Name: "flowhose_detect_suppressed_total",
		Help: "Alerts withheld because the same rule and key alerted within suppress_for."}, []string{"rule"})
	evicted := f.NewCounterVec(prometheus.CounterOpts{Name: "flowhose_detect_keys_evicted_total",
		Help: "Live keys dropped because a rule reached max_keys (detections may be missed)."}, []string{"rule"})
	keys := f.NewGaugeVec(prometheus.GaugeOpts{Name: "flowhose_detect_keys",
		Help: "Keys a rule tracks."}, []string{"rule"})
	e := &Engine{cfg: cfg, intel: intel, clock: time.Now,
		records: f.NewCounter(prometheus.CounterOpts{Name: "flowhose_detect_records_total",
			Help: "Records the rule engine evaluated."})}
	for _, r := range append(cfg.builtins(), cfg.CustomRules...) {
		c := &rule{Rule: r, window: int64(r.Window / time.Second), listed: r.Name == RuleThreatIntel,
			states: map[key]*state{},
			alerts: alerts.WithLabelValues(r.Name), suppressed: suppressed.WithLabelValues(r.Name),
			evicted: evicted.WithLabelValues(r.Name), keys: keys.WithLabelValues(r.Name)}
		if c.listed && intel == nil {
			return nil, fmt.Errorf("rule %s: no threat-intel lists loaded", r.Name)
		}
		c.measure, c.distinct, _ = parseCount(r.Count)
		for _, k := range r.Key {
			c.keyMask |= map[string]keyMask{"source.ip": keySrc, "destination.ip": keyDst,
				"destination.port": keyPort, "protocol": keyProto}[k]
		}
		if len(r.When) > 0 {
			keep, err := filter.Compile(filter.Config{Keep: r.When})
			if err != nil {
				return nil, fmt.Errorf("rule %s: %w", r.Name, err)
			}
			c.keep = keep
		}
		e.rules = append(e.rules, c)
	}
	return e, nil
}

// Rules lists the names of the active rules.
func (e *Engine) Rules() []string {
	out := make([]string, len(e.rules))
	for i, r := range e.rules {
		out[i] = r.Name
	}
	return out
}

// Process evaluates recs and calls emit for every alert raised. It only
// reads the records.
func (e *Engine) Process(recs []stream.Record, emit func(Alert)) {
	wall := e.clock().Unix()
	e.lists = e.intel.current()
	for i := range recs {
		r := &recs[i]
		if !r.SrcAddr.IsValid() || !r.DstAddr.IsValid() {
			continue // NODATA, SKIPDATA, or a format without addresses
		}
		t := r.End
		if !r.Has(stream.FieldEnd) {
			t = r.Start
			if !r.Has(stream.FieldStart) {
				t = wall
			}
		}
		if t <= wall {
			e.now = max(e.now, t)
		}
		f := factsOf(r)
		for _, c := range e.rules {
			if c.matches(r, f, e) {
				c.observe(r, t, e, emit)
			}
		}
	}
	e.records.Add(float64(len(recs)))
}

func (c *rule) matches(r *stream.Record, f facts, e *Engine) bool {
	if f&c.need != c.need {
		return false
	}
	if !c.Replies && f&factNotReply == 0 {
		return false
	}
	if c.MaxPackets > 0 && r.Packets > c.MaxPackets && (!c.OrRejected || f&factReject == 0) {
		return false
	}
	if c.keep != nil && !c.keep.Keep(r) {
		return false
	}
	if c.listed {
		_, src := lookupIn(e.lists, r.SrcAddr)
		_, dst := lookupIn(e.lists, r.DstAddr)
		return src || dst
	}
	return true
}

func (c *rule) keyOf(r *stream.Record) key {
	var k key
	if c.keyMask&keySrc != 0 {
		k.src = r.SrcAddr.As16()
	}
	if c.keyMask&keyDst != 0 {
		k.dst = r.DstAddr.As16()
	}
	if c.keyMask&keyPort != 0 {
		k.port = r.DstPort
	}
	if c.keyMask&keyProto != 0 {
		k.proto = r.Protocol
	}
	return k
}

func (c *rule) observe(r *stream.Record, t int64, e *Engine, emit func(Alert)) {
	if e.now >= c.sweepAt {
		c.sweep(e, false)
		c.sweepAt = e.now + c.window
	}
	k := c.keyOf(r)
	if c.listed {
		// A connection to a listed address and its answers are one key
		// (and one alert id, whichever replica sees which direction): the
		// listed address is the destination whichever way the flow went.
		if _, dst := lookupIn(e.lists, r.DstAddr); !dst {
			k.src, k.dst = k.dst, k.src
		}
	}
	w := t - mod(t, c.window)
	st := c.states[k]
	switch {
	case st == nil:
		if len(c.states) >= e.cfg.MaxKeys {
			c.sweep(e, true)
		}
		st = &state{window: w, first: t, last: t}
		c.states[k] = st
		c.keys.Set(float64(len(c.states)))
	case w > st.window:
		st.window, st.count, st.fired, st.first, st.last = w, 0, false, t, t
		st.set.reset()
		st.samples, st.next = st.samples[:0], 0
		st.protos, st.portLo, st.portHi = protoSet{}, 0, 0
	}
	// A late record (of an earlier window) counts in the key's current
	// window: flow logs arrive minutes late, and a scan that straddles two
	// windows is better over- than under-counted.
	st.first, st.last = min(st.first, t), max(st.last, t)
	var v uint64
	switch c.measure {
	case countFlows:
		st.count++
		v = st.count
	case countBytes:
		st.count += r.Bytes
		v = st.count
	case countPackets:
		st.count += r.Packets
		v = st.count
	case countDistinct:
		v = st.set.add(c.distinctHash(r), e.cfg.ExactDistinct)
		st.count = v
	}
	if c.Name == RuleRejectBurst {
		st.protos.add(r.Protocol)
		if st.portLo == 0 && st.portHi == 0 || r.DstPort < st.portLo {
			st.portLo = r.DstPort
		}
		st.portHi = max(st.portHi, r.DstPort)
	}
	if st.fired {
		return
	}
	if e.cfg.SampleIDs > 0 && v*2 >= c.Threshold {
		id := string(ecs.AppendID(nil, r))
		if len(st.samples) < e.cfg.SampleIDs {
			st.samples = append(st.samples, id)
		} else {
			st.samples[st.next] = id
			st.next = (st.next + 1) % len(st.samples)
		}
	}
	if v >= c.Threshold {
		st.fired = true
		c.raise(k, st, r, e, emit)
	}
}

func mod(t, w int64) int64 {
	m := t % w
	if m < 0 {
		m += w
	}
	return m
}

func (c *rule) distinctHash(r *stream.Record) uint64 {
	switch c.distinct {
	case "source.port":
		return mix64(uint64(r.SrcPort))
	case "destination.port":
		return mix64(uint64(r.DstPort))
	case "source.ip":
		return addrHash(r.SrcAddr)
	}
	return addrHash(r.DstAddr)
}

func addrHash(a netip.Addr) uint64 {
	b := a.Unmap().As16()
	var hi, lo uint64
	for i := range 8 {
		hi = hi<<8 | uint64(b[i])
		lo = lo<<8 | uint64(b[8+i])
	}
	return mix64(hi ^ mix64(lo))
}

func (c *rule) raise(k key, st *state, r *stream.Record, e *Engine, emit func(Alert)) {
	if st.alerted && st.window < st.lastAlert+int64(e.cfg.SuppressFor/time.Second) {
		st.suppressed++
		c.suppressed.Inc()
		return
	}
	fields := c.keyFields(k)
	a := Alert{
		ID:          alertID(c.Name, fields, st.window),
		Rule:        c.Name,
		Severity:    c.Severity,
		Key:         fields,
		WindowStart: time.Unix(st.window, 0).UTC(),
		WindowEnd:   time.Unix(st.window+c.window, 0).UTC(),
		Measure:     c.Count,
		Count:       st.count,
		Threshold:   c.Threshold,
		FirstSeen:   time.Unix(st.first, 0).UTC(),
		LastSeen:    time.Unix(st.last, 0).UTC(),
		Asset:       assetOf(r),
		Source:      endpointOf(r.SrcAddr, r.SrcPort, r.Has(stream.FieldSrcPort), &r.Enrichment.Src),
		Destination: endpointOf(r.DstAddr, r.DstPort, r.Has(stream.FieldDstPort), &r.Enrichment.Dst),
		SampleIDs:   append([]string(nil), st.samples...),
		Suppressed:  st.suppressed,
	}
	switch c.Name {
	case RuleRejectBurst:
		a.NetworkACLEntry = naclEntry(a.Asset.SubnetID, netip.AddrFrom16(k.src).Unmap(), st.protos, st.portLo, st.portHi)
	case RuleThreatIntel:
		addr := r.DstAddr
		l, ok := lookupIn(e.lists, addr)
		if !ok {
			addr = r.SrcAddr
			l, _ = lookupIn(e.lists, addr)
		}
		a.Listed = &Listed{List: l.List, Prefix: l.Prefix.String(), Address: addr.String()}
	}
	a.Summary = summary(&a)
	st.alerted, st.lastAlert, st.suppressed = true, st.window, 0
	c.alerts.Inc()
	emit(a)
}

func (c *rule) keyFields(k key) []KeyField {
	out := make([]KeyField, 0, len(c.Key))
	for _, f := range c.Key {
		var v string
		switch f {
		case "source.ip":
			v = netip.AddrFrom16(k.src).Unmap().String()
		case "destination.ip":
			v = netip.AddrFrom16(k.dst).Unmap().String()
		case "destination.port":
			v = strconv.Itoa(int(k.port))
		case "protocol":
			v = strconv.Itoa(int(k.proto))
		}
		out = append(out, KeyField{Field: f, Value: v})
	}
	return out
}

func summary(a *Alert) string {
	s := fmt.Sprintf("%s (%s): %s %d ≥ %d in %s for", a.Rule, a.Severity, a.Measure, a.Count, a.Threshold,
		a.WindowEnd.Sub(a.WindowStart))
	for _, k := range a.Key {
		s += " " + k.Field + "=" + k.Value
	}
	if a.Asset.InstanceName != "" || a.Asset.InstanceID != "" {
		s += fmt.Sprintf(" (instance %s %s)", a.Asset.InstanceID, a.Asset.InstanceName)
	}
	if a.Listed != nil {
		s += fmt.Sprintf("; %s listed in %s as %s", a.Listed.Address, a.Listed.List, a.Listed.Prefix)
	}
	return s
}

// sweep drops keys whose window has ended more than allowed_lateness ago
// and that no longer suppress anything; a key holding a count of
// suppressed alerts is kept one more suppress_for, for its next alert to
// report them. With force (the rule is at max_keys) and too little freed, it
// also drops live keys, those that never alerted first, in the map's
// arbitrary order, until an eighth of the cap is free, and counts them.
func (c *rule) sweep(e *Engine, force bool) {
	suppress := int64(e.cfg.SuppressFor / time.Second)
	late := int64(e.cfg.AllowedLateness / time.Second)
	for k, st := range c.states {
		keep := st.lastAlert + suppress
		if st.suppressed > 0 {
			keep += suppress
		}
		if st.window+c.window+late <= e.now && (!st.alerted || keep <= e.now) {
			delete(c.states, k)
		}
	}
	if force {
		target := e.cfg.MaxKeys - max(e.cfg.MaxKeys/8, 1)
		// Keys that alerted go last: dropping one raises its alert again
		// within suppress_for (under another window's id, a duplicate
		// downstream) and loses its suppressed count.
		for _, alerted := range []bool{false, true} {
			for k, st := range c.states {
				if len(c.states) <= target {
					break
				}
				if st.alerted == alerted {
					delete(c.states, k)
					c.evicted.Inc()
				}
			}
		}
	}
	c.keys.Set(float64(len(c.states)))
}
