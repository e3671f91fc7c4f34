package kafka

import (
	"net/netip"
	"slices"
	"strconv"

	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/ecs"
)

// keyFunc appends the message key of r to dst, the text the document
// holds in that field, and reports whether r has the field. Read from the
// record, not from the encoded document: no JSON is parsed per message.
type keyFunc func(dst []byte, r *stream.Record) ([]byte, bool)

// keyFields are the document fields a message key can be taken from:
// those worth partitioning by (an address, a flow, an ENI, an account).
var keyFields = map[string]keyFunc{
	"source.ip":                addrKey(stream.FieldSrcAddr, func(r *stream.Record) netip.Addr { return r.SrcAddr }),
	"destination.ip":           addrKey(stream.FieldDstAddr, func(r *stream.Record) netip.Addr { return r.DstAddr }),
	"source.port":              portKey(stream.FieldSrcPort, func(r *stream.Record) uint16 { return r.SrcPort }),
	"destination.port":         portKey(stream.FieldDstPort, func(r *stream.Record) uint16 { return r.DstPort }),
	"network.community_id":     ecs.AppendCommunityID,
	"aws.vpcflow.interface_id": stringKey(stream.FieldInterfaceID, func(r *stream.Record) string { return r.InterfaceID }),
	"aws.vpcflow.vpc_id":       stringKey(stream.FieldVPCID, func(r *stream.Record) string { return r.VPCID }),
	"aws.vpcflow.subnet_id":    stringKey(stream.FieldSubnetID, func(r *stream.Record) string { return r.SubnetID }),
	"aws.vpcflow.account_id":   stringKey(stream.FieldAccountID, func(r *stream.Record) string { return r.AccountID }),
	"flowhose.interface.id": func(dst []byte, r *stream.Record) ([]byte, bool) {
		// Only when the inventory knows the ENI, as in the document.
		if i := r.Enrichment.Interface; i != nil && i.ID != "" {
			return append(dst, i.ID...), true
		}
		return dst, false
	},
}

// KeyFields lists the fields the key option accepts, sorted.
func KeyFields() []string {
	names := make([]string, 0, len(keyFields))
	for k := range keyFields {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

func addrKey(f stream.Field, get func(*stream.Record) netip.Addr) keyFunc {
	return func(dst []byte, r *stream.Record) ([]byte, bool) {
		a := get(r)
		if !r.Has(f) || !a.IsValid() {
			return dst, false
		}
		// The document's text: no zone.
		return a.WithZone("").AppendTo(dst), true
	}
}

func portKey(f stream.Field, get func(*stream.Record) uint16) keyFunc {
	return func(dst []byte, r *stream.Record) ([]byte, bool) {
		if !r.Has(f) {
			return dst, false
		}
		return strconv.AppendUint(dst, uint64(get(r)), 10), true
	}
}

func stringKey(f stream.Field, get func(*stream.Record) string) keyFunc {
	return func(dst []byte, r *stream.Record) ([]byte, bool) {
		if !r.Has(f) {
			return dst, false
		}
		return append(dst, get(r)...), true
	}
}
