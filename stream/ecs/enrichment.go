package ecs

import (
	"math"
	"strconv"
	"time"

	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/jsonenc"
)

// appendFlowhose appends the flowhose object: what enrichment learned that
// ECS has no field for. The enrichment members ECS does have fields for
// are written inside their objects by the encoder (appendEndpoints,
// appendNetwork, appendCloud), never as dotted names beside them. The
// mapping is listed in enrich/README.md.
func appendFlowhose(dst []byte, e *stream.Enrichment) []byte {
	dst = append(dst, `,"flowhose":{"cost_class":`...)
	dst = jsonenc.AppendString(dst, string(e.Cost))
	f := 1
	if e.ViaNATGateway {
		dst = append(dst, `,"nat_gateway":true`...)
	}
	if e.GatewayEndpointEligible {
		dst = append(dst, `,"gateway_endpoint_eligible":true`...)
	}
	dst = stringMember(dst, &f, `,"direction":`, e.Direction)
	dst = nameMember(dst, &f, `,"direction_source":`, directionSourceNames[e.DirectionFrom])
	dst = stringMember(dst, &f, `,"perimeter_direction":`, e.Perimeter)
	if e.Interface != nil {
		dst = key(dst, &f, `,"interface":`)
		dst = appendInterface(dst, e.Interface, true)
	}
	dst = appendEndpoint(dst, &f, `,"source":`, &e.Src)
	dst = appendEndpoint(dst, &f, `,"destination":`, &e.Dst)
	return append(dst, '}')
}

// stringMember appends member k (ready for key) with value v unless v is
// empty.
func stringMember(dst []byte, n *int, k, v string) []byte {
	if v == "" {
		return dst
	}
	dst = key(dst, n, k)
	return jsonenc.AppendString(dst, v)
}

// nameMember appends member k (ready for key) with the pre-quoted name
// q unless q is empty.
func nameMember(dst []byte, n *int, k, q string) []byte {
	if q == "" {
		return dst
	}
	dst = key(dst, n, k)
	return append(dst, q...)
}

// quoteNames returns the JSON strings of name(v) for every uint8 v ("" for
// empty names): the enrichment enums' names are constants, so they are
// quoted once instead of scanned for escapes per record.
func quoteNames(name func(uint8) string) (q [256]string) {
	for v := range q {
		if s := name(uint8(v)); s != "" {
			q[v] = string(jsonenc.AppendString(nil, s))
		}
	}
	return q
}

var (
	directionSourceNames = quoteNames(func(v uint8) string { return stream.DirectionSource(v).String() })
	addrClassNames       = quoteNames(func(v uint8) string { return stream.AddrClass(v).String() })
	serviceSourceNames   = quoteNames(func(v uint8) string { return stream.ServiceSource(v).String() })
)

// appendGeo appends the ECS geo and as members of one side, from g (nil
// for none), to the open source or destination object.
func appendGeo(dst []byte, n *int, g *stream.Geo) []byte {
	if g == nil {
		return dst
	}
	mark := len(dst)
	dst = key(dst, n, `,"geo":`)
	dst = append(dst, '{')
	var k int
	dst = stringMember(dst, &k, `,"country_iso_code":`, g.CountryISOCode)
	dst = stringMember(dst, &k, `,"country_name":`, g.CountryName)
	dst = stringMember(dst, &k, `,"continent_code":`, g.ContinentCode)
	dst = stringMember(dst, &k, `,"city_name":`, g.CityName)
	dst = stringMember(dst, &k, `,"region_iso_code":`, g.RegionISOCode)
	dst = stringMember(dst, &k, `,"region_name":`, g.RegionName)
	if g.Location && finite(g.Latitude) && finite(g.Longitude) {
		dst = key(dst, &k, `,"location":`)
		dst = append(dst, `{"lat":`...)
		dst = strconv.AppendFloat(dst, g.Latitude, 'f', -1, 64)
		dst = append(dst, `,"lon":`...)
		dst = strconv.AppendFloat(dst, g.Longitude, 'f', -1, 64)
		dst = append(dst, '}')
	}
	dst = closeObject(dst, n, mark, k)
	if g.ASN != 0 || g.ASOrganization != "" {
		dst = key(dst, n, `,"as":`)
		dst = append(dst, '{')
		k = 0
		if g.ASN != 0 {
			dst = key(dst, &k, `,"number":`)
			dst = strconv.AppendUint(dst, uint64(g.ASN), 10)
		}
		if g.ASOrganization != "" {
			dst = key(dst, &k, `,"organization":`)
			dst = append(dst, `{"name":`...)
			dst = jsonenc.AppendString(dst, g.ASOrganization)
			dst = append(dst, '}')
		}
		dst = append(dst, '}')
	}
	return dst
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// appendEndpoint appends flowhose.source or flowhose.destination as
// member name (ready for key).
func appendEndpoint(dst []byte, n *int, name string, x *stream.Endpoint) []byte {
	mark := len(dst)
	dst = append(key(dst, n, name), '{')
	var k int
	dst = nameMember(dst, &k, `,"address_class":`, addrClassNames[x.Class])
	dst = stringMember(dst, &k, `,"port_name":`, x.PortName)
	dst = stringMember(dst, &k, `,"aws_service":`, x.Service)
	dst = nameMember(dst, &k, `,"aws_service_source":`, serviceSourceNames[x.ServiceFrom])
	dst = stringMember(dst, &k, `,"aws_region":`, x.ServiceRegion)
	dst = stringMember(dst, &k, `,"aws_network_border_group":`, x.NetworkBorderGroup)
	if x.Interface != nil {
		dst = key(dst, &k, `,"interface":`)
		dst = appendInterface(dst, x.Interface, false)
	}
	return closeObject(dst, n, mark, k)
}

// appendInterface appends an ENI as an object. The full form (the logging
// ENI) adds description, security groups, CIDRs, instance details and
// tags; the short form (a flow's endpoints) names where the address lives.
func appendInterface(dst []byte, i *stream.Interface, full bool) []byte {
	dst = append(dst, `{"id":`...)
	dst = jsonenc.AppendString(dst, i.ID)
	k := 1
	dst = stringMember(dst, &k, `,"type":`, i.Type)
	dst = stringMember(dst, &k, `,"account_id":`, i.AccountID)
	dst = stringMember(dst, &k, `,"region":`, i.Region)
	dst = stringMember(dst, &k, `,"availability_zone":`, i.AvailabilityZone)
	dst = stringMember(dst, &k, `,"availability_zone_id":`, i.AZID)
	if full {
		dst = stringMember(dst, &k, `,"description":`, i.Description)
		if i.RequesterManaged {
			dst = append(dst, `,"requester_managed":true`...)
		}
		if len(i.SecurityGroups) > 0 {
			dst = key(dst, &k, `,"security_groups":`)
			dst = append(dst, '[')
			for j, g := range i.SecurityGroups {
				if j > 0 {
					dst = append(dst, ',')
				}
				dst = jsonenc.AppendString(dst, g)
			}
			dst = append(dst, ']')
		}
		dst = appendTags(dst, &k, i.Tags)
	}
	dst = appendNamed(dst, &k, `,"subnet":`, i.SubnetID, i.SubnetName, i.SubnetCIDR, full)
	dst = appendNamed(dst, &k, `,"vpc":`, i.VPCID, i.VPCName, i.VPCCIDR, full)
	if in := i.Instance; in != nil {
		dst = key(dst, &k, `,"instance":`)
		dst = append(dst, `{"id":`...)
		dst = jsonenc.AppendString(dst, in.ID)
		m := 1
		dst = stringMember(dst, &m, `,"name":`, in.Name)
		if full {
			dst = stringMember(dst, &m, `,"type":`, in.Type)
			dst = stringMember(dst, &m, `,"image_id":`, in.ImageID)
			dst = stringMember(dst, &m, `,"state":`, in.State)
			if !in.LaunchTime.IsZero() {
				dst = key(dst, &m, `,"launch_time":`)
				dst = append(dst, '"')
				dst = in.LaunchTime.UTC().AppendFormat(dst, time.RFC3339)
				dst = append(dst, '"')
			}
			dst = appendTags(dst, &m, in.Tags)
		}
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

// appendNamed appends {"id","name","cidr"} for a subnet or VPC as member
// name (ready for key).
func appendNamed(dst []byte, n *int, name, id, label, cidr string, full bool) []byte {
	if id == "" {
		return dst
	}
	dst = key(dst, n, name)
	dst = append(dst, `{"id":`...)
	dst = jsonenc.AppendString(dst, id)
	k := 1
	dst = stringMember(dst, &k, `,"name":`, label)
	if full {
		dst = stringMember(dst, &k, `,"cidr":`, cidr)
	}
	return append(dst, '}')
}

// appendTags appends tags as an object keyed by tag key. Tag keys are
// free text (dots included), so the index should map flowhose.*.tags as
// flattened.
func appendTags(dst []byte, n *int, tags []stream.Tag) []byte {
	if len(tags) == 0 {
		return dst
	}
	dst = key(dst, n, `,"tags":`)
	dst = append(dst, '{')
	for j, t := range tags {
		if j > 0 {
			dst = append(dst, ',')
		}
		dst = jsonenc.AppendString(dst, t.Key)
		dst = append(dst, ':')
		dst = jsonenc.AppendString(dst, t.Value)
	}
	return append(dst, '}')
}
