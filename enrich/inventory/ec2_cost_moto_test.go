package inventory

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/flowhose/flowhose/enrich/derive"
	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/decode"
)

// TestEC2CostClassAgainstMoto runs default-format (v2) records, which carry
// no zone, between instances of one VPC in two zones through the EC2
// inventory and the derived fields, as the enricher does. The zones come
// from the inventory alone, and DescribeNetworkInterfaces may leave the
// ENI's zone ID out: the subnet's must stand in for it.
func TestEC2CostClassAgainstMoto(t *testing.T) {
	url := motoURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const region = "us-east-1"
	c := motoClient(t, ctx, url, region)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	vpc, err := c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.43.0.0/16")})
	must(err)
	subnet := func(cidr, az string) *string {
		sn, err := c.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: vpc.Vpc.VpcId, CidrBlock: aws.String(cidr), AvailabilityZone: aws.String(az)})
		must(err)
		return sn.Subnet.SubnetId
	}
	subnetA, subnetB := subnet("10.43.1.0/24", "us-east-1a"), subnet("10.43.2.0/24", "us-east-1b")
	enis := map[string]string{} // instance name -> its ENI
	for _, in := range []struct {
		name, ip string
		subnet   *string
	}{{"web-1", "10.43.1.10", subnetA}, {"app-1", "10.43.1.11", subnetA}, {"db-1", "10.43.2.20", subnetB}} {
		run, err := c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-12c6146b"), InstanceType: types.InstanceTypeT3Micro,
			MinCount: aws.Int32(1), MaxCount: aws.Int32(1), SubnetId: in.subnet, PrivateIpAddress: aws.String(in.ip),
			TagSpecifications: tagSpec(types.ResourceTypeInstance, "Name", in.name)})
		must(err)
		enis[in.name] = *run.Instances[0].NetworkInterfaces[0].NetworkInterfaceId
	}

	cache := DefaultCache()
	cache.FullSync = true
	inv, err := New(cache, motoSource(t, ctx, url, region, *vpc.Vpc.VpcId), nil, nil)
	must(err)
	runInventory(t, ctx, inv)
	waitFor(t, func() bool { return len(inv.snap.Load().byID) >= 3 })

	dec, err := decode.New(decode.Options{})
	must(err)
	for _, tc := range []struct {
		name, eni, src, dst string
		want                stream.CostClass
	}{
		{"web-1 (us-east-1a) to db-1 (us-east-1b)", enis["web-1"], "10.43.1.10", "10.43.2.20", stream.CostCrossAZ},
		{"db-1 receiving from web-1", enis["db-1"], "10.43.1.10", "10.43.2.20", stream.CostCrossAZ},
		{"web-1 to app-1, both us-east-1a", enis["web-1"], "10.43.1.10", "10.43.1.11", stream.CostSameAZ},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out decode.Output
			dec.Text(fmt.Sprintf("2 123456789012 %s %s %s 40000 5432 6 10 840 1700000000 1700000060 ACCEPT OK", tc.eni, tc.src, tc.dst), &out)
			if len(out.Records) != 1 {
				t.Fatalf("decoded %d records, failures %+v", len(out.Records), out.Failures)
			}
			r := &out.Records[0]
			inv.Enrich(ctx, out.Records)
			derive.Classes(r)
			derive.Apply(r, "")
			e := r.Enrichment
			if e.Interface == nil || e.Src.Interface == nil || e.Dst.Interface == nil {
				t.Fatalf("inventory missed an end: interface %v, source %v, destination %v", e.Interface, e.Src.Interface, e.Dst.Interface)
			}
			for _, i := range []*stream.Interface{e.Interface, e.Src.Interface, e.Dst.Interface} {
				if i.AZID == "" {
					t.Errorf("%s has no zone ID: its subnet's was not used", i.ID)
				}
			}
			if e.Cost != tc.want {
				t.Errorf("cost class = %q, want %q (logging ENI zone %q/%q, source %q/%q, destination %q/%q)", e.Cost, tc.want,
					e.Interface.AvailabilityZone, e.Interface.AZID, e.Src.Interface.AvailabilityZone, e.Src.Interface.AZID,
					e.Dst.Interface.AvailabilityZone, e.Dst.Interface.AZID)
			}
		})
	}
}
