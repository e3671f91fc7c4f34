package inventory

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/flowhose/flowhose/stream"
)

// account is one account's VPC, subnet and ENI created in moto.
type account struct {
	id, role                     string
	vpc, subnet, eni             string
	vpcName, subnetName, eniName string
}

// buildAccount creates a named VPC, subnet and ENI with the credentials of
// cfg. Tests filter on the VPC ids it returns, so earlier runs' and other
// tests' resources in the same moto never match.
func buildAccount(t *testing.T, ctx context.Context, cfg aws.Config, url, cidrPrefix, suffix string) account {
	t.Helper()
	c := ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.BaseEndpoint = aws.String(url) })
	a := account{vpcName: "vpc-" + suffix, subnetName: "subnet-" + suffix, eniName: "eni-" + suffix}
	vpc, err := c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String(cidrPrefix + ".0.0/16"),
		TagSpecifications: tagSpec(types.ResourceTypeVpc, "Name", a.vpcName)})
	if err != nil {
		t.Fatal(err)
	}
	a.vpc = *vpc.Vpc.VpcId
	sn, err := c.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: vpc.Vpc.VpcId, CidrBlock: aws.String(cidrPrefix + ".1.0/24"),
		AvailabilityZone: aws.String("eu-west-1a"), TagSpecifications: tagSpec(types.ResourceTypeSubnet, "Name", a.subnetName)})
	if err != nil {
		t.Fatal(err)
	}
	a.subnet = *sn.Subnet.SubnetId
	eni, err := c.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: sn.Subnet.SubnetId,
		TagSpecifications: tagSpec(types.ResourceTypeNetworkInterface, "Name", a.eniName)})
	if err != nil {
		t.Fatal(err)
	}
	a.eni = *eni.NetworkInterface.NetworkInterfaceId
	return a
}

func TestEC2AssumesRolesAgainstMoto(t *testing.T) {
	url := motoURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const region = "eu-west-1"
	// STS must reach moto too, so the endpoint goes into the base config
	// NewEC2 loads, not only into EC2Config.Endpoint.
	opts := append(staticCreds(region), config.WithBaseEndpoint(url))
	base, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		t.Fatal(err)
	}
	suffix := time.Now().Format("150405.000000000")

	home := buildAccount(t, ctx, base, url, "10.61", "home-"+suffix)
	home.id, home.role = "123456789012", "arn:aws:iam::123456789012:role/flowhose-reader"

	// Moto keys EC2 state by the account behind the access key, so a client
	// holding the assumed role's temporary credentials creates resources in
	// the role's account.
	const otherRole = "arn:aws:iam::111111111111:role/flowhose-reader"
	otherCfg := base.Copy()
	otherCfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(base), otherRole))
	other := buildAccount(t, ctx, otherCfg, url, "10.62", "other-"+suffix)
	other.id, other.role = "111111111111", otherRole

	ecfg := DefaultEC2Config()
	ecfg.Regions = []string{region}
	ecfg.Endpoint = url
	ecfg.VPCIDs = []string{home.vpc, other.vpc}

	check := func(t *testing.T, got []*stream.Interface, want ...account) {
		t.Helper()
		if len(got) != len(want) {
			ids := make([]string, 0, len(got))
			for _, i := range got {
				ids = append(ids, i.ID+"@"+i.AccountID)
			}
			t.Fatalf("got %d ENIs %v, want %d", len(got), ids, len(want))
		}
		for _, a := range want {
			k := slices.IndexFunc(got, func(i *stream.Interface) bool { return i.ID == a.eni })
			if k < 0 {
				t.Errorf("ENI %s of account %s missing", a.eni, a.id)
				continue
			}
			i := got[k]
			for _, c := range []struct{ field, got, want string }{
				{"account", i.AccountID, a.id},
				{"vpc", i.VPCID, a.vpc},
				{"vpc name", i.VPCName, a.vpcName},
				{"subnet", i.SubnetID, a.subnet},
				{"subnet name", i.SubnetName, a.subnetName},
				{"eni name", tagValue(i.Tags, "Name"), a.eniName},
				{"region", i.Region, region},
			} {
				if c.got != c.want {
					t.Errorf("%s: %s = %q, want %q", a.eni, c.field, c.got, c.want)
				}
			}
		}
	}

	// Without roles the other account's VPC, though filtered for, stays
	// invisible: this is what a broken role path would look like.
	t.Run("chain credentials see only their own account", func(t *testing.T) {
		src, err := NewEC2(ctx, ecfg, opts...)
		if err != nil {
			t.Fatal(err)
		}
		got, err := src.All(ctx)
		if err != nil {
			t.Fatal(err)
		}
		check(t, got, home)
	})

	withRoles := ecfg
	withRoles.RoleARNs = []string{home.role, other.role}
	src, err := NewEC2(ctx, withRoles, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("all", func(t *testing.T) {
		got, err := src.All(ctx)
		if err != nil {
			t.Fatal(err)
		}
		check(t, got, home, other)
	})
	t.Run("interfaces", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			want []account
		}{
			{"both", []account{home, other}},
			{"other account only", []account{other}},
		} {
			t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
				var ids []string
				for _, a := range tc.want {
					ids = append(ids, a.eni)
				}
				got, err := src.Interfaces(ctx, append(ids, "eni-doesnotexist"))
				if err != nil {
					t.Fatal(err)
				}
				check(t, got, tc.want...)
			})
		}
	})
}
