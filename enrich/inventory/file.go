package inventory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/flowhose/flowhose/stream"
)

// File is a Source reading a static YAML or JSON inventory (see README.md
// for the format). The file is read again on every full sync, so edits
// take effect at the next refresh.
type File struct {
	Path string
}

type fileDoc struct {
	Interfaces []fileInterface `yaml:"interfaces"`
}

type fileInterface struct {
	ID               string            `yaml:"id"`
	Type             string            `yaml:"type"`
	Description      string            `yaml:"description"`
	RequesterManaged bool              `yaml:"requester_managed"`
	AccountID        string            `yaml:"account_id"`
	Region           string            `yaml:"region"`
	AvailabilityZone string            `yaml:"availability_zone"`
	AZID             string            `yaml:"az_id"`
	SubnetID         string            `yaml:"subnet_id"`
	SubnetName       string            `yaml:"subnet_name"`
	SubnetCIDR       string            `yaml:"subnet_cidr"`
	VPCID            string            `yaml:"vpc_id"`
	VPCName          string            `yaml:"vpc_name"`
	VPCCIDR          string            `yaml:"vpc_cidr"`
	SecurityGroups   []string          `yaml:"security_groups"`
	PrivateIPs       []string          `yaml:"private_ips"`
	PublicIPs        []string          `yaml:"public_ips"`
	Tags             map[string]string `yaml:"tags"`
	Instance         *fileInstance     `yaml:"instance"`
}

type fileInstance struct {
	ID         string            `yaml:"id"`
	Name       string            `yaml:"name"`
	Type       string            `yaml:"type"`
	ImageID    string            `yaml:"image_id"`
	State      string            `yaml:"state"`
	LaunchTime time.Time         `yaml:"launch_time"`
	Tags       map[string]string `yaml:"tags"`
}

// ParseFile decodes an inventory document. Unknown keys, duplicate ids and
// malformed addresses are errors.
func ParseFile(r io.Reader) ([]*stream.Interface, error) {
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	var doc fileDoc
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("decode inventory: %w", err)
	}
	out := make([]*stream.Interface, 0, len(doc.Interfaces))
	seen := make(map[string]bool, len(doc.Interfaces))
	for n, fi := range doc.Interfaces {
		if fi.ID == "" {
			return nil, fmt.Errorf("interfaces[%d].id: must not be empty", n)
		}
		if seen[fi.ID] {
			return nil, fmt.Errorf("interfaces[%d].id: duplicate %q", n, fi.ID)
		}
		seen[fi.ID] = true
		i := &stream.Interface{
			ID: fi.ID, Type: fi.Type, Description: fi.Description, RequesterManaged: fi.RequesterManaged,
			AccountID: fi.AccountID, Region: fi.Region, AvailabilityZone: fi.AvailabilityZone, AZID: fi.AZID,
			SubnetID: fi.SubnetID, SubnetName: fi.SubnetName, SubnetCIDR: fi.SubnetCIDR,
			VPCID: fi.VPCID, VPCName: fi.VPCName, VPCCIDR: fi.VPCCIDR,
			SecurityGroups: fi.SecurityGroups, Tags: sortedTags(fi.Tags),
		}
		var err error
		if i.PrivateIPs, err = parseAddrs(fi.PrivateIPs); err != nil {
			return nil, fmt.Errorf("interfaces[%d].private_ips: %w", n, err)
		}
		if i.PublicIPs, err = parseAddrs(fi.PublicIPs); err != nil {
			return nil, fmt.Errorf("interfaces[%d].public_ips: %w", n, err)
		}
		if in := fi.Instance; in != nil {
			i.Instance = &stream.Instance{ID: in.ID, Name: in.Name, Type: in.Type, ImageID: in.ImageID,
				State: in.State, LaunchTime: in.LaunchTime, Tags: sortedTags(in.Tags)}
			if i.Instance.Name == "" {
				i.Instance.Name = in.Tags["Name"]
			}
		}
		out = append(out, i)
	}
	return out, nil
}

func parseAddrs(ss []string) ([]netip.Addr, error) {
	out := make([]netip.Addr, 0, len(ss))
	for _, s := range ss {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, err
		}
		out = append(out, a.Unmap())
	}
	return out, nil
}

func sortedTags(m map[string]string) []stream.Tag {
	if len(m) == 0 {
		return nil
	}
	tags := make([]stream.Tag, 0, len(m))
	for k, v := range m {
		tags = append(tags, stream.Tag{Key: k, Value: v})
	}
	slices.SortFunc(tags, func(a, b stream.Tag) int { return strings.Compare(a.Key, b.Key) })
	return tags
}

// All reads the file.
func (f File) All(context.Context) ([]*stream.Interface, error) {
	b, err := os.ReadFile(f.Path)
	if err != nil {
		return nil, fmt.Errorf("inventory file: %w", err)
	}
	ifaces, err := ParseFile(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("inventory file %s: %w", f.Path, err)
	}
	return ifaces, nil
}

// Interfaces reads the file and returns the ENIs among ids.
func (f File) Interfaces(ctx context.Context, ids []string) ([]*stream.Interface, error) {
	all, err := f.All(ctx)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(i *stream.Interface) bool { return !slices.Contains(ids, i.ID) }), nil
}
