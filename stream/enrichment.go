package stream

import (
	"net/netip"
	"time"
)

// Enrichment is what enrichers learned about a record. It is filled in by
// the enrich package and encoded by the ecs package. Pointers refer to
// shared, immutable values owned by the enrichers' caches: readers must not
// modify them, and copying an Enrichment never allocates.
type Enrichment struct {
	// Interface is the ENI that logged the record, when the inventory
	// knows it.
	Interface *Interface
	// Src and Dst describe srcaddr and dstaddr.
	Src, Dst Endpoint

	// Direction is "ingress" or "egress" relative to the logging ENI, or
	// empty when it cannot be told; DirectionFrom says how it was found.
	Direction     string
	DirectionFrom DirectionSource
	// Perimeter is the direction seen from the edge of the networks the
	// inventory and the private address ranges define: "inbound",
	// "outbound", "internal" or "external" (ECS's perimeter values).
	Perimeter string

	// Cost is the data-transfer class of the flow; empty only on records
	// no enricher has seen.
	Cost CostClass
	// ViaNATGateway is set when the logging ENI belongs to a NAT gateway,
	// which charges per GB processed.
	ViaNATGateway bool
	// GatewayEndpointEligible is set when traffic through a NAT gateway
	// goes to S3 or DynamoDB in the same region, which a free gateway VPC
	// endpoint would carry instead.
	GatewayEndpointEligible bool
}

// DirectionSource says how Enrichment.Direction was determined.
type DirectionSource uint8

// How a direction was determined, most to least reliable.
const (
	DirectionUnknown   DirectionSource = iota
	DirectionFlowLog                   // the record's flow-direction field
	DirectionInventory                 // srcaddr or dstaddr belongs to the logging ENI
	DirectionAddresses                 // inferred from private versus public addresses
)

// String returns the source's name as written into documents.
func (d DirectionSource) String() string {
	switch d {
	case DirectionFlowLog:
		return "flow_log"
	case DirectionInventory:
		return "inventory"
	case DirectionAddresses:
		return "address_class"
	}
	return ""
}

// CostClass is the data-transfer pricing class of a flow.
type CostClass string

// Cost classes, from the logging ENI's point of view.
const (
	CostSameAZ      CostClass = "same-az"      // peer in the same availability zone
	CostCrossAZ     CostClass = "cross-az"     // peer in another zone of the region
	CostCrossRegion CostClass = "cross-region" // peer or AWS range in another region
	CostInternet    CostClass = "internet"     // public address outside AWS
	CostAWSService  CostClass = "aws-service"  // public AWS range in the same region or global
	CostUnknown     CostClass = "unknown"      // private peer the inventory does not know
)

// Endpoint is what is known about one address of a flow.
type Endpoint struct {
	Class AddrClass
	// Interface is the known ENI that owns the address (private or
	// associated public address), nil otherwise.
	Interface *Interface
	// Service, ServiceRegion and NetworkBorderGroup come from AWS's
	// ip-ranges (or Service from the pkt-*-aws-service field); empty when
	// the address is not a published AWS address.
	Service            string
	ServiceRegion      string
	NetworkBorderGroup string
	ServiceFrom        ServiceSource
	// Geo is the GeoIP/ASN answer, nil when unknown or disabled.
	Geo *Geo
	// PortName is the well-known service name of the endpoint's port
	// (guessed from the number), empty when not in flowhose's table.
	PortName string
}

// ServiceSource says where Endpoint.Service came from.
type ServiceSource uint8

// Sources of an AWS service code.
const (
	ServiceNone     ServiceSource = iota
	ServiceFlowLog                // pkt-src-aws-service / pkt-dst-aws-service
	ServiceIPRanges               // flowhose's ip-ranges lookup
)

// String returns the source's name as written into documents.
func (s ServiceSource) String() string {
	switch s {
	case ServiceFlowLog:
		return "flow_log"
	case ServiceIPRanges:
		return "ip_ranges"
	}
	return ""
}

// AddrClass classifies an address by the IANA special-purpose registries.
type AddrClass uint8

// Address classes. Zero means not classified (no valid address).
const (
	AddrNone          AddrClass = iota
	AddrPublic                  // globally reachable unicast
	AddrPrivate                 // RFC 1918, RFC 6598 shared (100.64/10), IPv6 ULA
	AddrLoopback                // 127/8, ::1
	AddrLinkLocal               // 169.254/16 (instance metadata, DNS), fe80::/10
	AddrMulticast               // 224/4, ff00::/8
	AddrDocumentation           // 192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32, 3fff::/20
	AddrSpecial                 // any other non-global special-purpose block
)

var addrClassNames = [...]string{"", "public", "private", "loopback", "link_local", "multicast", "documentation", "special"}

// String returns the class name as written into documents.
func (c AddrClass) String() string {
	if int(c) < len(addrClassNames) {
		return addrClassNames[c]
	}
	return ""
}

// Interface is an ENI as the inventory describes it.
type Interface struct {
	ID               string
	Type             string // interface, nat_gateway, vpc_endpoint, lambda, ...
	Description      string
	RequesterManaged bool
	AccountID        string
	Region           string
	AvailabilityZone string
	AZID             string
	SubnetID         string
	SubnetName       string
	SubnetCIDR       string
	VPCID            string
	VPCName          string
	VPCCIDR          string
	SecurityGroups   []string
	PrivateIPs       []netip.Addr
	PublicIPs        []netip.Addr
	Tags             []Tag // sorted by key
	Instance         *Instance
}

// Instance is the EC2 instance an ENI is attached to.
type Instance struct {
	ID         string
	Name       string // the Name tag
	Type       string
	ImageID    string
	State      string
	LaunchTime time.Time
	Tags       []Tag // sorted by key
}

// Tag is one resource tag.
type Tag struct {
	Key, Value string
}

// Geo is a GeoIP and ASN answer for one address.
type Geo struct {
	CountryISOCode string
	CountryName    string
	ContinentCode  string
	CityName       string
	RegionISOCode  string
	RegionName     string
	Location       bool // Latitude and Longitude are meaningful
	Latitude       float64
	Longitude      float64
	ASN            uint32
	ASOrganization string
}
