package decode

import (
	"encoding/json"
	"errors"
	"net/netip"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/flowhose/flowhose/stream"
)

func present(fs ...stream.Field) stream.FieldSet {
	var s stream.FieldSet
	for _, f := range fs {
		s.Add(f)
	}
	return s
}

var v2Fields = []stream.Field{stream.FieldVersion, stream.FieldAccountID, stream.FieldInterfaceID,
	stream.FieldSrcAddr, stream.FieldDstAddr, stream.FieldSrcPort, stream.FieldDstPort, stream.FieldProtocol,
	stream.FieldPackets, stream.FieldBytes, stream.FieldStart, stream.FieldEnd, stream.FieldAction, stream.FieldLogStatus}

const (
	v3Format  = "${version} ${vpc-id} ${subnet-id} ${instance-id} ${interface-id} ${account-id} ${type} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${pkt-srcaddr} ${pkt-dstaddr} ${protocol} ${bytes} ${packets} ${start} ${end} ${action} ${tcp-flags} ${log-status}"
	v4Format  = DefaultFormatString + " ${region} ${az-id} ${sublocation-type} ${sublocation-id}"
	v5Format  = "${version} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${start} ${end} ${type} ${packets} ${bytes} ${account-id} ${vpc-id} ${subnet-id} ${instance-id} ${interface-id} ${region} ${az-id} ${sublocation-type} ${sublocation-id} ${action} ${tcp-flags} ${pkt-srcaddr} ${pkt-dstaddr} ${pkt-src-aws-service} ${pkt-dst-aws-service} ${traffic-path} ${flow-direction} ${log-status}"
	v7Format  = DefaultFormatString + " ${ecs-cluster-arn} ${ecs-cluster-name} ${ecs-container-instance-arn} ${ecs-container-instance-id} ${ecs-container-id} ${ecs-second-container-id} ${ecs-service-name} ${ecs-task-definition-arn} ${ecs-task-arn} ${ecs-task-id}"
	v8Format  = DefaultFormatString + " ${reject-reason}"
	natFormat = "${instance-id} ${interface-id} ${srcaddr} ${dstaddr} ${pkt-srcaddr} ${pkt-dstaddr}"
)

// TestRecordTyped checks hand-written typed records for lines of every
// version, so each field's type and slot are pinned down.
func TestRecordTyped(t *testing.T) {
	ip := netip.MustParseAddr
	tests := []struct {
		name, format, line string
		want               stream.Record
	}{
		{
			name: "v2", format: DefaultFormatString,
			line: "2 123456789010 eni-0a1b2c3d4e5f60718 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK",
			want: stream.Record{Present: present(v2Fields...), Version: 2, AccountID: "123456789010",
				InterfaceID: "eni-0a1b2c3d4e5f60718", SrcAddr: ip("172.31.16.139"), DstAddr: ip("172.31.16.21"),
				SrcPort: 20641, DstPort: 22, Protocol: 6, Packets: 20, Bytes: 4249, Start: 1418530010, End: 1418530070,
				Action: "ACCEPT", LogStatus: "OK"},
		},
		{
			name: "v2 IPv6", format: DefaultFormatString,
			line: "2 123456789010 eni-0a1b2c3d4e5f60718 2001:db8:1234:a100:8d6e:3477:df66:f105 2001:db8:1234:a102:3304:8879:34cf:4071 34892 22 6 54 8855 1477913708 1477913820 ACCEPT OK",
			want: stream.Record{Present: present(v2Fields...), Version: 2, AccountID: "123456789010",
				InterfaceID: "eni-0a1b2c3d4e5f60718", SrcAddr: ip("2001:db8:1234:a100:8d6e:3477:df66:f105"),
				DstAddr: ip("2001:db8:1234:a102:3304:8879:34cf:4071"), SrcPort: 34892, DstPort: 22, Protocol: 6,
				Packets: 54, Bytes: 8855, Start: 1477913708, End: 1477913820, Action: "ACCEPT", LogStatus: "OK"},
		},
		{
			name: "v2 NODATA", format: DefaultFormatString,
			line: "2 123456789010 eni-0a1b2c3d4e5f60718 - - - - - - - 1431280876 1431280934 - NODATA",
			want: stream.Record{Present: present(stream.FieldVersion, stream.FieldAccountID, stream.FieldInterfaceID,
				stream.FieldStart, stream.FieldEnd, stream.FieldLogStatus),
				Version: 2, AccountID: "123456789010", InterfaceID: "eni-0a1b2c3d4e5f60718",
				Start: 1431280876, End: 1431280934, LogStatus: "NODATA"},
		},
		{
			name: "v2 SKIPDATA", format: DefaultFormatString,
			line: "2 123456789010 eni-11111111aaaaaaaaa - - - - - - - 1431280876 1431280934 - SKIPDATA",
			want: stream.Record{Present: present(stream.FieldVersion, stream.FieldAccountID, stream.FieldInterfaceID,
				stream.FieldStart, stream.FieldEnd, stream.FieldLogStatus),
				Version: 2, AccountID: "123456789010", InterfaceID: "eni-11111111aaaaaaaaa",
				Start: 1431280876, End: 1431280934, LogStatus: "SKIPDATA"},
		},
		{
			name: "v3 tcp-flags and packet addresses", format: v3Format,
			line: "3 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-01234567890123456 eni-1235b8ca123456789 123456789010 IPv4 10.0.0.62 52.213.180.42 5001 43416 10.0.0.62 52.213.180.42 6 376 7 1566848875 1566848933 ACCEPT 18 OK",
			want: stream.Record{Present: present(append(v2Fields, stream.FieldVPCID, stream.FieldSubnetID,
				stream.FieldInstanceID, stream.FieldType, stream.FieldPktSrcAddr, stream.FieldPktDstAddr, stream.FieldTCPFlags)...),
				Version: 3, VPCID: "vpc-abcdefab012345678", SubnetID: "subnet-aaaaaaaa012345678",
				InstanceID: "i-01234567890123456", InterfaceID: "eni-1235b8ca123456789", AccountID: "123456789010",
				Type: "IPv4", SrcAddr: ip("10.0.0.62"), DstAddr: ip("52.213.180.42"), SrcPort: 5001, DstPort: 43416,
				PktSrcAddr: ip("10.0.0.62"), PktDstAddr: ip("52.213.180.42"), Protocol: 6, Bytes: 376, Packets: 7,
				Start: 1566848875, End: 1566848933, Action: "ACCEPT", TCPFlags: 18, LogStatus: "OK"},
		},
		{
			name: "v4 outpost", format: v4Format,
			line: "4 123456789012 eni-0f1e2d3c4b5a69788 10.0.9.8 10.0.2.44 51002 443 6 12 1450 1700000000 1700000060 ACCEPT OK us-west-2 - outpost op-0123456789abcdef0",
			want: stream.Record{Present: present(append(v2Fields, stream.FieldRegion, stream.FieldSublocationType,
				stream.FieldSublocationID)...),
				Version: 4, AccountID: "123456789012", InterfaceID: "eni-0f1e2d3c4b5a69788", SrcAddr: ip("10.0.9.8"),
				DstAddr: ip("10.0.2.44"), SrcPort: 51002, DstPort: 443, Protocol: 6, Packets: 12, Bytes: 1450,
				Start: 1700000000, End: 1700000060, Action: "ACCEPT", LogStatus: "OK", Region: "us-west-2",
				SublocationType: "outpost", SublocationID: "op-0123456789abcdef0"},
		},
		{
			name: "v5 egress with traffic path", format: v5Format,
			line: "5 10.0.0.71 52.95.128.179 34210 80 6 1616729292 1616729349 IPv4 7 471 123456789012 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-0c50d5961bcb2d47b eni-1235b8ca123456789 ap-southeast-2 apse2-az3 - - ACCEPT 3 10.0.0.71 52.95.128.179 - S3 8 egress OK",
			want: stream.Record{Present: present(append(v2Fields, stream.FieldType, stream.FieldVPCID, stream.FieldSubnetID,
				stream.FieldInstanceID, stream.FieldRegion, stream.FieldAZID, stream.FieldTCPFlags, stream.FieldPktSrcAddr,
				stream.FieldPktDstAddr, stream.FieldPktDstAWSService, stream.FieldTrafficPath, stream.FieldFlowDirection)...),
				Version: 5, SrcAddr: ip("10.0.0.71"), DstAddr: ip("52.95.128.179"), SrcPort: 34210, DstPort: 80,
				Protocol: 6, Start: 1616729292, End: 1616729349, Type: "IPv4", Packets: 7, Bytes: 471,
				AccountID: "123456789012", VPCID: "vpc-abcdefab012345678", SubnetID: "subnet-aaaaaaaa012345678",
				InstanceID: "i-0c50d5961bcb2d47b", InterfaceID: "eni-1235b8ca123456789", Region: "ap-southeast-2",
				AZID: "apse2-az3", Action: "ACCEPT", TCPFlags: 3, PktSrcAddr: ip("10.0.0.71"),
				PktDstAddr: ip("52.95.128.179"), PktDstAWSService: "S3", TrafficPath: 8, FlowDirection: "egress",
				LogStatus: "OK"},
		},
		{
			name: "v5 ingress with source service", format: v5Format,
			line: "5 52.95.128.179 10.0.0.71 80 34210 6 1616729292 1616729349 IPv4 14 15044 123456789012 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-0c50d5961bcb2d47b eni-1235b8ca123456789 ap-southeast-2 apse2-az3 - - ACCEPT 19 52.95.128.179 10.0.0.71 S3 - - ingress OK",
			want: stream.Record{Present: present(append(v2Fields, stream.FieldType, stream.FieldVPCID, stream.FieldSubnetID,
				stream.FieldInstanceID, stream.FieldRegion, stream.FieldAZID, stream.FieldTCPFlags, stream.FieldPktSrcAddr,
				stream.FieldPktDstAddr, stream.FieldPktSrcAWSService, stream.FieldFlowDirection)...),
				Version: 5, SrcAddr: ip("52.95.128.179"), DstAddr: ip("10.0.0.71"), SrcPort: 80, DstPort: 34210,
				Protocol: 6, Start: 1616729292, End: 1616729349, Type: "IPv4", Packets: 14, Bytes: 15044,
				AccountID: "123456789012", VPCID: "vpc-abcdefab012345678", SubnetID: "subnet-aaaaaaaa012345678",
				InstanceID: "i-0c50d5961bcb2d47b", InterfaceID: "eni-1235b8ca123456789", Region: "ap-southeast-2",
				AZID: "apse2-az3", Action: "ACCEPT", TCPFlags: 19, PktSrcAddr: ip("52.95.128.179"),
				PktDstAddr: ip("10.0.0.71"), PktSrcAWSService: "S3", FlowDirection: "ingress", LogStatus: "OK"},
		},
		{
			name: "v7 ECS on EC2", format: v7Format,
			line: "7 123456789012 eni-0aa11bb22cc33dd44 10.0.12.34 10.0.45.67 48732 8080 6 25 9123 1700000100 1700000160 ACCEPT OK arn:aws:ecs:us-east-1:123456789012:cluster/prod prod arn:aws:ecs:us-east-1:123456789012:container-instance/prod/39623aba81594d79b596c0c5f556d47b 39623aba81594d79b596c0c5f556d47b 0c5c6db7540ca5c4dbc692a53c1d7bab0a4e17e9cf44fc9167659c8687fd13df - web arn:aws:ecs:us-east-1:123456789012:task-definition/web:7 arn:aws:ecs:us-east-1:123456789012:task/prod/b9ad2f8a90b24f7bbce4b0341034852f b9ad2f8a90b24f7bbce4b0341034852f",
			want: stream.Record{Present: present(append(v2Fields, stream.FieldECSClusterARN, stream.FieldECSClusterName,
				stream.FieldECSContainerInstanceARN, stream.FieldECSContainerInstanceID, stream.FieldECSContainerID,
				stream.FieldECSServiceName, stream.FieldECSTaskDefinitionARN, stream.FieldECSTaskARN, stream.FieldECSTaskID)...),
				Version: 7, AccountID: "123456789012", InterfaceID: "eni-0aa11bb22cc33dd44", SrcAddr: ip("10.0.12.34"),
				DstAddr: ip("10.0.45.67"), SrcPort: 48732, DstPort: 8080, Protocol: 6, Packets: 25, Bytes: 9123,
				Start: 1700000100, End: 1700000160, Action: "ACCEPT", LogStatus: "OK",
				ECSClusterARN:           "arn:aws:ecs:us-east-1:123456789012:cluster/prod",
				ECSClusterName:          "prod",
				ECSContainerInstanceARN: "arn:aws:ecs:us-east-1:123456789012:container-instance/prod/39623aba81594d79b596c0c5f556d47b",
				ECSContainerInstanceID:  "39623aba81594d79b596c0c5f556d47b",
				ECSContainerID:          "0c5c6db7540ca5c4dbc692a53c1d7bab0a4e17e9cf44fc9167659c8687fd13df",
				ECSServiceName:          "web",
				ECSTaskDefinitionARN:    "arn:aws:ecs:us-east-1:123456789012:task-definition/web:7",
				ECSTaskARN:              "arn:aws:ecs:us-east-1:123456789012:task/prod/b9ad2f8a90b24f7bbce4b0341034852f",
				ECSTaskID:               "b9ad2f8a90b24f7bbce4b0341034852f"},
		},
		{
			name: "v7 Fargate second container", format: v7Format,
			line: "7 123456789012 eni-0bb22cc33dd44ee55 10.0.13.5 52.94.8.10 39120 443 6 40 22110 1700000100 1700000160 ACCEPT OK arn:aws:ecs:us-east-1:123456789012:cluster/prod prod - - 7e1d3b55 9a8b7c6d api arn:aws:ecs:us-east-1:123456789012:task-definition/api:3 arn:aws:ecs:us-east-1:123456789012:task/prod/2f6d 2f6d",
			want: stream.Record{Present: present(append(v2Fields, stream.FieldECSClusterARN, stream.FieldECSClusterName,
				stream.FieldECSContainerID, stream.FieldECSSecondContainerID, stream.FieldECSServiceName,
				stream.FieldECSTaskDefinitionARN, stream.FieldECSTaskARN, stream.FieldECSTaskID)...),
				Version: 7, AccountID: "123456789012", InterfaceID: "eni-0bb22cc33dd44ee55", SrcAddr: ip("10.0.13.5"),
				DstAddr: ip("52.94.8.10"), SrcPort: 39120, DstPort: 443, Protocol: 6, Packets: 40, Bytes: 22110,
				Start: 1700000100, End: 1700000160, Action: "ACCEPT", LogStatus: "OK",
				ECSClusterARN: "arn:aws:ecs:us-east-1:123456789012:cluster/prod", ECSClusterName: "prod",
				ECSContainerID: "7e1d3b55", ECSSecondContainerID: "9a8b7c6d", ECSServiceName: "api",
				ECSTaskDefinitionARN: "arn:aws:ecs:us-east-1:123456789012:task-definition/api:3",
				ECSTaskARN:           "arn:aws:ecs:us-east-1:123456789012:task/prod/2f6d", ECSTaskID: "2f6d"},
		},
		{
			name: "v8 reject reason", format: v8Format,
			line: "8 123456789012 eni-0cc33dd44ee55ff66 198.51.100.23 10.0.3.17 51544 22 6 1 60 1700000200 1700000260 REJECT OK BPA",
			want: stream.Record{Present: present(append(v2Fields, stream.FieldRejectReason)...),
				Version: 8, AccountID: "123456789012", InterfaceID: "eni-0cc33dd44ee55ff66", SrcAddr: ip("198.51.100.23"),
				DstAddr: ip("10.0.3.17"), SrcPort: 51544, DstPort: 22, Protocol: 6, Packets: 1, Bytes: 60,
				Start: 1700000200, End: 1700000260, Action: "REJECT", LogStatus: "OK", RejectReason: "BPA"},
		},
		{
			name: "NAT format without version", format: natFormat,
			line: "- eni-1235b8ca123456789 10.0.1.5 10.0.0.220 10.0.1.5 203.0.113.5",
			want: stream.Record{Present: present(stream.FieldInterfaceID, stream.FieldSrcAddr, stream.FieldDstAddr,
				stream.FieldPktSrcAddr, stream.FieldPktDstAddr),
				InterfaceID: "eni-1235b8ca123456789", SrcAddr: ip("10.0.1.5"), DstAddr: ip("10.0.0.220"),
				PktSrcAddr: ip("10.0.1.5"), PktDstAddr: ip("203.0.113.5")},
		},
		{
			name: "unknown newer fields kept in Extra", format: "${version} ${srcaddr} ${action} ${resource-id} ${encryption-status} ${interface-type}",
			line: "11 10.0.0.71 REJECT nat-0c50d5961bcb2d47b 1 -",
			want: stream.Record{Present: present(stream.FieldVersion, stream.FieldSrcAddr, stream.FieldAction),
				Version: 11, SrcAddr: ip("10.0.0.71"), Action: "REJECT",
				Extra: []stream.ExtraField{{Name: "resource-id", Value: "nat-0c50d5961bcb2d47b"}, {Name: "encryption-status", Value: "1"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDecoder(t, tt.format)
			var out Output
			d.Text(tt.line+"\n", &out)
			if len(out.Failures) != 0 || len(out.Records) != 1 {
				t.Fatalf("got %d records, failures %+v", len(out.Records), out.Failures)
			}
			tt.want.Raw = tt.line
			if got := out.Records[0]; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestAWSDocExamples decodes every record of the AWS documentation sample
// with its section's format and checks each field's slot and value.
func TestAWSDocExamples(t *testing.T) {
	var doc struct {
		Sections []struct {
			Section string
			Format  string
			Records []struct {
				Record     string
				TokenCount int `json:"token_count"`
			}
		}
	}
	if err := json.Unmarshal(readTestdata(t, "aws-docs-flow-log-record-examples.json"), &doc); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, sec := range doc.Sections {
		t.Run(sec.Section, func(t *testing.T) {
			d := newDecoder(t, sec.Format)
			for _, rec := range sec.Records {
				var r stream.Record
				if err := d.Line(rec.Record, &r); err != nil {
					t.Fatalf("%q: %v", rec.Record, err)
				}
				if r.Raw != rec.Record {
					t.Errorf("Raw = %q", r.Raw)
				}
				checkFields(t, &r, fieldsOf(sec.Format, rec.Record))
				n++
			}
		})
	}
	if n != 27 {
		t.Errorf("decoded %d sample records, want 27", n)
	}
}

// TestVRLExamples compares with the return values Vector's parser documents
// for the same inputs: null means absent, and unknown keys land in Extra.
func TestVRLExamples(t *testing.T) {
	var doc struct {
		Examples []struct {
			Title  string
			Source string
			Return map[string]any
		}
	}
	if err := json.Unmarshal(readTestdata(t, "vrl-parse_aws_vpc_flow_log.json"), &doc); err != nil {
		t.Fatal(err)
	}
	quoted := regexp.MustCompile(`"((?:[^"\\]|\\.)*)"`)
	for _, ex := range doc.Examples {
		t.Run(ex.Title, func(t *testing.T) {
			args := quoted.FindAllStringSubmatch(ex.Source, -1)
			line, format := args[0][1], DefaultFormatString
			if len(args) > 1 {
				format = args[1][1]
			}
			d := newDecoder(t, format)
			var r stream.Record
			if err := d.Line(line, &r); err != nil {
				t.Fatal(err)
			}
			extra := map[string]string{}
			for _, x := range r.Extra {
				extra[x.Name] = x.Value
			}
			for key, v := range ex.Return {
				want := "-"
				switch v := v.(type) {
				case string:
					want = v
				case float64:
					want = strconv.FormatFloat(v, 'f', -1, 64)
				}
				got, ok := extra[key]
				if f := stream.LookupField(key); f != stream.FieldUnknown {
					got, ok = fieldText(&r, f), true
				}
				if !ok {
					got = "-"
				}
				if got != want {
					t.Errorf("%s = %q, want %q", key, got, want)
				}
			}
		})
	}
}

func TestWhitespaceTolerance(t *testing.T) {
	const want = "2 123456789010 eni-1 10.0.0.1 10.0.0.2 1 2 6 3 4 5 6 ACCEPT OK"
	tests := []struct{ name, in string }{
		{"repeated spaces", "2  123456789010 eni-1 10.0.0.1   10.0.0.2 1 2 6 3 4 5 6 ACCEPT OK"},
		{"tabs", "2\t123456789010\teni-1 10.0.0.1\t \t10.0.0.2 1 2 6 3 4 5 6 ACCEPT OK"},
		{"leading and trailing spaces", "  2 123456789010 eni-1 10.0.0.1 10.0.0.2 1 2 6 3 4 5 6 ACCEPT OK   "},
		{"CRLF", "2 123456789010 eni-1 10.0.0.1 10.0.0.2 1 2 6 3 4 5 6 ACCEPT OK\r"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDecoder(t)
			var out Output
			d.Text("\n"+tt.in+"\n\r\n \t\n", &out)
			if len(out.Failures) != 0 || len(out.Records) != 1 || out.Skipped != 0 {
				t.Fatalf("records %d failures %+v skipped %d", len(out.Records), out.Failures, out.Skipped)
			}
			if got := render(defaultFormat, &out.Records[0]); got != want {
				t.Errorf("got %q", got)
			}
			if strings.HasSuffix(out.Records[0].Raw, "\r") {
				t.Errorf("Raw keeps the CR: %q", out.Records[0].Raw)
			}
		})
	}
}

func TestMalformedLines(t *testing.T) {
	const ok = "2 123456789010 eni-1 10.0.0.1 10.0.0.2 1 2 6 3 4 5 6 ACCEPT OK"
	sub := func(i int, v string) string {
		toks := strings.Fields(ok)
		toks[i] = v
		return strings.Join(toks, " ")
	}
	tests := []struct {
		name, line, field, reason string
	}{
		{"too few tokens", "2 123456789010 eni-1", "", "got 3 fields, want 14"},
		{"too many tokens", ok + " extra", "", "got 15 fields, want 14"},
		{"far too many tokens", strings.Repeat("x ", 200), "", "got more than 128 fields, want 14"},
		{"bad integer", sub(8, "12a"), "packets", `"12a" is not an unsigned integer`},
		{"negative integer", sub(10, "-5"), "start", `"-5" is not an unsigned integer`},
		{"port out of range", sub(6, "70000"), "dstport", `"70000" out of range 0-65535`},
		{"protocol out of range", sub(7, "256"), "protocol", `"256" out of range 0-255`},
		{"bytes overflow", sub(9, "18446744073709551616"), "bytes", `"18446744073709551616" out of range 0-18446744073709551615`},
		{"version overflow", sub(0, "2147483648"), "version", `"2147483648" out of range 0-2147483647`},
		{"overflow with junk is not a number", sub(9, "99999999999999999999x"), "bytes", `"99999999999999999999x" is not an unsigned integer`},
		{"bad IPv4", sub(3, "10.0.0.256"), "srcaddr", `"10.0.0.256" is not an IP address`},
		{"bad address", sub(4, "eni-1"), "dstaddr", `"eni-1" is not an IP address`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDecoder(t)
			var out Output
			d.Text(ok+"\n"+tt.line+"\n"+ok, &out)
			if len(out.Records) != 2 {
				t.Errorf("got %d records, want the 2 good lines around the bad one", len(out.Records))
			}
			want := []stream.Failure{{Source: "test", Input: tt.line, Line: 2, Field: tt.field, Reason: tt.reason}}
			if !reflect.DeepEqual(out.Failures, want) {
				t.Fatalf("failures\n got %+v\nwant %+v", out.Failures, want)
			}
			var r stream.Record
			err := d.Line(tt.line, &r)
			var e *Error
			if !errors.As(err, &e) || e.Field != tt.field || e.Reason != tt.reason || e.Line != 0 {
				t.Errorf("Line: %#v", err)
			}
		})
	}
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		e    Error
		want string
	}{
		{Error{Line: 3, Field: "dstport", Reason: `"70000" out of range 0-65535`}, `line 3: field dstport: "70000" out of range 0-65535`},
		{Error{Line: 7, Reason: "got 3 fields, want 14"}, "line 7: got 3 fields, want 14"},
		{Error{Field: "srcaddr", Reason: "bad"}, "field srcaddr: bad"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

func TestLimitsAndInvalidUTF8(t *testing.T) {
	d, err := New(Options{MaxLineBytes: 40, Source: "s"})
	if err != nil {
		t.Fatal(err)
	}
	long := "2 123456789010 eni-1 10.0.0.1 10.0.0.2 1 2 6 3 4 5 6 ACCEPT OK"
	var out Output
	d.Text(long+"\n\xff\xfe", &out)
	want := []stream.Failure{
		{Source: "s", Input: long, Line: 1, Reason: "line of 62 bytes exceeds MaxLineBytes (40)"},
		{Source: "s", Input: "//4=", Line: 2, Reason: "got 1 fields, want 14 (input is base64: not valid UTF-8)"},
	}
	if !reflect.DeepEqual(out.Failures, want) {
		t.Errorf("got  %+v\nwant %+v", out.Failures, want)
	}
}

func TestCandidateFormatsByTokenCount(t *testing.T) {
	d := newDecoder(t, DefaultFormatString, natFormat, v5Format)
	in := strings.Join([]string{
		"2 123456789010 eni-1 10.0.0.1 10.0.0.2 1 2 6 3 4 5 6 ACCEPT OK",
		"- eni-1235b8ca123456789 10.0.1.5 10.0.0.220 10.0.1.5 203.0.113.5",
		"5 52.95.128.179 10.0.0.71 80 34210 6 1616729292 1616729349 IPv4 14 15044 123456789012 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-0c50d5961bcb2d47b eni-1235b8ca123456789 ap-southeast-2 apse2-az3 - - ACCEPT 19 52.95.128.179 10.0.0.71 S3 - - ingress OK",
		"1 2 3",
	}, "\n")
	var out Output
	d.Text(in, &out)
	if len(out.Records) != 3 {
		t.Fatalf("got %d records", len(out.Records))
	}
	for i, want := range []int{2, 0, 5} {
		if out.Records[i].Version != want {
			t.Errorf("record %d version %d, want %d", i, out.Records[i].Version, want)
		}
	}
	if out.Records[1].PktDstAddr != netip.MustParseAddr("203.0.113.5") {
		t.Errorf("NAT line decoded with the wrong format: %+v", out.Records[1])
	}
	if len(out.Failures) != 1 || out.Failures[0].Reason != "got 3 fields, want one of 6, 14, 29" {
		t.Errorf("failures %+v", out.Failures)
	}
}

func TestNew(t *testing.T) {
	a := mustFormat(t, "${srcaddr} ${dstaddr}")
	b := mustFormat(t, "${version} ${action}")
	tests := []struct {
		name string
		opts Options
		want string // error substring; empty for success
	}{
		{"defaults", Options{}, ""},
		{"distinct counts", Options{Formats: []*Format{a, defaultFormat}}, ""},
		{"clashing counts", Options{Formats: []*Format{a, b}}, `formats "${srcaddr} ${dstaddr}" and "${version} ${action}" both have 2 fields`},
		{"nil format", Options{Formats: []*Format{nil}}, "format 1 is empty"},
		{"negative line limit", Options{MaxLineBytes: -1}, "MaxLineBytes must not be negative"},
		{"negative gzip limit", Options{MaxDecompressedBytes: -1}, "MaxDecompressedBytes must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := New(tt.opts)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if d.opts.MaxLineBytes != DefaultMaxLineBytes || d.opts.MaxDecompressedBytes != DefaultMaxDecompressedBytes {
					t.Errorf("defaults not applied: %+v", d.opts)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestParseFormat(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{in: DefaultFormatString, want: DefaultFormatString},
		{in: "version account-id  interface-id", want: "${version} ${account-id} ${interface-id}"},
		{in: "${srcaddr}\t${next-hop-az-id} ${instance-tag-2}", want: "${srcaddr} ${next-hop-az-id} ${instance-tag-2}"},
		{in: "instance_id interface_id", want: "${instance_id} ${interface_id}"},
		{in: "", err: "no fields"},
		{in: "${srcaddr} ${srcaddr}", err: `field "srcaddr" appears twice`},
		{in: "${account-id} ${account_id}", err: `field "account_id" appears twice`},
		{in: "${srcaddr", err: "malformed token"},
		{in: "${}", err: "malformed token"},
		{in: "${Src}", err: "is not a field name"},
		{in: "${a.b}", err: "is not a field name"},
		{in: strings.Repeat("${x} ", 1), want: "${x}"},
	}
	for _, tt := range tests {
		f, err := ParseFormat(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseFormat(%q) err = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseFormat(%q): %v", tt.in, err)
			continue
		}
		if f.String() != tt.want {
			t.Errorf("ParseFormat(%q) = %q, want %q", tt.in, f, tt.want)
		}
	}
	var many strings.Builder
	for i := range MaxFormatFields + 1 {
		many.WriteString("f" + strings.Repeat("a", i/26) + string(rune('a'+i%26)) + " ")
	}
	if _, err := ParseFormat(many.String()); err == nil || !strings.Contains(err.Error(), "more than 128 fields") {
		t.Errorf("too many fields: %v", err)
	}
}
