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
	"github.com/flowhose/flowhose/stream/jsonenc"
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
// writes nested objects only ("source":{"ip":...}), never dotted member
// names: enrichment members go inside the ECS objects they belong to
// (source.geo inside source, cloud.instance.name inside cloud.instance),
// so every reader of the document, not only Elasticsearch, sees one shape.
// Append never fails: absent fields are omitted, and strings are escaped
// so the output is valid JSON for any record.
//
// Encoding is the hot path, so members whose order is fixed are written
// as one constant where possible; the tests compare the output byte for
// byte with golden files.
func (e *Encoder) Append(dst []byte, r *stream.Record) []byte {
	// Times are formatted once: the end time is written twice.
	var startBuf, endBuf [timeLen]byte
	start := quotedTime(&startBuf, r, stream.FieldStart, r.Start)
	var end []byte
	if start != nil && r.Has(stream.FieldEnd) && floorDiv(r.End, 86400) == floorDiv(r.Start, 86400) {
		// Nearly every flow starts and ends on one day: only the clock
		// differs, and computing the date is the costly part. The range
		// check is not needed as the range ends on day boundaries.
		endBuf = startBuf
		setClock(&endBuf, r.End)
		end = endBuf[:]
	} else {
		end = quotedTime(&endBuf, r, stream.FieldEnd, r.End)
	}
	ts := end
	if ts == nil {
		ts = start
	}
	if ts != nil {
		dst = append(dst, `{"@timestamp":`...)
		dst = append(dst, ts...)
		dst = append(dst, `,"ecs":{"version":"`+ECSVersion+`"}`...)
	} else {
		dst = append(dst, `{"ecs":{"version":"`+ECSVersion+`"}`...)
	}
	// Every later top-level member follows "ecs", so each starts with a comma.

	dataset, namespace := e.Dataset, e.Namespace
	if dataset == "" {
		dataset = DefaultDataset
	}
	if namespace == "" {
		namespace = DefaultNamespace
	}
	defaults := dataset == DefaultDataset && namespace == DefaultNamespace
	if defaults {
		dst = append(dst, `,"data_stream":{"type":"logs","dataset":"`+DefaultDataset+`","namespace":"`+DefaultNamespace+`"}`...)
	} else {
		dst = append(dst, `,"data_stream":{"type":"logs","dataset":`...)
		dst = jsonenc.AppendString(dst, dataset)
		dst = append(dst, `,"namespace":`...)
		dst = jsonenc.AppendString(dst, namespace)
		dst = append(dst, '}')
	}

	var tx texts
	tx.init(r)
	// A record no enricher has seen (empty cost class) gets no enrichment.
	var en *stream.Enrichment
	if r.Enrichment.Cost != "" {
		en = &r.Enrichment
	}
	dst = e.appendEvent(dst, r, dataset, defaults, start, end)
	dst = appendEndpoints(dst, r, &tx, en)
	dst = appendNetwork(dst, r, &tx, en)
	dst = appendCloud(dst, r, en)
	if r.Present&orchestratorFields != 0 {
		dst = appendOrchestrator(dst, r)
	}
	if r.Has(stream.FieldECSContainerID) {
		dst = append(dst, `,"container":{"id":`...)
		dst = jsonenc.AppendString(dst, r.ECSContainerID)
		dst = append(dst, '}')
	}
	if r.Has(stream.FieldECSServiceName) {
		dst = append(dst, `,"service":{"name":`...)
		dst = jsonenc.AppendString(dst, r.ECSServiceName)
		dst = append(dst, '}')
	}
	dst = appendRelated(dst, &tx)
	dst = appendAWS(dst, r, &tx)

	if en != nil {
		dst = appendFlowhose(dst, en)
	}
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
// or nil, and defaults says dataset is DefaultDataset.
func (e *Encoder) appendEvent(dst []byte, r *stream.Record, dataset string, defaults bool, start, end []byte) []byte {
	dst = append(dst, `,"event":{"kind":"event","category":["network"],"type":["connection"`...)
	if r.Has(stream.FieldAction) {
		switch r.Action {
		case "ACCEPT":
			dst = append(dst, `,"allowed"],"action":"accept","outcome":"success"`...)
		case "REJECT":
			dst = append(dst, `,"denied"],"action":"reject","outcome":"failure"`...)
		default:
			dst = append(dst, `],"action":`...)
			dst = appendLowerString(dst, r.Action)
		}
	} else {
		dst = append(dst, ']')
	}
	if r.Has(stream.FieldRejectReason) {
		dst = append(dst, `,"reason":`...)
		dst = jsonenc.AppendString(dst, r.RejectReason)
	}
	if start != nil {
		dst = append(dst, `,"start":`...)
		dst = append(dst, start...)
	}
	if end != nil {
		dst = append(dst, `,"end":`...)
		dst = append(dst, end...)
	}
	// Spans beyond maxDurationSeconds would overflow in nanoseconds.
	if start != nil && end != nil && r.End >= r.Start && r.End-r.Start <= maxDurationSeconds {
		dst = append(dst, `,"duration":`...)
		dst = appendUint(dst, uint64(r.End-r.Start)*1e9)
	}
	if defaults {
		dst = append(dst, `,"dataset":"`+DefaultDataset+`"`...)
	} else {
		dst = append(dst, `,"dataset":`...)
		dst = jsonenc.AppendString(dst, dataset)
	}
	if e.Original {
		dst = append(dst, `,"original":`...)
		dst = jsonenc.AppendString(dst, r.Raw)
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

// addrSlot indexes the four address fields in texts.
type addrSlot uint8

const (
	slotSrc addrSlot = iota
	slotDst
	slotPktSrc
	slotPktDst
	numSlots
)

// texts holds the text of the values a document repeats, formatted once:
// each address is written up to five times, bytes and packets three
// times, the ports twice.
type texts struct {
	addr [numSlots]netip.Addr
	ok   [numSlots]bool
	buf  [numSlots][48]byte // quoted IPv6 text is at most 41 bytes without zone
	n    [numSlots]uint8

	// Set only when the record has the field.
	srcPort, dstPort, bytes, packets numText
}

func (t *texts) init(r *stream.Record) {
	t.set(slotSrc, r, stream.FieldSrcAddr, r.SrcAddr)
	t.set(slotDst, r, stream.FieldDstAddr, r.DstAddr)
	t.set(slotPktSrc, r, stream.FieldPktSrcAddr, r.PktSrcAddr)
	t.set(slotPktDst, r, stream.FieldPktDstAddr, r.PktDstAddr)
	if r.Has(stream.FieldSrcPort) {
		t.srcPort.set(uint64(r.SrcPort))
	}
	if r.Has(stream.FieldDstPort) {
		t.dstPort.set(uint64(r.DstPort))
	}
	if r.Has(stream.FieldBytes) {
		t.bytes.set(r.Bytes)
	}
	if r.Has(stream.FieldPackets) {
		t.packets.set(r.Packets)
	}
}

func (t *texts) set(i addrSlot, r *stream.Record, f stream.Field, a netip.Addr) {
	if !r.Has(f) || !a.IsValid() {
		return
	}
	a = a.WithZone("")
	t.addr[i], t.ok[i] = a, true
	if a.Is4() {
		t.n[i] = uint8(len(appendQuotedIPv4(t.buf[i][:0], a.As4())))
		return
	}
	t.n[i] = uint8(len(appendAddr(t.buf[i][:0], a)))
}

// appendQuotedIPv4 appends ip in dotted-quad form, quoted: the same text
// as netip.Addr.AppendTo, without its generic formatting loop.
func appendQuotedIPv4(dst []byte, ip [4]byte) []byte {
	dst = append(dst, '"')
	for i, b := range ip {
		if i > 0 {
			dst = append(dst, '.')
		}
		switch {
		case b >= 100:
			d := (b % 100) * 2
			dst = append(dst, '0'+b/100, digitPairs[d], digitPairs[d+1])
		case b >= 10:
			dst = append(dst, digitPairs[b*2], digitPairs[b*2+1])
		default:
			dst = append(dst, '0'+b)
		}
	}
	return append(dst, '"')
}

// quoted returns the quoted text of slot i, or false if r lacks it.
func (t *texts) quoted(i addrSlot) ([]byte, bool) {
	return t.buf[i][:t.n[i]], t.ok[i]
}

// appendEndpoints appends the source and destination objects, with their
// GeoIP and ASN members when en (nil for none) has them.
func appendEndpoints(dst []byte, r *stream.Record, tx *texts, en *stream.Enrichment) []byte {
	mark := len(dst)
	dst = append(dst, `,"source":{`...)
	var n int
	if a, ok := tx.quoted(slotSrc); ok {
		dst = append(dst, `"address":`...)
		dst = append(dst, a...)
		dst = append(dst, `,"ip":`...)
		dst = append(dst, a...)
		n = 2
	}
	if r.Has(stream.FieldSrcPort) {
		dst = key(dst, &n, `,"port":`)
		dst = append(dst, tx.srcPort.text()...)
	}
	dst = appendCounters(dst, &n, r, tx)
	if en != nil {
		dst = appendGeo(dst, &n, en.Src.Geo)
	}
	dst = endObject(dst, mark, n)

	mark = len(dst)
	dst = append(dst, `,"destination":{`...)
	n = 0
	if a, ok := tx.quoted(slotDst); ok {
		dst = append(dst, `"address":`...)
		dst = append(dst, a...)
		dst = append(dst, `,"ip":`...)
		dst = append(dst, a...)
		n = 2
	}
	if r.Has(stream.FieldDstPort) {
		dst = key(dst, &n, `,"port":`)
		dst = append(dst, tx.dstPort.text()...)
	}
	if en != nil {
		dst = appendGeo(dst, &n, en.Dst.Geo)
	}
	return endObject(dst, mark, n)
}

// protocolMembers[p] is the start of the network object for IANA protocol
// p: its transport name if it has one, and its number.
var protocolMembers = func() (m [256]string) {
	for p := range m {
		if t := transports[p]; t != "" {
			m[p] = `"transport":"` + t + `",`
		}
		m[p] += `"iana_number":"` + strconv.Itoa(p) + `"`
	}
	return m
}()

// transports names IANA protocol numbers as Elastic's processor does;
// numbers missing here get no network.transport.
var transports = [256]string{
	0: "hopopt", 1: "icmp", 2: "igmp", 6: "tcp", 8: "egp", 17: "udp",
	47: "gre", 50: "esp", 58: "ipv6-icmp", 112: "vrrp", 132: "sctp",
}

// appendCounters appends the bytes and packets members that source and
// network both carry (a flow-log record counts one direction).
func appendCounters(dst []byte, n *int, r *stream.Record, tx *texts) []byte {
	if r.Has(stream.FieldBytes) {
		dst = key(dst, n, `,"bytes":`)
		dst = append(dst, tx.bytes.text()...)
	}
	if r.Has(stream.FieldPackets) {
		dst = key(dst, n, `,"packets":`)
		dst = append(dst, tx.packets.text()...)
	}
	return dst
}

// appendNetwork appends the network object. Its direction is the
// record's flow-direction, else the one enrichment (en, nil for none)
// inferred.
func appendNetwork(dst []byte, r *stream.Record, tx *texts, en *stream.Enrichment) []byte {
	mark := len(dst)
	dst = append(dst, `,"network":{`...)
	var n int
	if r.Has(stream.FieldProtocol) {
		dst = append(dst, protocolMembers[r.Protocol]...)
		n = 1
	}
	dst = appendCounters(dst, &n, r, tx)
	a, ok := tx.addr[slotSrc], tx.ok[slotSrc]
	if !ok {
		a, ok = tx.addr[slotDst], tx.ok[slotDst]
	}
	if ok {
		if a.Is4() || a.Is4In6() {
			dst = key(dst, &n, `,"type":"ipv4"`)
		} else {
			dst = key(dst, &n, `,"type":"ipv6"`)
		}
	}
	switch {
	case r.Has(stream.FieldFlowDirection) && r.FlowDirection == "ingress":
		dst = key(dst, &n, `,"direction":"ingress"`)
	case r.Has(stream.FieldFlowDirection) && r.FlowDirection == "egress":
		dst = key(dst, &n, `,"direction":"egress"`)
	case en != nil && en.DirectionFrom != stream.DirectionFlowLog && en.Direction != "":
		dst = key(dst, &n, `,"direction":`)
		dst = jsonenc.AppendString(dst, en.Direction)
	}
	{
		mark := len(dst)
		dst = key(dst, &n, `,"community_id":"`)
		var ok bool
		if dst, ok = AppendCommunityID(dst, r); ok {
			dst = append(dst, '"')
		} else {
			n--
			dst = dst[:mark]
		}
	}
	return endObject(dst, mark, n)
}

// appendCloud appends the cloud object. Each field the raw record carries
// wins over the inventory's value (en, nil for none), so no key appears
// twice and a record says where it was logged even if the inventory is
// stale.
func appendCloud(dst []byte, r *stream.Record, en *stream.Enrichment) []byte {
	dst = append(dst, `,"cloud":{"provider":"aws"`...)
	// The inventory's values, empty when it does not know the ENI.
	var account, region, az, instID, instName, machine string
	if en != nil && en.Interface != nil {
		i := en.Interface
		account, region, az = i.AccountID, i.Region, i.AZID
		if in := i.Instance; in != nil {
			instID, instName, machine = in.ID, in.Name, in.Type
		}
	}
	if id, ok := rawOr(r, stream.FieldAccountID, r.AccountID, account); ok {
		dst = append(dst, `,"account":{"id":`...)
		dst = jsonenc.AppendString(dst, id)
		dst = append(dst, '}')
	}
	if id, ok := rawOr(r, stream.FieldInstanceID, r.InstanceID, instID); ok || instName != "" {
		dst = append(dst, `,"instance":{`...)
		var k int
		if ok {
			dst = key(dst, &k, `,"id":`)
			dst = jsonenc.AppendString(dst, id)
		}
		dst = stringMember(dst, &k, `,"name":`, instName)
		dst = append(dst, '}')
	}
	if machine != "" {
		dst = append(dst, `,"machine":{"type":`...)
		dst = jsonenc.AppendString(dst, machine)
		dst = append(dst, '}')
	}
	if v, ok := rawOr(r, stream.FieldRegion, r.Region, region); ok {
		dst = append(dst, `,"region":`...)
		dst = jsonenc.AppendString(dst, v)
	}
	// An AZ ID where ECS expects a name, as Elastic does; the raw ID also
	// stays under aws.vpcflow.az_id. The inventory's zone ID fills in for
	// a record without az-id, so one index holds one kind of value.
	if v, ok := rawOr(r, stream.FieldAZID, r.AZID, az); ok {
		dst = append(dst, `,"availability_zone":`...)
		dst = jsonenc.AppendString(dst, v)
	}
	return append(dst, '}')
}

// rawOr returns the raw field f's value when r has it, else the
// inventory's value, and whether there is a value to write.
func rawOr(r *stream.Record, f stream.Field, raw, inventory string) (string, bool) {
	if r.Has(f) {
		return raw, true
	}
	return inventory, inventory != ""
}

// orchestratorFields are the fields appendOrchestrator writes; a record
// with none of them (most records) skips it.
const orchestratorFields = 1<<stream.FieldECSClusterARN | 1<<stream.FieldECSClusterName |
	1<<stream.FieldECSContainerInstanceID | 1<<stream.FieldECSContainerInstanceARN

func appendOrchestrator(dst []byte, r *stream.Record) []byte {
	mark := len(dst)
	dst = append(dst, `,"orchestrator":{`...)
	var n, c int
	dst, cmark := openObject(dst, &n, "cluster")
	if r.Has(stream.FieldECSClusterARN) {
		dst = member(dst, &c, "id")
		dst = jsonenc.AppendString(dst, r.ECSClusterARN)
	}
	if r.Has(stream.FieldECSClusterName) {
		dst = member(dst, &c, "name")
		dst = jsonenc.AppendString(dst, r.ECSClusterName)
	}
	dst = closeObject(dst, &n, cmark, c)

	c = 0
	dst, cmark = openObject(dst, &n, "resource")
	if r.Has(stream.FieldECSContainerInstanceID) {
		dst = member(dst, &c, "id")
		dst = jsonenc.AppendString(dst, r.ECSContainerInstanceID)
	}
	if r.Has(stream.FieldECSContainerInstanceARN) {
		dst = member(dst, &c, "name")
		dst = jsonenc.AppendString(dst, r.ECSContainerInstanceARN)
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
	return endObject(dst, mark, n)
}

// appendRelated appends related.ip: every address field present, once.
func appendRelated(dst []byte, tx *texts) []byte {
	var k int
	for i := range numSlots {
		if !tx.ok[i] || slices.Contains(tx.addr[:i], tx.addr[i]) {
			continue
		}
		if k == 0 {
			dst = append(dst, `,"related":{"ip":[`...)
		} else {
			dst = append(dst, ',')
		}
		k++
		dst = append(dst, tx.buf[i][:tx.n[i]]...)
	}
	if k == 0 {
		return dst
	}
	return append(dst, ']', '}')
}
