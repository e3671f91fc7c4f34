package inventory

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/flowhose/flowhose/internal/servicetest"
	"github.com/flowhose/flowhose/stream"
)

// motoURL returns the moto server's URL (see servicetest.Env).
func motoURL(t *testing.T) string {
	t.Helper()
	return servicetest.Env(t, "FLOWHOSE_TEST_MOTO_URL")
}

func staticCreds(region string) []func(*config.LoadOptions) error {
	return []func(*config.LoadOptions) error{
		config.WithRegion(region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("testing", "testing", "")),
	}
}

func tagSpec(rt types.ResourceType, kv ...string) []types.TagSpecification {
	var tags []types.Tag
	for i := 0; i+1 < len(kv); i += 2 {
		tags = append(tags, types.Tag{Key: aws.String(kv[i]), Value: aws.String(kv[i+1])})
	}
	return []types.TagSpecification{{ResourceType: rt, Tags: tags}}
}

// world is what the test created in moto.
type world struct {
	vpc, subnetA, subnetB, instance string
	webENI, dbENI, natENI           string
	webIP, dbIP, natIP              netip.Addr
}

func buildWorld(t *testing.T, ctx context.Context, c *ec2.Client) world {
	t.Helper()
	var w world
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	vpc, err := c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.42.0.0/16"), TagSpecifications: tagSpec(types.ResourceTypeVpc, "Name", "prod-vpc")})
	must(err)
	w.vpc = *vpc.Vpc.VpcId
	sa, err := c.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: vpc.Vpc.VpcId, CidrBlock: aws.String("10.42.1.0/24"), AvailabilityZone: aws.String("eu-west-1a"),
		TagSpecifications: tagSpec(types.ResourceTypeSubnet, "Name", "app-a")})
	must(err)
	w.subnetA = *sa.Subnet.SubnetId
	sb, err := c.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: vpc.Vpc.VpcId, CidrBlock: aws.String("10.42.2.0/24"), AvailabilityZone: aws.String("eu-west-1b"),
		TagSpecifications: tagSpec(types.ResourceTypeSubnet, "Name", "db-b")})
	must(err)
	w.subnetB = *sb.Subnet.SubnetId

	run, err := c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-12c6146b"), InstanceType: types.InstanceTypeT3Micro,
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1), SubnetId: sa.Subnet.SubnetId, PrivateIpAddress: aws.String("10.42.1.10"),
		TagSpecifications: tagSpec(types.ResourceTypeInstance, "Name", "web-1", "team", "checkout")})
	must(err)
	in := run.Instances[0]
	w.instance = *in.InstanceId
	w.webENI = *in.NetworkInterfaces[0].NetworkInterfaceId
	w.webIP = netip.MustParseAddr("10.42.1.10")
	_, err = c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{w.webENI}, Tags: []types.Tag{{Key: aws.String("role"), Value: aws.String("frontend")}}})
	must(err)

	db, err := c.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: sb.Subnet.SubnetId, PrivateIpAddress: aws.String("10.42.2.20"),
		Description: aws.String("database"), TagSpecifications: tagSpec(types.ResourceTypeNetworkInterface, "Name", "db-eni")})
	must(err)
	w.dbENI, w.dbIP = *db.NetworkInterface.NetworkInterfaceId, netip.MustParseAddr("10.42.2.20")

	nat, err := c.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: sa.Subnet.SubnetId, PrivateIpAddress: aws.String("10.42.1.99"),
		Description: aws.String("nat"), TagSpecifications: tagSpec(types.ResourceTypeNetworkInterface, "Name", "nat-eni")})
	must(err)
	w.natENI, w.natIP = *nat.NetworkInterface.NetworkInterfaceId, netip.MustParseAddr("10.42.1.99")
	return w
}

// motoClient returns an EC2 client of region on the moto server at url,
// for building the resources a test reads.
func motoClient(t *testing.T, ctx context.Context, url, region string) *ec2.Client {
	t.Helper()
	awsCfg, err := config.LoadDefaultConfig(ctx, append(staticCreds(region), config.WithBaseEndpoint(url))...)
	if err != nil {
		t.Fatal(err)
	}
	return ec2.NewFromConfig(awsCfg)
}

// motoSource returns the EC2 source reading VPC vpc of region on the moto
// server at url.
func motoSource(t *testing.T, ctx context.Context, url, region, vpc string) *EC2 {
	t.Helper()
	ecfg := DefaultEC2Config()
	ecfg.Regions = []string{region}
	ecfg.Endpoint = url
	ecfg.VPCIDs = []string{vpc}
	src, err := NewEC2(ctx, ecfg, staticCreds(region)...)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// runInventory runs inv until the test ends.
func runInventory(t *testing.T, ctx context.Context, inv *Inventory) {
	ctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { inv.Run(ctx); close(done) }()
	t.Cleanup(func() { stop(); <-done })
}

func TestEC2AgainstMoto(t *testing.T) {
	url := motoURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const region = "eu-west-1"
	w := buildWorld(t, ctx, motoClient(t, ctx, url, region))
	src := motoSource(t, ctx, url, region, w.vpc)

	for _, fullSync := range []bool{true, false} {
		t.Run(map[bool]string{true: "full sync", false: "on demand"}[fullSync], func(t *testing.T) {
			cache := DefaultCache()
			cache.FullSync = fullSync
			cache.WaitBudget = 5 * time.Second
			inv, err := New(cache, src, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			runInventory(t, ctx, inv)
			if !fullSync {
				// Teach the on-demand inventory the db ENI first, so the
				// address index knows the peer.
				warm := []stream.Record{record(w.dbENI, w.dbIP, w.webIP)}
				inv.Enrich(ctx, warm)
				if warm[0].Enrichment.Interface == nil {
					t.Fatal("db ENI not found within the wait budget")
				}
			} else {
				waitFor(t, func() bool { return len(inv.snap.Load().byID) >= 3 })
			}

			recs := []stream.Record{record(w.webENI, w.webIP, w.dbIP), record("eni-doesnotexist", w.webIP, w.dbIP)}
			inv.Enrich(ctx, recs)
			e := recs[0].Enrichment
			i := e.Interface
			if i == nil {
				t.Fatal("web ENI not enriched")
			}
			checks := []struct{ field, got, want string }{
				{"id", i.ID, w.webENI},
				{"vpc", i.VPCID, w.vpc},
				{"vpc name", i.VPCName, "prod-vpc"},
				{"vpc cidr", i.VPCCIDR, "10.42.0.0/16"},
				{"subnet", i.SubnetID, w.subnetA},
				{"subnet name", i.SubnetName, "app-a"},
				{"subnet cidr", i.SubnetCIDR, "10.42.1.0/24"},
				{"az", i.AvailabilityZone, "eu-west-1a"},
				{"region", i.Region, region},
				{"eni tag", tagValue(i.Tags, "role"), "frontend"},
			}
			if i.Instance == nil {
				t.Fatal("no instance on the web ENI")
			}
			checks = append(checks, []struct{ field, got, want string }{
				{"instance id", i.Instance.ID, w.instance},
				{"instance name", i.Instance.Name, "web-1"},
				{"instance tag", tagValue(i.Instance.Tags, "team"), "checkout"},
				{"instance type", i.Instance.Type, "t3.micro"},
				{"image", i.Instance.ImageID, "ami-12c6146b"},
				{"state", i.Instance.State, "running"},
			}...)
			for _, c := range checks {
				if c.got != c.want {
					t.Errorf("%s = %q, want %q", c.field, c.got, c.want)
				}
			}
			if i.Instance.LaunchTime.IsZero() {
				t.Error("launch time missing")
			}
			if e.Src.Interface != i {
				t.Errorf("source address not resolved to the web ENI: %+v", e.Src.Interface)
			}
			peer := e.Dst.Interface
			if peer == nil || peer.ID != w.dbENI || peer.SubnetName != "db-b" || peer.AvailabilityZone != "eu-west-1b" || peer.Description != "database" {
				t.Errorf("peer = %+v, want the db ENI in db-b, eu-west-1b", peer)
			}
			if recs[1].Enrichment.Interface != nil {
				t.Error("unknown ENI enriched")
			}
			if recs[1].Enrichment.Dst.Interface == nil {
				t.Error("peer of an unknown ENI's record not enriched from the address index")
			}
			if e, ok := inv.snap.Load().byID["eni-doesnotexist"]; !ok || e.iface != nil {
				t.Error("unknown ENI not negatively cached")
			}
		})
	}
}

func record(eni string, src, dst netip.Addr) stream.Record {
	r := stream.Record{InterfaceID: eni, SrcAddr: src, DstAddr: dst}
	r.Present.Add(stream.FieldInterfaceID)
	r.Present.Add(stream.FieldSrcAddr)
	r.Present.Add(stream.FieldDstAddr)
	return r
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 30s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
