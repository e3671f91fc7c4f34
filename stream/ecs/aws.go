package ecs

import (
	"math/bits"

	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/jsonenc"
)

// appendAWS appends the aws object: every raw flow-log field under
// aws.vpcflow, and the CloudWatch Logs origin under aws.cloudwatch.
func appendAWS(dst []byte, r *stream.Record, tx *texts) []byte {
	mark := len(dst)
	dst = append(dst, `,"aws":{`...)
	var n int
	dst, vmark := openObject(dst, &n, "vpcflow")
	var v int
	dst = appendVPCFlow(dst, &v, r, tx)
	dst = closeObject(dst, &n, vmark, v)

	if o := r.Origin; o.LogGroup != "" {
		dst = member(dst, &n, "cloudwatch")
		dst = append(dst, `{"log_group":`...)
		dst = jsonenc.AppendString(dst, o.LogGroup)
		if o.LogStream != "" {
			dst = append(dst, `,"log_stream":`...)
			dst = jsonenc.AppendString(dst, o.LogStream)
		}
		if o.Owner != "" {
			dst = append(dst, `,"owner":`...)
			dst = jsonenc.AppendString(dst, o.Owner)
		}
		dst = append(dst, '}')
	}
	return endObject(dst, mark, n)
}

// tcpFlagNames are Elastic's names for tcp-flags bits 0x01 to 0x20.
var tcpFlagNames = [...]string{"fin", "syn", "rst", "psh", "ack", "urg"}

// tcpFlagsArrayKey is the derived member next to tcp_flags.
const tcpFlagsArrayKey = "tcp_flags_array"

// appendVPCFlow appends the members of aws.vpcflow: each present field
// under its underscored key (numbers as JSON numbers, everything else as
// strings), tcp_flags_array, and the unmodelled Extra fields.
func appendVPCFlow(dst []byte, n *int, r *stream.Record, tx *texts) []byte {
	if uint64(r.Present)&^1 == v2Fields && tx.ok[slotSrc] && tx.ok[slotDst] {
		dst = appendV2Members(dst, n, r, tx)
		// None of the fields below is in the set: only Extra may follow.
		return appendExtra(dst, n, r)
	}
	dst = appendFields(dst, n, r, tx)
	if r.Has(stream.FieldTCPFlags) && r.TCPFlags&0x3f != 0 {
		dst = member(dst, n, tcpFlagsArrayKey)
		dst = append(dst, '[')
		first := true
		for i, name := range tcpFlagNames {
			if r.TCPFlags&(1<<i) == 0 {
				continue
			}
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = append(dst, '"')
			dst = append(dst, name...)
			dst = append(dst, '"')
		}
		dst = append(dst, ']')
	}
	return appendExtra(dst, n, r)
}

// appendExtra appends the unmodelled fields, each under a key no earlier
// member has.
func appendExtra(dst []byte, n *int, r *stream.Record) []byte {
	for i, x := range r.Extra {
		if x.Value == "-" || extraKeyTaken(r.Extra[:i], x.Name) {
			continue
		}
		if *n > 0 {
			dst = append(dst, ',')
		}
		*n++
		dst = appendExtraKey(dst, x.Name)
		dst = append(dst, ':')
		dst = jsonenc.AppendString(dst, x.Value)
	}
	return dst
}

// appendFields appends the present fields of r in field order, each
// under its key.
func appendFields(dst []byte, n *int, r *stream.Record, tx *texts) []byte {
	// Bits beyond the modelled fields mean nothing.
	for m := uint64(r.Present) &^ 1; m != 0; m &= m - 1 {
		f := stream.Field(bits.TrailingZeros64(m))
		if int(f) >= stream.NumFields {
			break
		}
		mark := len(dst)
		dst = key(dst, n, vpcflowKeys[f])
		var ok bool
		if dst, ok = appendRawValue(dst, r, f, tx); !ok {
			*n--
			dst = dst[:mark]
		}
	}
	return dst
}

// v2Fields is the set of a version-2 default-format record with every
// field present, by far the most common record.
const v2Fields = 1<<stream.FieldVersion | 1<<stream.FieldAccountID | 1<<stream.FieldInterfaceID |
	1<<stream.FieldSrcAddr | 1<<stream.FieldDstAddr | 1<<stream.FieldSrcPort | 1<<stream.FieldDstPort |
	1<<stream.FieldProtocol | 1<<stream.FieldPackets | 1<<stream.FieldBytes | 1<<stream.FieldStart |
	1<<stream.FieldEnd | 1<<stream.FieldAction | 1<<stream.FieldLogStatus

// appendV2Members writes what appendFields writes for a record
// whose fields are exactly v2Fields with valid addresses, straight
// through in field order without dispatching on each field. The keys are
// literals, not vpcflowKeys entries, so the compiler copies them inline
// instead of calling memmove; TestV2MembersMatchFields keeps them equal.
func appendV2Members(dst []byte, n *int, r *stream.Record, tx *texts) []byte {
	dst = key(dst, n, vpcflowKeys[stream.FieldVersion])
	dst = appendInt(dst, int64(r.Version))
	dst = append(dst, `,"account_id":`...)
	dst = jsonenc.AppendString(dst, r.AccountID)
	dst = append(dst, `,"interface_id":`...)
	dst = jsonenc.AppendString(dst, r.InterfaceID)
	dst = append(dst, `,"srcaddr":`...)
	dst = append(dst, tx.buf[slotSrc][:tx.n[slotSrc]]...)
	dst = append(dst, `,"dstaddr":`...)
	dst = append(dst, tx.buf[slotDst][:tx.n[slotDst]]...)
	dst = append(dst, `,"srcport":`...)
	dst = append(dst, tx.srcPort.text()...)
	dst = append(dst, `,"dstport":`...)
	dst = append(dst, tx.dstPort.text()...)
	dst = append(dst, `,"protocol":`...)
	dst = appendUint(dst, uint64(r.Protocol))
	dst = append(dst, `,"packets":`...)
	dst = append(dst, tx.packets.text()...)
	dst = append(dst, `,"bytes":`...)
	dst = append(dst, tx.bytes.text()...)
	dst = append(dst, `,"start":`...)
	dst = appendInt(dst, r.Start)
	dst = append(dst, `,"end":`...)
	dst = appendInt(dst, r.End)
	dst = append(dst, `,"action":`...)
	dst = jsonenc.AppendString(dst, r.Action)
	dst = append(dst, `,"log_status":`...)
	dst = jsonenc.AppendString(dst, r.LogStatus)
	*n += 13 // key counted the first
	return dst
}

// vpcflowKeys[f] is the member name of field f under aws.vpcflow, ready for key.
var vpcflowKeys = func() (k [stream.NumFields]string) {
	for f := range k {
		k[f] = `,"` + stream.Field(f).Info().Key + `":`
	}
	return k
}()

// appendRawValue appends the value of field f of r. It reports false for
// an address field holding no valid address.
func appendRawValue(dst []byte, r *stream.Record, f stream.Field, tx *texts) ([]byte, bool) {
	switch f {
	case stream.FieldVersion:
		return appendInt(dst, int64(r.Version)), true
	case stream.FieldAccountID:
		return jsonenc.AppendString(dst, r.AccountID), true
	case stream.FieldInterfaceID:
		return jsonenc.AppendString(dst, r.InterfaceID), true
	case stream.FieldSrcAddr:
		return appendQuoted(dst, tx, slotSrc)
	case stream.FieldDstAddr:
		return appendQuoted(dst, tx, slotDst)
	case stream.FieldSrcPort:
		return append(dst, tx.srcPort.text()...), true
	case stream.FieldDstPort:
		return append(dst, tx.dstPort.text()...), true
	case stream.FieldProtocol:
		return appendUint(dst, uint64(r.Protocol)), true
	case stream.FieldPackets:
		return append(dst, tx.packets.text()...), true
	case stream.FieldBytes:
		return append(dst, tx.bytes.text()...), true
	case stream.FieldStart:
		return appendInt(dst, r.Start), true
	case stream.FieldEnd:
		return appendInt(dst, r.End), true
	case stream.FieldAction:
		return jsonenc.AppendString(dst, r.Action), true
	case stream.FieldLogStatus:
		return jsonenc.AppendString(dst, r.LogStatus), true
	case stream.FieldVPCID:
		return jsonenc.AppendString(dst, r.VPCID), true
	case stream.FieldSubnetID:
		return jsonenc.AppendString(dst, r.SubnetID), true
	case stream.FieldInstanceID:
		return jsonenc.AppendString(dst, r.InstanceID), true
	case stream.FieldTCPFlags:
		return appendUint(dst, uint64(r.TCPFlags)), true
	case stream.FieldType:
		return jsonenc.AppendString(dst, r.Type), true
	case stream.FieldPktSrcAddr:
		return appendQuoted(dst, tx, slotPktSrc)
	case stream.FieldPktDstAddr:
		return appendQuoted(dst, tx, slotPktDst)
	case stream.FieldRegion:
		return jsonenc.AppendString(dst, r.Region), true
	case stream.FieldAZID:
		return jsonenc.AppendString(dst, r.AZID), true
	case stream.FieldSublocationType:
		return jsonenc.AppendString(dst, r.SublocationType), true
	case stream.FieldSublocationID:
		return jsonenc.AppendString(dst, r.SublocationID), true
	case stream.FieldPktSrcAWSService:
		return jsonenc.AppendString(dst, r.PktSrcAWSService), true
	case stream.FieldPktDstAWSService:
		return jsonenc.AppendString(dst, r.PktDstAWSService), true
	case stream.FieldFlowDirection:
		return jsonenc.AppendString(dst, r.FlowDirection), true
	case stream.FieldTrafficPath:
		return appendUint(dst, uint64(r.TrafficPath)), true
	case stream.FieldECSClusterARN:
		return jsonenc.AppendString(dst, r.ECSClusterARN), true
	case stream.FieldECSClusterName:
		return jsonenc.AppendString(dst, r.ECSClusterName), true
	case stream.FieldECSContainerInstanceARN:
		return jsonenc.AppendString(dst, r.ECSContainerInstanceARN), true
	case stream.FieldECSContainerInstanceID:
		return jsonenc.AppendString(dst, r.ECSContainerInstanceID), true
	case stream.FieldECSContainerID:
		return jsonenc.AppendString(dst, r.ECSContainerID), true
	case stream.FieldECSSecondContainerID:
		return jsonenc.AppendString(dst, r.ECSSecondContainerID), true
	case stream.FieldECSServiceName:
		return jsonenc.AppendString(dst, r.ECSServiceName), true
	case stream.FieldECSTaskDefinitionARN:
		return jsonenc.AppendString(dst, r.ECSTaskDefinitionARN), true
	case stream.FieldECSTaskARN:
		return jsonenc.AppendString(dst, r.ECSTaskARN), true
	case stream.FieldECSTaskID:
		return jsonenc.AppendString(dst, r.ECSTaskID), true
	case stream.FieldRejectReason:
		return jsonenc.AppendString(dst, r.RejectReason), true
	}
	return dst, false
}

func appendQuoted(dst []byte, tx *texts, i addrSlot) ([]byte, bool) {
	a, ok := tx.quoted(i)
	return append(dst, a...), ok
}

// extraKeyByte maps a byte of an unmodelled field name to a key byte:
// letters, digits and '_' stay, '-' (the flow-log separator) and anything
// else (dots would nest in Elasticsearch, quotes need escaping) become '_'.
func extraKeyByte(c byte) byte {
	if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
		return c
	}
	return '_'
}

// appendExtraKey appends the sanitised key of an unmodelled field, quoted.
func appendExtraKey(dst []byte, name string) []byte {
	dst = append(dst, '"')
	if name == "" {
		dst = append(dst, '_')
	}
	for i := 0; i < len(name); i++ {
		dst = append(dst, extraKeyByte(name[i]))
	}
	return append(dst, '"')
}

// sameExtraKey reports whether name sanitises to key.
func sameExtraKey(name, key string) bool {
	if name == "" {
		return key == "_"
	}
	if len(name) != len(key) {
		return false
	}
	for i := 0; i < len(name); i++ {
		if extraKeyByte(name[i]) != key[i] {
			return false
		}
	}
	return true
}

// extraKeyTaken reports whether name's key is already used by a modelled
// field, tcp_flags_array or an earlier extra field written, so a document
// never holds a duplicate key (Elasticsearch rejects those). The first
// writer wins; the later value is left out.
func extraKeyTaken(earlier []stream.ExtraField, name string) bool {
	if sameExtraKey(name, tcpFlagsArrayKey) {
		return true
	}
	for f := stream.Field(1); int(f) < stream.NumFields; f++ {
		if sameExtraKey(name, f.Info().Key) {
			return true
		}
	}
	for _, x := range earlier {
		if x.Value != "-" && sameExtraNames(x.Name, name) {
			return true
		}
	}
	return false
}

// sameExtraNames reports whether two unmodelled names sanitise alike.
func sameExtraNames(a, b string) bool {
	if a == "" {
		a = "_"
	}
	if b == "" {
		b = "_"
	}
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if extraKeyByte(a[i]) != extraKeyByte(b[i]) {
			return false
		}
	}
	return true
}
