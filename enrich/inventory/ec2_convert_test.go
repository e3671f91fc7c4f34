package inventory

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// TestConvertENIZoneFromSubnet checks that an ENI whose description lacks
// its zone takes it from its subnet, which DescribeSubnets always fills:
// without a zone ID the cost class of every flow of the ENI is unknown.
func TestConvertENIZoneFromSubnet(t *testing.T) {
	subnets := map[string]subnet{"subnet-b": {name: "db-b", az: "us-east-1b", azID: "use1-az2"}}
	tests := []struct {
		name             string
		eni              types.NetworkInterface
		wantAZ, wantAZID string
	}{
		{"zone missing", types.NetworkInterface{NetworkInterfaceId: aws.String("eni-1"), SubnetId: aws.String("subnet-b")},
			"us-east-1b", "use1-az2"},
		{"zone id missing", types.NetworkInterface{NetworkInterfaceId: aws.String("eni-2"), SubnetId: aws.String("subnet-b"),
			AvailabilityZone: aws.String("us-east-1b")}, "us-east-1b", "use1-az2"},
		{"the ENI's own zone wins", types.NetworkInterface{NetworkInterfaceId: aws.String("eni-3"), SubnetId: aws.String("subnet-b"),
			AvailabilityZone: aws.String("us-east-1x"), AvailabilityZoneId: aws.String("use1-az9")}, "us-east-1x", "use1-az9"},
		{"subnet unknown", types.NetworkInterface{NetworkInterfaceId: aws.String("eni-4"), SubnetId: aws.String("subnet-gone")},
			"", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			i := convertENI("us-east-1", tc.eni, nil, subnets, nil)
			if i.AvailabilityZone != tc.wantAZ || i.AZID != tc.wantAZID {
				t.Errorf("zone = %q (%q), want %q (%q)", i.AvailabilityZone, i.AZID, tc.wantAZ, tc.wantAZID)
			}
		})
	}
}
