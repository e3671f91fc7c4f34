package hec

import (
	"strconv"

	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/ecs"
	"github.com/flowhose/flowhose/stream/jsonenc"
)

// appendFields appends the LineFields shape's indexed fields: the document
// id, the Community ID and what enrichment learned, flat, every value a
// string (HEC refuses nested objects with code 15), the tags an array of
// "key=value" strings since tag keys are free text and would make
// unbounded field names. Empty values are left out. The names follow the
// Splunk CIM where it has one (direction is its Network_Traffic
// inbound/outbound, flowhose's perimeter direction; src_/dest_ prefixes).
func appendFields(dst []byte, r *stream.Record) []byte {
	dst = append(dst, `,"fields":{"`+IDField+`":"`...)
	dst = ecs.AppendID(dst, r)
	dst = append(dst, '"')
	mark := len(dst)
	dst = append(dst, `,"community_id":"`...)
	if d, ok := ecs.AppendCommunityID(dst, r); ok {
		dst = append(d, '"')
	} else {
		dst = dst[:mark]
	}
	en := &r.Enrichment
	dst = field(dst, `,"cost_class":`, string(en.Cost))
	dst = field(dst, `,"direction":`, en.Perimeter)
	dst = field(dst, `,"interface_direction":`, en.Direction)
	if en.ViaNATGateway {
		dst = append(dst, `,"nat_gateway":"true"`...)
	}
	if en.GatewayEndpointEligible {
		dst = append(dst, `,"gateway_endpoint_eligible":"true"`...)
	}
	dst = appendEndpoint(dst, `,"src_`, &en.Src)
	dst = appendEndpoint(dst, `,"dest_`, &en.Dst)
	i := en.Interface
	if i == nil {
		i = &stream.Interface{}
	}
	dst = field(dst, `,"vpc_id":`, recordOr(r, stream.FieldVPCID, r.VPCID, i.VPCID))
	dst = field(dst, `,"vpc_name":`, i.VPCName)
	dst = field(dst, `,"subnet_id":`, recordOr(r, stream.FieldSubnetID, r.SubnetID, i.SubnetID))
	dst = field(dst, `,"subnet_name":`, i.SubnetName)
	dst = field(dst, `,"region":`, recordOr(r, stream.FieldRegion, r.Region, i.Region))
	dst = field(dst, `,"availability_zone":`, i.AvailabilityZone)
	dst = field(dst, `,"interface_type":`, i.Type)
	in := i.Instance
	if in == nil {
		in = &stream.Instance{}
	}
	dst = field(dst, `,"instance_id":`, recordOr(r, stream.FieldInstanceID, r.InstanceID, in.ID))
	dst = field(dst, `,"instance_name":`, in.Name)
	dst = field(dst, `,"instance_type":`, in.Type)
	if len(i.Tags)+len(in.Tags) > 0 {
		dst = append(dst, `,"tags":[`...)
		for _, tags := range [...][]stream.Tag{i.Tags, in.Tags} {
			for _, t := range tags {
				dst = appendTag(dst, t)
			}
		}
		dst[len(dst)-1] = ']' // over the last comma
	}
	return append(dst, '}')
}

// appendTag appends t as the JSON string "key=value" and a comma, without
// concatenating the two first.
func appendTag(dst []byte, t stream.Tag) []byte {
	dst = jsonenc.AppendString(dst, t.Key)
	dst[len(dst)-1] = '='
	mark := len(dst)
	dst = jsonenc.AppendString(dst, t.Value)
	dst = append(dst[:mark], dst[mark+1:]...) // the value's opening quote
	return append(dst, ',')
}

// appendEndpoint appends one side's fields, each name prefixed by side
// (`,"src_`).
func appendEndpoint(dst []byte, side string, x *stream.Endpoint) []byte {
	dst = field2(dst, side, `class":`, x.Class.String())
	dst = field2(dst, side, `service":`, x.Service)
	dst = field2(dst, side, `port_name":`, x.PortName)
	if g := x.Geo; g != nil {
		dst = field2(dst, side, `country":`, g.CountryISOCode)
		dst = field2(dst, side, `city":`, g.CityName)
		if g.ASN != 0 {
			dst = append(dst, side...)
			dst = append(dst, `asn":"`...)
			dst = strconv.AppendUint(dst, uint64(g.ASN), 10)
			dst = append(dst, '"')
		}
		dst = field2(dst, side, `as_org":`, g.ASOrganization)
	}
	return dst
}

// field appends member k (`,"name":`) with value v unless v is empty.
func field(dst []byte, k, v string) []byte {
	if v == "" {
		return dst
	}
	return jsonenc.AppendString(append(dst, k...), v)
}

// field2 is field for a name in two parts.
func field2(dst []byte, k1, k2, v string) []byte {
	if v == "" {
		return dst
	}
	return jsonenc.AppendString(append(append(dst, k1...), k2...), v)
}

// recordOr is the record's own value of f when it carries it, else what
// the inventory says.
func recordOr(r *stream.Record, f stream.Field, own, inventory string) string {
	if r.Has(f) {
		return own
	}
	return inventory
}
