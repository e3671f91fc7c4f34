package detect

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/flowhose/flowhose/stream"
)

// Alert is one detection, as every destination receives it (JSON).
type Alert struct {
	// ID is stable for a rule, key and window: redelivered records and
	// replicas raise the same id, which destinations de-duplicate on.
	ID       string `json:"id"`
	Rule     string `json:"rule"`
	Severity string `json:"severity"`
	// Summary is one line for humans.
	Summary string `json:"summary"`
	// Key names the counted fields and their values, in the rule's order.
	Key         []KeyField `json:"key"`
	WindowStart time.Time  `json:"window_start"`
	WindowEnd   time.Time  `json:"window_end"`
	// Measure is what was counted (flows, bytes, distinct destination.port…).
	Measure   string    `json:"measure"`
	Count     uint64    `json:"count"`
	Threshold uint64    `json:"threshold"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	// Asset is the logging interface and what the inventory knows of it.
	Asset Asset `json:"asset"`
	// Source and Destination describe the addresses of the record that
	// raised the alert.
	Source      Endpoint `json:"source"`
	Destination Endpoint `json:"destination"`
	// SampleIDs are document ids of records that led to the alert (the
	// Elasticsearch _id, to find the rest in Kibana).
	SampleIDs []string `json:"sample_ids,omitempty"`
	// Suppressed counts the alerts of this rule and key withheld since the
	// previous one was raised.
	Suppressed uint64 `json:"suppressed,omitempty"`
	// NetworkACLEntry is a ready deny entry for the offending source
	// (reject_burst).
	NetworkACLEntry *NetworkACLEntry `json:"network_acl_entry,omitempty"`
	// Listed is the threat-intel entry matched (threat_intel).
	Listed *Listed `json:"listed,omitempty"`
}

// KeyField is one field of an alert's key.
type KeyField struct {
	Field string `json:"field"`
	Value string `json:"value"`
}

// Asset is the logging ENI and its instance, as far as known.
type Asset struct {
	InterfaceID  string            `json:"interface_id,omitempty"`
	InstanceID   string            `json:"instance_id,omitempty"`
	InstanceName string            `json:"instance_name,omitempty"`
	SubnetID     string            `json:"subnet_id,omitempty"`
	VPCID        string            `json:"vpc_id,omitempty"`
	AccountID    string            `json:"account_id,omitempty"`
	Region       string            `json:"region,omitempty"`
	Tags         map[string]string `json:"tags,omitempty"`
}

// Endpoint is what enrichment knew about one address.
type Endpoint struct {
	IP       string `json:"ip,omitempty"`
	Port     uint16 `json:"port,omitempty"`
	Class    string `json:"class,omitempty"`
	Service  string `json:"service,omitempty"`
	Country  string `json:"country,omitempty"`
	ASN      uint32 `json:"asn,omitempty"`
	ASOrg    string `json:"as_org,omitempty"`
	Instance string `json:"instance_id,omitempty"`
}

// NetworkACLEntry is an inbound deny entry for a subnet's network ACL, in
// the terms of `aws ec2 create-network-acl-entry`.
type NetworkACLEntry struct {
	SubnetID      string     `json:"subnet_id,omitempty"`
	Egress        bool       `json:"egress"`
	RuleAction    string     `json:"rule_action"`
	Protocol      string     `json:"protocol"` // IANA number, "-1" for all
	CIDRBlock     string     `json:"cidr_block,omitempty"`
	IPv6CIDRBlock string     `json:"ipv6_cidr_block,omitempty"`
	PortRange     *PortRange `json:"port_range,omitempty"`
	// Command is the AWS CLI call, with the ACL id and rule number to fill in.
	Command string `json:"command"`
}

// PortRange is an inclusive range of ports.
type PortRange struct {
	From uint16 `json:"from"`
	To   uint16 `json:"to"`
}

// Listed is the threat-intel entry a flow matched.
type Listed struct {
	List    string `json:"list"`
	Prefix  string `json:"prefix"`
	Address string `json:"address"`
}

// alertID hashes rule, key and window start: the same on every replica.
func alertID(rule string, key []KeyField, windowStart int64) string {
	h := sha256.New()
	h.Write([]byte(rule))
	for _, k := range key {
		fmt.Fprintf(h, "|%s=%s", k.Field, k.Value)
	}
	fmt.Fprintf(h, "|%d", windowStart)
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func assetOf(r *stream.Record) Asset {
	a := Asset{InterfaceID: r.InterfaceID, InstanceID: r.InstanceID, SubnetID: r.SubnetID,
		VPCID: r.VPCID, AccountID: r.AccountID, Region: r.Region}
	i := r.Enrichment.Interface
	if i == nil {
		return a
	}
	a.SubnetID = cmp.Or(a.SubnetID, i.SubnetID)
	a.VPCID = cmp.Or(a.VPCID, i.VPCID)
	a.AccountID = cmp.Or(a.AccountID, i.AccountID)
	a.Region = cmp.Or(a.Region, i.Region)
	tags := i.Tags
	if in := i.Instance; in != nil {
		a.InstanceID = cmp.Or(a.InstanceID, in.ID)
		a.InstanceName = in.Name
		tags = append(append([]stream.Tag(nil), in.Tags...), i.Tags...) // the ENI's tags win
	}
	if len(tags) > 0 {
		a.Tags = make(map[string]string, len(tags))
		for _, t := range tags {
			a.Tags[t.Key] = t.Value
		}
	}
	return a
}

func endpointOf(a netip.Addr, port uint16, hasPort bool, e *stream.Endpoint) Endpoint {
	out := Endpoint{Class: e.Class.String(), Service: e.Service}
	if a.IsValid() {
		out.IP = a.String()
	}
	if hasPort {
		out.Port = port
	}
	if g := e.Geo; g != nil {
		out.Country, out.ASN, out.ASOrg = g.CountryISOCode, g.ASN, g.ASOrganization
	}
	if e.Interface != nil && e.Interface.Instance != nil {
		out.Instance = e.Interface.Instance.ID
	}
	return out
}

// naclEntry builds the deny entry for src, from the protocols and the
// destination ports its rejected flows used.
func naclEntry(subnet string, src netip.Addr, protos protoSet, lo, hi uint16) *NetworkACLEntry {
	e := &NetworkACLEntry{SubnetID: subnet, RuleAction: "deny", Protocol: "-1"}
	cidr := netip.PrefixFrom(src, src.BitLen()).String()
	if src.Is4() {
		e.CIDRBlock = cidr
	} else {
		e.IPv6CIDRBlock = cidr
	}
	if p, one := protos.only(); one {
		e.Protocol = strconv.Itoa(int(p))
		if p == 6 || p == 17 {
			e.PortRange = &PortRange{From: lo, To: hi}
		}
	}
	var cmd strings.Builder
	cmd.WriteString("aws ec2 create-network-acl-entry --network-acl-id <acl of ")
	cmd.WriteString(cmp.Or(subnet, "the subnet"))
	cmd.WriteString("> --ingress --rule-number <n> --rule-action deny --protocol ")
	cmd.WriteString(e.Protocol)
	if e.PortRange != nil {
		fmt.Fprintf(&cmd, " --port-range From=%d,To=%d", lo, hi)
	}
	if src.Is4() {
		cmd.WriteString(" --cidr-block " + cidr)
	} else {
		cmd.WriteString(" --ipv6-cidr-block " + cidr)
	}
	e.Command = cmd.String()
	return e
}

// protoSet remembers which protocols a key's flows used: up to one
// number exactly, then "several".
type protoSet struct {
	n       uint8
	set     bool
	several bool
}

func (p *protoSet) add(n uint8) {
	switch {
	case !p.set:
		p.n, p.set = n, true
	case p.n != n:
		p.several = true
	}
}

func (p protoSet) only() (uint8, bool) { return p.n, p.set && !p.several }
