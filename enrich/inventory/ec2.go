package inventory

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"golang.org/x/time/rate"

	"github.com/flowhose/flowhose/config/redact"
	"github.com/flowhose/flowhose/stream"
)

// EC2Config selects the accounts and regions the EC2 source reads.
type EC2Config struct {
	// Regions to query; each account is read in every region.
	Regions []string `yaml:"regions"`
	// RoleARNs are assumed (with the standard credential chain) to read
	// other accounts; empty reads only the account of the chain itself.
	RoleARNs []string `yaml:"role_arns"`
	// ExternalID is passed when assuming RoleARNs, if set.
	ExternalID string `yaml:"external_id"`
	// Endpoint overrides the EC2 endpoint (VPC interface endpoints, tests).
	Endpoint string `yaml:"endpoint"`
	// VPCIDs restricts full syncs to these VPCs; empty lists all.
	VPCIDs []string `yaml:"vpc_ids"`
	// RateLimit is the client-side limit of calls per second per account
	// and region, kept below EC2's refill rate of 20/s for Describe calls.
	RateLimit float64 `yaml:"rate_limit"`
	// Burst is the limiter's bucket size.
	Burst int `yaml:"burst"`
	// MaxAttempts is the number of tries of one call (throttling and 5xx
	// are retried with exponential backoff and full jitter).
	MaxAttempts int `yaml:"max_attempts"`
	// MaxBackoff caps one backoff wait.
	MaxBackoff time.Duration `yaml:"max_backoff"`
	// CallTimeout bounds one paginated Describe call including retries.
	CallTimeout time.Duration `yaml:"call_timeout"`
	// PageSize is MaxResults for paginated calls (5 to 1000).
	PageSize int32 `yaml:"page_size"`
}

// DefaultEC2Config returns the EC2 defaults; Regions must still be set.
func DefaultEC2Config() EC2Config {
	return EC2Config{RateLimit: 5, Burst: 10, MaxAttempts: 8, MaxBackoff: 20 * time.Second, CallTimeout: 2 * time.Minute, PageSize: 1000}
}

// Validate checks the EC2 settings.
func (c EC2Config) Validate() error {
	var errs []error
	if len(c.Regions) == 0 {
		errs = append(errs, errors.New("regions: must list at least one region, got none"))
	}
	for i, r := range c.Regions {
		if r == "" || strings.ContainsAny(r, " /") {
			errs = append(errs, fmt.Errorf("regions[%d]: must be a region code such as us-east-1, got %q", i, r))
		}
	}
	for i, a := range c.RoleARNs {
		if !strings.HasPrefix(a, "arn:") || !strings.Contains(a, ":role/") {
			errs = append(errs, fmt.Errorf("role_arns[%d]: must be an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME), got %q", i, a))
		}
	}
	if c.Endpoint != "" {
		if u, err := url.Parse(c.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("endpoint: must be an absolute http or https URL, got %q", redact.URL(c.Endpoint)))
		}
	}
	if c.RateLimit <= 0 || c.RateLimit > 100 {
		errs = append(errs, fmt.Errorf("rate_limit: must be above 0 and at most 100 calls per second, got %g", c.RateLimit))
	}
	if c.Burst < 1 || c.Burst > 100 {
		errs = append(errs, fmt.Errorf("burst: must be between 1 and 100, got %d", c.Burst))
	}
	if c.MaxAttempts < 1 || c.MaxAttempts > 20 {
		errs = append(errs, fmt.Errorf("max_attempts: must be between 1 and 20, got %d", c.MaxAttempts))
	}
	if c.MaxBackoff <= 0 {
		errs = append(errs, fmt.Errorf("max_backoff: must be positive, got %s", c.MaxBackoff))
	}
	if c.CallTimeout <= 0 {
		errs = append(errs, fmt.Errorf("call_timeout: must be positive, got %s", c.CallTimeout))
	}
	if c.PageSize < 5 || c.PageSize > 1000 {
		errs = append(errs, fmt.Errorf("page_size: must be between 5 and 1000, got %d", c.PageSize))
	}
	return errors.Join(errs...)
}

// EC2 is a Source reading DescribeNetworkInterfaces, DescribeInstances,
// DescribeSubnets and DescribeVpcs in every configured account and region.
type EC2 struct {
	cfg     EC2Config
	targets []*target
}

type target struct {
	region  string
	client  *ec2.Client
	limiter *rate.Limiter
}

// NewEC2 builds one client per account and region. opts are passed to
// config.LoadDefaultConfig (tests use them for static credentials).
func NewEC2(ctx context.Context, cfg EC2Config, opts ...func(*config.LoadOptions) error) (*EC2, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("inventory ec2: %w", err)
	}
	base, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("inventory ec2: load AWS config: %w", err)
	}
	roles := cfg.RoleARNs
	if len(roles) == 0 {
		roles = []string{""}
	}
	src := &EC2{cfg: cfg}
	for _, role := range roles {
		for _, region := range cfg.Regions {
			ac := base.Copy()
			ac.Region = region
			ac.Retryer = func() aws.Retryer {
				return retry.NewStandard(func(o *retry.StandardOptions) {
					o.MaxAttempts = cfg.MaxAttempts
					o.MaxBackoff = cfg.MaxBackoff
					o.Backoff = retry.NewExponentialJitterBackoff(cfg.MaxBackoff)
				})
			}
			if role != "" {
				prov := stscreds.NewAssumeRoleProvider(sts.NewFromConfig(ac), role, func(o *stscreds.AssumeRoleOptions) {
					if cfg.ExternalID != "" {
						o.ExternalID = aws.String(cfg.ExternalID)
					}
				})
				ac.Credentials = aws.NewCredentialsCache(prov)
			}
			client := ec2.NewFromConfig(ac, func(o *ec2.Options) {
				if cfg.Endpoint != "" {
					o.BaseEndpoint = aws.String(cfg.Endpoint)
				}
			})
			src.targets = append(src.targets, &target{region: region, client: client, limiter: rate.NewLimiter(rate.Limit(cfg.RateLimit), cfg.Burst)})
		}
	}
	return src, nil
}

// All lists every ENI (in VPCIDs, if set) of every account and region.
func (s *EC2) All(ctx context.Context) ([]*stream.Interface, error) {
	var filters []types.Filter
	if len(s.cfg.VPCIDs) > 0 {
		filters = []types.Filter{{Name: aws.String("vpc-id"), Values: s.cfg.VPCIDs}}
	}
	var out []*stream.Interface
	for _, t := range s.targets {
		ifaces, err := s.read(ctx, t, filters)
		if err != nil {
			return nil, err
		}
		out = append(out, ifaces...)
	}
	return out, nil
}

// Interfaces looks ids up in every account and region. It filters on
// network-interface-id rather than naming the ids, because naming an id
// that does not exist fails the whole call.
func (s *EC2) Interfaces(ctx context.Context, ids []string) ([]*stream.Interface, error) {
	filters := []types.Filter{{Name: aws.String("network-interface-id"), Values: ids}}
	var out []*stream.Interface
	for _, t := range s.targets {
		ifaces, err := s.read(ctx, t, filters)
		if err != nil {
			return nil, err
		}
		out = append(out, ifaces...)
		if len(out) == len(ids) {
			break
		}
	}
	return out, nil
}

// read fetches the ENIs matching filters in one account and region, then
// the instances, subnets and VPCs they refer to, many ids per call.
func (s *EC2) read(ctx context.Context, t *target, filters []types.Filter) ([]*stream.Interface, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.CallTimeout)
	defer cancel()
	var enis []types.NetworkInterface
	p := ec2.NewDescribeNetworkInterfacesPaginator(t.client, &ec2.DescribeNetworkInterfacesInput{Filters: filters, MaxResults: aws.Int32(s.cfg.PageSize)})
	err := eachPage(ctx, t, "DescribeNetworkInterfaces", p, func(page *ec2.DescribeNetworkInterfacesOutput) {
		enis = append(enis, page.NetworkInterfaces...)
	})
	if err != nil {
		return nil, err
	}
	if len(enis) == 0 {
		return nil, nil
	}
	var instanceIDs, subnetIDs, vpcIDs []string
	for _, n := range enis {
		if n.Attachment != nil && n.Attachment.InstanceId != nil {
			instanceIDs = appendUnique(instanceIDs, *n.Attachment.InstanceId)
		}
		subnetIDs = appendUnique(subnetIDs, aws.ToString(n.SubnetId))
		vpcIDs = appendUnique(vpcIDs, aws.ToString(n.VpcId))
	}
	instances, err := s.instances(ctx, t, instanceIDs)
	if err != nil {
		return nil, err
	}
	subnets, err := s.subnets(ctx, t, subnetIDs)
	if err != nil {
		return nil, err
	}
	vpcs, err := s.vpcs(ctx, t, vpcIDs)
	if err != nil {
		return nil, err
	}
	out := make([]*stream.Interface, 0, len(enis))
	for _, n := range enis {
		out = append(out, convertENI(t.region, n, instances, subnets, vpcs))
	}
	return out, nil
}

// pager is what the SDK's Describe* paginators have in common.
type pager[O any] interface {
	HasMorePages() bool
	NextPage(context.Context, ...func(*ec2.Options)) (O, error)
}

// eachPage hands every page of p to visit, waiting on the target's rate
// limiter before each call so a full sync cannot trip EC2's throttling.
func eachPage[O any](ctx context.Context, t *target, api string, p pager[O], visit func(O)) error {
	for p.HasMorePages() {
		if err := t.limiter.Wait(ctx); err != nil {
			return fmt.Errorf("%s %s: %w", t.region, api, err)
		}
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("%s %s: %w", t.region, api, err)
		}
		visit(page)
	}
	return nil
}

func appendUnique(ss []string, s string) []string {
	if s == "" || slices.Contains(ss, s) {
		return ss
	}
	return append(ss, s)
}

// chunks splits ids into groups EC2 accepts as filter values (at most 200).
func chunks(ids []string) [][]string {
	var out [][]string
	for len(ids) > 0 {
		n := min(len(ids), 200)
		out = append(out, ids[:n])
		ids = ids[n:]
	}
	return out
}

func (s *EC2) instances(ctx context.Context, t *target, ids []string) (map[string]*stream.Instance, error) {
	out := make(map[string]*stream.Instance, len(ids))
	for _, ch := range chunks(ids) {
		p := ec2.NewDescribeInstancesPaginator(t.client, &ec2.DescribeInstancesInput{
			Filters: []types.Filter{{Name: aws.String("instance-id"), Values: ch}}, MaxResults: aws.Int32(s.cfg.PageSize)})
		err := eachPage(ctx, t, "DescribeInstances", p, func(page *ec2.DescribeInstancesOutput) {
			for _, res := range page.Reservations {
				for _, in := range res.Instances {
					tags := convertTags(in.Tags)
					i := &stream.Instance{
						ID: aws.ToString(in.InstanceId), Name: tagValue(tags, "Name"), Type: string(in.InstanceType),
						ImageID: aws.ToString(in.ImageId), LaunchTime: aws.ToTime(in.LaunchTime), Tags: tags,
					}
					if in.State != nil {
						i.State = string(in.State.Name)
					}
					out[i.ID] = i
				}
			}
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// subnet is what the inventory keeps of a subnet or a VPC (az and azID:
// subnets only).
type subnet struct{ name, cidr, az, azID string }

func (s *EC2) subnets(ctx context.Context, t *target, ids []string) (map[string]subnet, error) {
	out := make(map[string]subnet, len(ids))
	for _, ch := range chunks(ids) {
		p := ec2.NewDescribeSubnetsPaginator(t.client, &ec2.DescribeSubnetsInput{
			Filters: []types.Filter{{Name: aws.String("subnet-id"), Values: ch}}, MaxResults: aws.Int32(s.cfg.PageSize)})
		err := eachPage(ctx, t, "DescribeSubnets", p, func(page *ec2.DescribeSubnetsOutput) {
			for _, sn := range page.Subnets {
				out[aws.ToString(sn.SubnetId)] = subnet{name: tagValue(convertTags(sn.Tags), "Name"), cidr: aws.ToString(sn.CidrBlock),
					az: aws.ToString(sn.AvailabilityZone), azID: aws.ToString(sn.AvailabilityZoneId)}
			}
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *EC2) vpcs(ctx context.Context, t *target, ids []string) (map[string]subnet, error) {
	out := make(map[string]subnet, len(ids))
	for _, ch := range chunks(ids) {
		p := ec2.NewDescribeVpcsPaginator(t.client, &ec2.DescribeVpcsInput{
			Filters: []types.Filter{{Name: aws.String("vpc-id"), Values: ch}}, MaxResults: aws.Int32(s.cfg.PageSize)})
		err := eachPage(ctx, t, "DescribeVpcs", p, func(page *ec2.DescribeVpcsOutput) {
			for _, v := range page.Vpcs {
				out[aws.ToString(v.VpcId)] = subnet{name: tagValue(convertTags(v.Tags), "Name"), cidr: aws.ToString(v.CidrBlock)}
			}
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func convertENI(region string, n types.NetworkInterface, instances map[string]*stream.Instance, subnets, vpcs map[string]subnet) *stream.Interface {
	i := &stream.Interface{
		ID:               aws.ToString(n.NetworkInterfaceId),
		Type:             string(n.InterfaceType),
		Description:      aws.ToString(n.Description),
		RequesterManaged: aws.ToBool(n.RequesterManaged),
		AccountID:        aws.ToString(n.OwnerId),
		Region:           region,
		AvailabilityZone: aws.ToString(n.AvailabilityZone),
		AZID:             aws.ToString(n.AvailabilityZoneId),
		SubnetID:         aws.ToString(n.SubnetId),
		VPCID:            aws.ToString(n.VpcId),
		Tags:             convertTags(n.TagSet),
	}
	if sn, ok := subnets[i.SubnetID]; ok {
		i.SubnetName, i.SubnetCIDR = sn.name, sn.cidr
		// DescribeNetworkInterfaces may leave the zone ID (or name) out,
		// which would leave the cost class unknown; an ENI is always in
		// its subnet's zone.
		if i.AZID == "" {
			i.AZID = sn.azID
		}
		if i.AvailabilityZone == "" {
			i.AvailabilityZone = sn.az
		}
	}
	if v, ok := vpcs[i.VPCID]; ok {
		i.VPCName, i.VPCCIDR = v.name, v.cidr
	}
	for _, g := range n.Groups {
		i.SecurityGroups = append(i.SecurityGroups, aws.ToString(g.GroupId))
	}
	addAddr := func(dst []netip.Addr, s *string) []netip.Addr {
		a, err := netip.ParseAddr(aws.ToString(s))
		if err != nil || slices.Contains(dst, a.Unmap()) {
			return dst
		}
		return append(dst, a.Unmap())
	}
	i.PrivateIPs = addAddr(i.PrivateIPs, n.PrivateIpAddress)
	for _, p := range n.PrivateIpAddresses {
		i.PrivateIPs = addAddr(i.PrivateIPs, p.PrivateIpAddress)
		if p.Association != nil {
			i.PublicIPs = addAddr(i.PublicIPs, p.Association.PublicIp)
		}
	}
	for _, p := range n.Ipv6Addresses {
		i.PrivateIPs = addAddr(i.PrivateIPs, p.Ipv6Address)
	}
	if n.Association != nil {
		i.PublicIPs = addAddr(i.PublicIPs, n.Association.PublicIp)
	}
	if n.Attachment != nil && n.Attachment.InstanceId != nil {
		i.Instance = instances[*n.Attachment.InstanceId]
		if i.Instance == nil {
			// Attached to an instance EC2 no longer describes (terminated).
			i.Instance = &stream.Instance{ID: *n.Attachment.InstanceId}
		}
	}
	return i
}

func convertTags(ts []types.Tag) []stream.Tag {
	if len(ts) == 0 {
		return nil
	}
	out := make([]stream.Tag, 0, len(ts))
	for _, t := range ts {
		out = append(out, stream.Tag{Key: aws.ToString(t.Key), Value: aws.ToString(t.Value)})
	}
	slices.SortFunc(out, func(a, b stream.Tag) int { return strings.Compare(a.Key, b.Key) })
	return out
}

func tagValue(tags []stream.Tag, key string) string {
	for _, t := range tags {
		if t.Key == key {
			return t.Value
		}
	}
	return ""
}
