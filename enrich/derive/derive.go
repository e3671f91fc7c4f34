package derive

import "github.com/flowhose/flowhose/stream"

// Services a gateway VPC endpoint carries for free instead of a NAT gateway.
const (
	serviceS3       = "S3"
	serviceDynamoDB = "DYNAMODB"
	regionGlobal    = "GLOBAL"
)

// Classes sets the address class of both endpoints of r. Other enrichers
// use the classes to skip lookups that cannot succeed (GeoIP, ip-ranges
// for private addresses), so it runs before them.
func Classes(r *stream.Record) {
	e := &r.Enrichment
	e.Src.Class, e.Dst.Class = stream.AddrNone, stream.AddrNone
	if r.Has(stream.FieldSrcAddr) {
		e.Src.Class = Classify(r.SrcAddr)
	}
	if r.Has(stream.FieldDstAddr) {
		e.Dst.Class = Classify(r.DstAddr)
	}
}

// Apply fills the derived fields of r.Enrichment: port names of both
// endpoints, direction, perimeter direction, cost class and the NAT
// gateway flags. It expects the classes (Classes), Interface, the
// endpoints' Interface and Service to be set already. defaultRegion is
// used when neither the record nor the inventory says which region the
// logging ENI is in ("" for none).
func Apply(r *stream.Record, defaultRegion string) {
	e := &r.Enrichment
	e.Src.PortName, e.Dst.PortName = "", ""
	e.ViaNATGateway = false
	if r.Has(stream.FieldProtocol) {
		if r.Has(stream.FieldSrcPort) {
			e.Src.PortName = PortName(r.Protocol, r.SrcPort)
		}
		if r.Has(stream.FieldDstPort) {
			e.Dst.PortName = PortName(r.Protocol, r.DstPort)
		}
	}
	e.Direction, e.DirectionFrom = direction(r)
	e.Perimeter = perimeter(e)

	var local zone
	localRegion := defaultRegion
	if r.Has(stream.FieldAZID) {
		local.id = r.AZID
	}
	if r.Has(stream.FieldRegion) {
		localRegion = r.Region
	}
	if i := e.Interface; i != nil {
		if i.AZID != "" {
			local.id = i.AZID
		}
		local.name, local.account = i.AvailabilityZone, i.AccountID
		if i.Region != "" {
			localRegion = i.Region
		}
		e.ViaNATGateway = i.Type == "nat_gateway" || i.Type == "natGateway"
	}
	peer := peer(r)
	e.Cost = cost(peer, local, localRegion)
	e.GatewayEndpointEligible = e.ViaNATGateway && e.Cost == stream.CostAWSService &&
		(peer.Service == serviceS3 || peer.Service == serviceDynamoDB) && peer.ServiceRegion != regionGlobal
}

// owns reports whether endpoint x is the logging ENI itself.
func owns(r *stream.Record, x *stream.Endpoint) bool {
	return x.Interface != nil && r.Has(stream.FieldInterfaceID) && x.Interface.ID == r.InterfaceID
}

func direction(r *stream.Record) (string, stream.DirectionSource) {
	if r.Has(stream.FieldFlowDirection) && (r.FlowDirection == "ingress" || r.FlowDirection == "egress") {
		return r.FlowDirection, stream.DirectionFlowLog
	}
	e := &r.Enrichment
	switch {
	case owns(r, &e.Src):
		return "egress", stream.DirectionInventory
	case owns(r, &e.Dst):
		return "ingress", stream.DirectionInventory
	}
	if e.Src.Class == stream.AddrNone || e.Dst.Class == stream.AddrNone {
		return "", stream.DirectionUnknown
	}
	si, di := Internal(&e.Src), Internal(&e.Dst)
	switch {
	case si && !di:
		return "egress", stream.DirectionAddresses
	case !si && di:
		return "ingress", stream.DirectionAddresses
	}
	return "", stream.DirectionUnknown
}

func perimeter(e *stream.Enrichment) string {
	if e.Src.Class == stream.AddrNone || e.Dst.Class == stream.AddrNone {
		return ""
	}
	switch si, di := Internal(&e.Src), Internal(&e.Dst); {
	case si && di:
		return "internal"
	case si:
		return "outbound"
	case di:
		return "inbound"
	}
	return "external"
}

// peer returns the endpoint at the far side of the logging ENI: the
// destination of egress traffic, the source of ingress traffic. With no
// direction it is the side that is not the ENI itself, or the public side.
func peer(r *stream.Record) *stream.Endpoint {
	e := &r.Enrichment
	switch {
	case e.Direction == "egress":
		return &e.Dst
	case e.Direction == "ingress":
		return &e.Src
	case owns(r, &e.Dst):
		return &e.Src
	case !Internal(&e.Src) && Internal(&e.Dst):
		return &e.Src
	}
	return &e.Dst
}

// zone is where the logging ENI is: its zone ID, else its zone name and
// owning account.
type zone struct{ id, name, account string }

// sameZone reports whether ENI i is in zone z, and false for known when
// that cannot be told. Zone IDs name the same physical zone in every
// account; zone names are mapped to zones per account, so names are
// compared only between ENIs of one account.
func sameZone(z zone, i *stream.Interface) (same, known bool) {
	switch {
	case z.id != "" && i.AZID != "":
		return z.id == i.AZID, true
	case z.name != "" && i.AvailabilityZone != "" && z.account != "" && z.account == i.AccountID:
		return z.name == i.AvailabilityZone, true
	}
	return false, false
}

func cost(p *stream.Endpoint, local zone, localRegion string) stream.CostClass {
	if i := p.Interface; i != nil {
		if localRegion != "" && i.Region != "" && i.Region != localRegion {
			return stream.CostCrossRegion
		}
		switch same, known := sameZone(local, i); {
		case !known:
			return stream.CostUnknown
		case same:
			return stream.CostSameAZ
		}
		return stream.CostCrossAZ
	}
	if p.Service != "" {
		if localRegion == "" || p.ServiceRegion == "" || p.ServiceRegion == regionGlobal || p.ServiceRegion == localRegion {
			return stream.CostAWSService
		}
		return stream.CostCrossRegion
	}
	switch p.Class {
	case stream.AddrPublic, stream.AddrDocumentation:
		return stream.CostInternet
	}
	return stream.CostUnknown
}
