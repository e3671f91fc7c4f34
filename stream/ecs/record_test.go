package ecs

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/flowhose/flowhose/stream"
)

// Formats of the AWS documentation samples used across the tests.
const (
	fmtV2 = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"
	fmtV3 = "version vpc-id subnet-id instance-id interface-id account-id type srcaddr dstaddr srcport dstport pkt-srcaddr pkt-dstaddr protocol bytes packets start end action tcp-flags log-status"
	fmtV5 = "version srcaddr dstaddr srcport dstport protocol start end type packets bytes account-id vpc-id subnet-id instance-id interface-id region az-id sublocation-type sublocation-id action tcp-flags pkt-srcaddr pkt-dstaddr pkt-src-aws-service pkt-dst-aws-service traffic-path flow-direction log-status"
	fmtV8 = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status ecs-cluster-arn ecs-cluster-name ecs-container-instance-arn ecs-container-instance-id ecs-container-id ecs-second-container-id ecs-service-name ecs-task-definition-arn ecs-task-arn ecs-task-id reject-reason"
)

// Sample lines (AWS VPC user guide examples; the v8 line is made up in
// the same shape).
const (
	lineV2Accept = "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK"
	lineV2Reject = "2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 3389 6 20 4249 1418530010 1418530070 REJECT OK"
	lineNoData   = "2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA"
	lineNoData2  = "2 123456789010 eni-11111111aaaaaaaaa - - - - - - - 1431280876 1431280934 - NODATA"
	lineV2ICMP   = "2 123456789010 eni-1235b8ca123456789 203.0.113.12 172.31.16.139 0 0 1 4 336 1432917027 1432917142 ACCEPT OK"
	lineV2IPv6   = "2 123456789010 eni-1235b8ca123456789 2001:db8:1234:a100:8d6e:3477:df66:f105 2001:db8:1234:a102:3304:8879:34cf:4071 34892 22 6 54 8855 1477913708 1477913820 ACCEPT OK"
	lineV3       = "3 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-01234567890123456 eni-1235b8ca123456789 123456789010 IPv4 10.0.0.62 52.213.180.42 5001 43416 10.0.0.62 52.213.180.42 6 376 7 1566848875 1566848933 ACCEPT 18 OK"
	lineV5In     = "5 52.95.128.179 10.0.0.71 80 34210 6 1616729292 1616729349 IPv4 14 15044 123456789012 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-0c50d5961bcb2d47b eni-1235b8ca123456789 ap-southeast-2 apse2-az3 - - ACCEPT 19 52.95.128.179 10.0.0.71 S3 - - ingress OK"
	lineV5Out    = "5 10.0.0.71 52.95.128.179 34210 80 6 1616729292 1616729349 IPv4 7 471 123456789012 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-0c50d5961bcb2d47b eni-1235b8ca123456789 ap-southeast-2 apse2-az3 - - ACCEPT 3 10.0.0.71 52.95.128.179 - S3 8 egress OK"
	lineV8       = "8 123456789010 eni-0123456789abcdef0 198.51.100.23 10.0.3.17 51544 22 6 3 180 1700000000 1700000055 REJECT OK arn:aws:ecs:us-east-1:123456789010:cluster/prod prod arn:aws:ecs:us-east-1:123456789010:container-instance/prod/0a1b2c 0a1b2c 4c2f0e1d9b8a7c6e5f4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f - web arn:aws:ecs:us-east-1:123456789010:task-definition/web:3 arn:aws:ecs:us-east-1:123456789010:task/prod/77aa 77aa BPA"
)

// testRecord builds a record from a line and a format of hyphenated names,
// independently of package decode (unknown names become Extra fields).
func testRecord(t testing.TB, format, line string) *stream.Record {
	t.Helper()
	names, vals := strings.Fields(format), strings.Fields(line)
	if len(names) != len(vals) {
		t.Fatalf("format has %d fields, line %d", len(names), len(vals))
	}
	r := &stream.Record{Raw: line}
	for i, name := range names {
		f := stream.LookupField(name)
		if f == stream.FieldUnknown {
			r.Extra = append(r.Extra, stream.ExtraField{Name: name, Value: vals[i]})
			continue
		}
		if vals[i] == "-" {
			continue
		}
		if err := setField(r, f, vals[i]); err != nil {
			t.Fatalf("field %s: %v", name, err)
		}
	}
	return r
}

func setField(r *stream.Record, f stream.Field, v string) error {
	var err error
	u := func(bits int) uint64 {
		var n uint64
		n, err = strconv.ParseUint(v, 10, bits)
		return n
	}
	ip := func() netip.Addr {
		var a netip.Addr
		a, err = netip.ParseAddr(v)
		return a
	}
	switch f {
	case stream.FieldVersion:
		r.Version = int(u(31))
	case stream.FieldAccountID:
		r.AccountID = v
	case stream.FieldInterfaceID:
		r.InterfaceID = v
	case stream.FieldSrcAddr:
		r.SrcAddr = ip()
	case stream.FieldDstAddr:
		r.DstAddr = ip()
	case stream.FieldSrcPort:
		r.SrcPort = uint16(u(16))
	case stream.FieldDstPort:
		r.DstPort = uint16(u(16))
	case stream.FieldProtocol:
		r.Protocol = uint8(u(8))
	case stream.FieldPackets:
		r.Packets = u(64)
	case stream.FieldBytes:
		r.Bytes = u(64)
	case stream.FieldStart:
		r.Start = int64(u(63))
	case stream.FieldEnd:
		r.End = int64(u(63))
	case stream.FieldAction:
		r.Action = v
	case stream.FieldLogStatus:
		r.LogStatus = v
	case stream.FieldVPCID:
		r.VPCID = v
	case stream.FieldSubnetID:
		r.SubnetID = v
	case stream.FieldInstanceID:
		r.InstanceID = v
	case stream.FieldTCPFlags:
		r.TCPFlags = uint16(u(16))
	case stream.FieldType:
		r.Type = v
	case stream.FieldPktSrcAddr:
		r.PktSrcAddr = ip()
	case stream.FieldPktDstAddr:
		r.PktDstAddr = ip()
	case stream.FieldRegion:
		r.Region = v
	case stream.FieldAZID:
		r.AZID = v
	case stream.FieldSublocationType:
		r.SublocationType = v
	case stream.FieldSublocationID:
		r.SublocationID = v
	case stream.FieldPktSrcAWSService:
		r.PktSrcAWSService = v
	case stream.FieldPktDstAWSService:
		r.PktDstAWSService = v
	case stream.FieldFlowDirection:
		r.FlowDirection = v
	case stream.FieldTrafficPath:
		r.TrafficPath = uint8(u(8))
	case stream.FieldECSClusterARN:
		r.ECSClusterARN = v
	case stream.FieldECSClusterName:
		r.ECSClusterName = v
	case stream.FieldECSContainerInstanceARN:
		r.ECSContainerInstanceARN = v
	case stream.FieldECSContainerInstanceID:
		r.ECSContainerInstanceID = v
	case stream.FieldECSContainerID:
		r.ECSContainerID = v
	case stream.FieldECSSecondContainerID:
		r.ECSSecondContainerID = v
	case stream.FieldECSServiceName:
		r.ECSServiceName = v
	case stream.FieldECSTaskDefinitionARN:
		r.ECSTaskDefinitionARN = v
	case stream.FieldECSTaskARN:
		r.ECSTaskARN = v
	case stream.FieldECSTaskID:
		r.ECSTaskID = v
	case stream.FieldRejectReason:
		r.RejectReason = v
	}
	r.Present.Add(f)
	return err
}
