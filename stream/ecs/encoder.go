// Package ecs encodes flow-log records as Elastic Common Schema (ECS 8.11)
// JSON documents, following the mapping of Elastic's aws_vpcflow processor
// and AWS integration, and computes Community IDs and deterministic
// document ids. The mapping is documented field by field in README.md.
package ecs

import (
	"net/netip"
	"slices"
	"strconv"

	"github.com/flowhose/flowhose/stream"
)

// ECSVersion is the ecs.version written into every document.
const ECSVersion = "8.11.0"

// Defaults for the zero Encoder.
const (
	DefaultDataset   = "aws.vpcflow"
	DefaultNamespace = "default"
)

// Encoder appends ECS documents. Its zero value is usable. It holds only
// configuration, so one Encoder may be shared by goroutines.
type Encoder struct {
	// Dataset is event.dataset / data_stream.dataset (default "aws.vpcflow").
	Dataset string
	// Namespace is data_stream.namespace (default "default").
	Namespace string
	// Original adds event.original with the raw line.
	Original bool
}

// Append appends r as one JSON object (no trailing newline) to dst. It
// writes nested objects ("source":{"ip":...}); enrichment members are
// appended last, before the closing brace, so they must not reuse a
// top-level name written here (use dotted names such as "source.geo.*").
// Append never fails: absent fields are omitted, and strings are escaped
// so the output is valid JSON for any record.
func (e *Encoder) Append(dst []byte, r *stream.Record) []byte {
	dst = append(dst, '{')
	var top int

	// Times are formatted once: the end time is written twice.
	var startBuf, endBuf [timeLen]byte
	start := quotedTime(&startBuf, r, stream.FieldStart, r.Start)
	end := quotedTime(&endBuf, r, stream.FieldEnd, r.End)
	ts := end
	if ts == nil {
		ts = start
	}
	if ts != nil {
		dst = member(dst, &top, "@timestamp")
		dst = append(dst, ts...)
	}

	dst = member(dst, &top, "ecs")
	dst = append(dst, `{"version":"`+ECSVersion+`"}`...)

	dataset, namespace := e.Dataset, e.Namespace
	if dataset == "" {
		dataset = DefaultDataset
	}
	if namespace == "" {
		namespace = DefaultNamespace
	}
	dst = member(dst, &top, "data_stream")
	dst = append(dst, `{"type":"logs","dataset":`...)
	dst = appendString(dst, dataset)
	dst = append(dst, `,"namespace":`...)
	dst = appendString(dst, namespace)
	dst = append(dst, '}')

	var at addrTexts
	at.init(r)
	dst = e.appendEvent(dst, &top, r, dataset, start, end)
	dst = appendEndpoints(dst, &top, r, &at)
	dst = appendNetwork(dst, &top, r, &at)
	dst = appendCloud(dst, &top, r)
	dst = appendOrchestrator(dst, &top, r)
	if r.Has(stream.FieldECSContainerID) {
		dst = member(dst, &top, "container")
		dst = append(dst, `{"id":`...)
		dst = appendString(dst, r.ECSContainerID)
		dst = append(dst, '}')
	}
	if r.Has(stream.FieldECSServiceName) {
		dst = member(dst, &top, "service")
		dst = append(dst, `{"name":`...)
		dst = appendString(dst, r.ECSServiceName)
		dst = append(dst, '}')
	}
	dst = appendRelated(dst, &top, &at)
	dst = appendAWS(dst, &top, r, &at)

	dst = appendEnrichment(dst, r)
	return append(dst, '}')
}

// quotedTime formats field f (Unix seconds) into buf and returns the
// quoted text, or nil when r lacks f or the time is out of range.
func quotedTime(buf *[timeLen]byte, r *stream.Record, f stream.Field, sec int64) []byte {
	if !r.Has(f) {
		return nil
	}
	b, ok := appendTime(buf[:0], sec)
	if !ok {
		return nil
	}
	return b
}

// appendEvent appends the event object; start and end are quoted times
// or nil.
func (e *Encoder) appendEvent(dst []byte, top *int, r *stream.Record, dataset string, start, end []byte) []byte {
	dst = member(dst, top, "event")
	dst = append(dst, `{"kind":"event","category":["network"],"type":["connection"`...)
	action := r.Has(stream.FieldAction)
	outcome := ""
	if action {
		switch r.Action {
		case "ACCEPT":
			dst = append(dst, `,"allowed"`...)
			outcome = "success"
		case "REJECT":
			dst = append(dst, `,"denied"`...)
			outcome = "failure"
		}
	}
	dst = append(dst, ']')
	n := 3
	if action {
		dst = member(dst, &n, "action")
		dst = appendLowerString(dst, r.Action)
	}
	if outcome != "" {
		dst = member(dst, &n, "outcome")
		dst = append(dst, '"')
		dst = append(dst, outcome...)
		dst = append(dst, '"')
	}
	if r.Has(stream.FieldRejectReason) {
		dst = member(dst, &n, "reason")
		dst = appendString(dst, r.RejectReason)
	}
	if start != nil {
		dst = member(dst, &n, "start")
		dst = append(dst, start...)
	}
	if end != nil {
		dst = member(dst, &n, "end")
		dst = append(dst, end...)
	}
	// Spans beyond maxDurationSeconds would overflow in nanoseconds.
	if start != nil && end != nil && r.End >= r.Start && r.End-r.Start <= maxDurationSeconds {
		dst = member(dst, &n, "duration")
		dst = strconv.AppendInt(dst, (r.End-r.Start)*1e9, 10)
	}
	dst = member(dst, &n, "dataset")
	dst = appendString(dst, dataset)
	if e.Original {
		dst = member(dst, &n, "original")
		dst = appendString(dst, r.Raw)
	}
	return append(dst, '}')
}

// maxDurationSeconds is the longest duration whose nanosecond count fits
// an int64 (about 292 years); longer spans are omitted, not wrapped.
const maxDurationSeconds = (1<<63 - 1) / 1_000_000_000

// appendAddr appends a as a JSON string. An IPv6 zone is dropped: flow
// logs never carry one, Elasticsearch ip fields reject it, and its text is
// arbitrary (it could hold a quote).
func appendAddr(dst []byte, a netip.Addr) []byte {
	dst = append(dst, '"')
	dst = a.WithZone("").AppendTo(dst)
	return append(dst, '"')
}

// addrSlot indexes the four address fields in addrTexts.
type addrSlot uint8

const (
	slotSrc addrSlot = iota
	slotDst
	slotPktSrc
	slotPktDst
	numSlots
)

// addrTexts holds the quoted text of a record's addresses. Each address is
// written up to five times per document, so it is formatted only once.
type addrTexts struct {
	addr [numSlots]netip.Addr
	ok   [numSlots]bool
	buf  [numSlots][48]byte // quoted IPv6 text is at most 41 bytes without zone
	n    [numSlots]uint8
}

func (t *addrTexts) init(r *stream.Record) {
	t.set(slotSrc, r, stream.FieldSrcAddr, r.SrcAddr)
	t.set(slotDst, r, stream.FieldDstAddr, r.DstAddr)
	t.set(slotPktSrc, r, stream.FieldPktSrcAddr, r.PktSrcAddr)
	t.set(slotPktDst, r, stream.FieldPktDstAddr, r.PktDstAddr)
}

func (t *addrTexts) set(i addrSlot, r *stream.Record, f stream.Field, a netip.Addr) {
	if !r.Has(f) || !a.IsValid() {
		return
	}
	a = a.WithZone("")
	t.addr[i], t.ok[i] = a, true
	t.n[i] = uint8(len(appendAddr(t.buf[i][:0], a)))
}

// quoted returns the quoted text of slot i, or false if r lacks it.
func (t *addrTexts) quoted(i addrSlot) ([]byte, bool) {
	return t.buf[i][:t.n[i]], t.ok[i]
}

func appendEndpoints(dst []byte, top *int, r *stream.Record, at *addrTexts) []byte {
	dst, mark := openObject(dst, top, "source")
	var n int
	if a, ok := at.quoted(slotSrc); ok {
		dst = member(dst, &n, "address")
		dst = append(dst, a...)
		dst = member(dst, &n, "ip")
		dst = append(dst, a...)
	}
	if r.Has(stream.FieldSrcPort) {
		dst = member(dst, &n, "port")
		dst = strconv.AppendUint(dst, uint64(r.SrcPort), 10)
	}
	if r.Has(stream.FieldBytes) {
		dst = member(dst, &n, "bytes")
		dst = strconv.AppendUint(dst, r.Bytes, 10)
	}
	if r.Has(stream.FieldPackets) {
		dst = member(dst, &n, "packets")
		dst = strconv.AppendUint(dst, r.Packets, 10)
	}
	dst = closeObject(dst, top, mark, n)

	dst, mark = openObject(dst, top, "destination")
	n = 0
	if a, ok := at.quoted(slotDst); ok {
		dst = member(dst, &n, "address")
		dst = append(dst, a...)
		dst = member(dst, &n, "ip")
		dst = append(dst, a...)
	}
	if r.Has(stream.FieldDstPort) {
		dst = member(dst, &n, "port")
		dst = strconv.AppendUint(dst, uint64(r.DstPort), 10)
	}
	return closeObject(dst, top, mark, n)
}

// transports names IANA protocol numbers as Elastic's processor does;
// numbers missing here get no network.transport.
var transports = [256]string{
	0: "hopopt", 1: "icmp", 2: "igmp", 6: "tcp", 8: "egp", 17: "udp",
	47: "gre", 50: "esp", 58: "ipv6-icmp", 112: "vrrp", 132: "sctp",
}

func appendNetwork(dst []byte, top *int, r *stream.Record, at *addrTexts) []byte {
	dst, mark := openObject(dst, top, "network")
	var n int
	if r.Has(stream.FieldProtocol) {
		if t := transports[r.Protocol]; t != "" {
			dst = member(dst, &n, "transport")
			dst = append(dst, '"')
			dst = append(dst, t...)
			dst = append(dst, '"')
		}
		dst = member(dst, &n, "iana_number")
		dst = append(dst, '"')
		dst = strconv.AppendUint(dst, uint64(r.Protocol), 10)
		dst = append(dst, '"')
	}
	if r.Has(stream.FieldBytes) {
		dst = member(dst, &n, "bytes")
		dst = strconv.AppendUint(dst, r.Bytes, 10)
	}
	if r.Has(stream.FieldPackets) {
		dst = member(dst, &n, "packets")
		dst = strconv.AppendUint(dst, r.Packets, 10)
	}
	a, ok := at.addr[slotSrc], at.ok[slotSrc]
	if !ok {
		a, ok = at.addr[slotDst], at.ok[slotDst]
	}
	if ok {
		dst = member(dst, &n, "type")
		if a.Is4() || a.Is4In6() {
			dst = append(dst, `"ipv4"`...)
		} else {
			dst = append(dst, `"ipv6"`...)
		}
	}
	if r.Has(stream.FieldFlowDirection) {
		switch r.FlowDirection {
		case "ingress", "egress":
			dst = member(dst, &n, "direction")
			dst = append(dst, '"')
			dst = append(dst, r.FlowDirection...)
			dst = append(dst, '"')
		}
	}
	{
		mark := len(dst)
		dst = member(dst, &n, "community_id")
		var ok bool
		if dst, ok = AppendCommunityID(append(dst, '"'), r); ok {
			dst = append(dst, '"')
		} else {
			n--
			dst = dst[:mark]
		}
	}
	return closeObject(dst, top, mark, n)
}

func appendCloud(dst []byte, top *int, r *stream.Record) []byte {
	dst = member(dst, top, "cloud")
	dst = append(dst, `{"provider":"aws"`...)
	if r.Has(stream.FieldAccountID) {
		dst = append(dst, `,"account":{"id":`...)
		dst = appendString(dst, r.AccountID)
		dst = append(dst, '}')
	}
	if r.Has(stream.FieldInstanceID) {
		dst = append(dst, `,"instance":{"id":`...)
		dst = appendString(dst, r.InstanceID)
		dst = append(dst, '}')
	}
	if r.Has(stream.FieldRegion) {
		dst = append(dst, `,"region":`...)
		dst = appendString(dst, r.Region)
	}
	if r.Has(stream.FieldAZID) {
		// An AZ ID where ECS expects a name, as Elastic does; the ID also
		// stays under aws.vpcflow.az_id.
		dst = append(dst, `,"availability_zone":`...)
		dst = appendString(dst, r.AZID)
	}
	return append(dst, '}')
}

func appendOrchestrator(dst []byte, top *int, r *stream.Record) []byte {
	dst, mark := openObject(dst, top, "orchestrator")
	var n, c int
	dst, cmark := openObject(dst, &n, "cluster")
	if r.Has(stream.FieldECSClusterARN) {
		dst = member(dst, &c, "id")
		dst = appendString(dst, r.ECSClusterARN)
	}
	if r.Has(stream.FieldECSClusterName) {
		dst = member(dst, &c, "name")
		dst = appendString(dst, r.ECSClusterName)
	}
	dst = closeObject(dst, &n, cmark, c)

	c = 0
	dst, cmark = openObject(dst, &n, "resource")
	if r.Has(stream.FieldECSContainerInstanceID) {
		dst = member(dst, &c, "id")
		dst = appendString(dst, r.ECSContainerInstanceID)
	}
	if r.Has(stream.FieldECSContainerInstanceARN) {
		dst = member(dst, &c, "name")
		dst = appendString(dst, r.ECSContainerInstanceARN)
	}
	if c > 0 {
		dst = member(dst, &c, "type")
		dst = append(dst, `"container"`...)
	}
	dst = closeObject(dst, &n, cmark, c)

	if n > 0 {
		dst = member(dst, &n, "type")
		dst = append(dst, `"ecs"`...)
	}
	return closeObject(dst, top, mark, n)
}

// appendRelated appends related.ip: every address field present, once.
func appendRelated(dst []byte, top *int, at *addrTexts) []byte {
	var k int
	for i := range numSlots {
		if !at.ok[i] || slices.Contains(at.addr[:i], at.addr[i]) {
			continue
		}
		if k == 0 {
			dst = member(dst, top, "related")
			dst = append(dst, `{"ip":[`...)
		} else {
			dst = append(dst, ',')
		}
		k++
		dst = append(dst, at.buf[i][:at.n[i]]...)
	}
	if k == 0 {
		return dst
	}
	return append(dst, ']', '}')
}
