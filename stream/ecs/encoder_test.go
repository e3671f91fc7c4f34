package ecs

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/flowhose/flowhose/stream"
)

// decodeDoc encodes r and unmarshals the document, failing on invalid JSON.
func decodeDoc(t *testing.T, e *Encoder, r *stream.Record) map[string]any {
	t.Helper()
	out := e.Append(nil, r)
	if !json.Valid(out) {
		t.Fatalf("invalid JSON: %s", out)
	}
	var doc map[string]any
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("unmarshal: %v\n%s", err, out)
	}
	return doc
}

// lookup walks a dotted path through nested objects.
func lookup(doc map[string]any, path string) (any, bool) {
	var cur any = doc
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[k]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// strs builds the []any that json.Unmarshal yields for a string array.
func strs(s ...string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func TestAppendMapping(t *testing.T) {
	common := map[string]any{
		"ecs.version":           "8.11.0",
		"event.kind":            "event",
		"event.category":        strs("network"),
		"event.dataset":         "aws.vpcflow",
		"data_stream.type":      "logs",
		"data_stream.dataset":   "aws.vpcflow",
		"data_stream.namespace": "default",
		"cloud.provider":        "aws",
	}
	tests := []struct {
		name   string
		format string
		line   string
		want   map[string]any
		absent []string
	}{
		{
			name: "v2 accept", format: fmtV2, line: lineV2Accept,
			want: map[string]any{
				"@timestamp":               "2014-12-14T04:07:50Z",
				"event.start":              "2014-12-14T04:06:50Z",
				"event.end":                "2014-12-14T04:07:50Z",
				"event.duration":           60e9,
				"event.type":               strs("connection", "allowed"),
				"event.action":             "accept",
				"event.outcome":            "success",
				"source.address":           "172.31.16.139",
				"source.ip":                "172.31.16.139",
				"source.port":              20641.0,
				"source.bytes":             4249.0,
				"source.packets":           20.0,
				"destination.address":      "172.31.16.21",
				"destination.ip":           "172.31.16.21",
				"destination.port":         22.0,
				"network.transport":        "tcp",
				"network.iana_number":      "6",
				"network.bytes":            4249.0,
				"network.packets":          20.0,
				"network.type":             "ipv4",
				"network.community_id":     "1:78twGw5/iHs2/5/1899dIS6GfPc=",
				"cloud.account.id":         "123456789010",
				"related.ip":               strs("172.31.16.139", "172.31.16.21"),
				"aws.vpcflow.version":      2.0,
				"aws.vpcflow.account_id":   "123456789010",
				"aws.vpcflow.interface_id": "eni-1235b8ca123456789",
				"aws.vpcflow.srcaddr":      "172.31.16.139",
				"aws.vpcflow.dstaddr":      "172.31.16.21",
				"aws.vpcflow.srcport":      20641.0,
				"aws.vpcflow.dstport":      22.0,
				"aws.vpcflow.protocol":     6.0,
				"aws.vpcflow.packets":      20.0,
				"aws.vpcflow.bytes":        4249.0,
				"aws.vpcflow.start":        1418530010.0,
				"aws.vpcflow.end":          1418530070.0,
				"aws.vpcflow.action":       "ACCEPT",
				"aws.vpcflow.log_status":   "OK",
			},
			absent: []string{"event.original", "event.reason", "network.direction", "orchestrator", "container", "service", "aws.cloudwatch", "cloud.region", "aws.vpcflow.tcp_flags_array"},
		},
		{
			name: "v2 reject", format: fmtV2, line: lineV2Reject,
			want: map[string]any{
				"event.type":           strs("connection", "denied"),
				"event.action":         "reject",
				"event.outcome":        "failure",
				"network.community_id": "1:uNfXEHxtOFkEsLzQLEzproPA1iU=",
			},
		},
		{
			name: "NODATA", format: fmtV2, line: lineNoData,
			want: map[string]any{
				"@timestamp":             "2015-05-10T18:02:14Z",
				"event.type":             strs("connection"),
				"aws.vpcflow.log_status": "NODATA",
				"cloud.account.id":       "123456789010",
			},
			absent: []string{"source", "destination", "network", "related", "event.action", "event.outcome", "aws.vpcflow.srcaddr", "aws.vpcflow.action"},
		},
		{
			name: "v2 IPv6", format: fmtV2, line: lineV2IPv6,
			want: map[string]any{
				"@timestamp":           "2016-10-31T11:37:00Z",
				"event.start":          "2016-10-31T11:35:08Z",
				"source.ip":            "2001:db8:1234:a100:8d6e:3477:df66:f105",
				"network.type":         "ipv6",
				"network.community_id": "1:hXZclvxUJScaVf0xMIJR6yW6tBQ=",
			},
		},
		{
			name: "v2 ICMP", format: fmtV2, line: lineV2ICMP,
			want: map[string]any{
				"network.transport":   "icmp",
				"network.iana_number": "1",
				"source.port":         0.0,
			},
		},
		{
			name: "v3 tcp flags and packet addresses", format: fmtV3, line: lineV3,
			want: map[string]any{
				"aws.vpcflow.tcp_flags":       18.0,
				"aws.vpcflow.tcp_flags_array": strs("syn", "ack"),
				"aws.vpcflow.type":            "IPv4",
				"aws.vpcflow.pkt_srcaddr":     "10.0.0.62",
				"cloud.instance.id":           "i-01234567890123456",
				"aws.vpcflow.vpc_id":          "vpc-abcdefab012345678",
				"aws.vpcflow.subnet_id":       "subnet-aaaaaaaa012345678",
				"related.ip":                  strs("10.0.0.62", "52.213.180.42"),
			},
		},
		{
			name: "v5 ingress", format: fmtV5, line: lineV5In,
			want: map[string]any{
				"network.direction":               "ingress",
				"network.community_id":            "1:b331cOeX1JF5o9HeF19CO0WYIbw=",
				"cloud.region":                    "ap-southeast-2",
				"cloud.availability_zone":         "apse2-az3",
				"aws.vpcflow.az_id":               "apse2-az3",
				"aws.vpcflow.region":              "ap-southeast-2",
				"aws.vpcflow.pkt_src_aws_service": "S3",
				"aws.vpcflow.flow_direction":      "ingress",
				"aws.vpcflow.tcp_flags_array":     strs("fin", "syn", "ack"),
			},
			absent: []string{"aws.vpcflow.traffic_path", "aws.vpcflow.pkt_dst_aws_service", "aws.vpcflow.sublocation_type"},
		},
		{
			name: "v5 egress", format: fmtV5, line: lineV5Out,
			want: map[string]any{
				"network.direction":               "egress",
				"network.community_id":            "1:b331cOeX1JF5o9HeF19CO0WYIbw=",
				"aws.vpcflow.traffic_path":        8.0,
				"aws.vpcflow.pkt_dst_aws_service": "S3",
			},
		},
		{
			name: "v8 ECS and reject reason", format: fmtV8, line: lineV8,
			want: map[string]any{
				"event.reason":                        "BPA",
				"event.type":                          strs("connection", "denied"),
				"network.community_id":                "1:rzdnqeBSER6BBvZtF234cWNmojE=",
				"orchestrator.cluster.id":             "arn:aws:ecs:us-east-1:123456789010:cluster/prod",
				"orchestrator.cluster.name":           "prod",
				"orchestrator.type":                   "ecs",
				"orchestrator.resource.id":            "0a1b2c",
				"orchestrator.resource.name":          "arn:aws:ecs:us-east-1:123456789010:container-instance/prod/0a1b2c",
				"orchestrator.resource.type":          "container",
				"container.id":                        "4c2f0e1d9b8a7c6e5f4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f",
				"service.name":                        "web",
				"aws.vpcflow.ecs_task_id":             "77aa",
				"aws.vpcflow.ecs_task_arn":            "arn:aws:ecs:us-east-1:123456789010:task/prod/77aa",
				"aws.vpcflow.ecs_task_definition_arn": "arn:aws:ecs:us-east-1:123456789010:task-definition/web:3",
				"aws.vpcflow.reject_reason":           "BPA",
			},
			absent: []string{"aws.vpcflow.ecs_second_container_id"},
		},
		{
			name:   "NAT format without times",
			format: "instance-id interface-id srcaddr dstaddr pkt-srcaddr pkt-dstaddr",
			line:   "- eni-1235b8ca123456789 10.0.1.5 10.0.0.220 10.0.1.5 203.0.113.5",
			want: map[string]any{
				"related.ip":              strs("10.0.1.5", "10.0.0.220", "203.0.113.5"),
				"aws.vpcflow.pkt_dstaddr": "203.0.113.5",
				"network.type":            "ipv4",
			},
			absent: []string{"@timestamp", "event.start", "event.duration", "network.community_id", "cloud.instance", "source.port"},
		},
		{
			name:   "unknown fields",
			format: "version srcaddr encryption-status next-hop.vpc-id tcp_flags_array resource-id resource_id",
			line:   "10 10.0.0.1 1 vpc-1 x - r1",
			want: map[string]any{
				"aws.vpcflow.encryption_status": "1",
				"aws.vpcflow.next_hop_vpc_id":   "vpc-1",
				"aws.vpcflow.resource_id":       "r1",
				"aws.vpcflow.version":           10.0,
			},
			// tcp_flags_array is reserved; "-" is absence.
			absent: []string{"aws.vpcflow.tcp_flags_array", "aws.vpcflow.next-hop"},
		},
	}
	var e Encoder
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc := decodeDoc(t, &e, testRecord(t, tc.format, tc.line))
			for k, v := range common {
				if got, _ := lookup(doc, k); !reflect.DeepEqual(got, v) {
					t.Errorf("%s = %#v, want %#v", k, got, v)
				}
			}
			for k, v := range tc.want {
				if got, _ := lookup(doc, k); !reflect.DeepEqual(got, v) {
					t.Errorf("%s = %#v, want %#v", k, got, v)
				}
			}
			for _, k := range tc.absent {
				if got, ok := lookup(doc, k); ok {
					t.Errorf("%s = %#v, want absent", k, got)
				}
			}
		})
	}
}

func TestAppendOptions(t *testing.T) {
	r := testRecord(t, fmtV2, lineV2Accept)
	r.Origin = stream.Origin{LogGroup: "/vpc/flow", LogStream: "eni-1235b8ca123456789-all", Owner: "123456789010"}
	e := Encoder{Dataset: "custom.flows", Namespace: "prod", Original: true}
	doc := decodeDoc(t, &e, r)
	want := map[string]any{
		"event.dataset":             "custom.flows",
		"data_stream.dataset":       "custom.flows",
		"data_stream.namespace":     "prod",
		"event.original":            lineV2Accept,
		"aws.cloudwatch.log_group":  "/vpc/flow",
		"aws.cloudwatch.log_stream": "eni-1235b8ca123456789-all",
		"aws.cloudwatch.owner":      "123456789010",
	}
	for k, v := range want {
		if got, _ := lookup(doc, k); got != v {
			t.Errorf("%s = %#v, want %#v", k, got, v)
		}
	}
}

// TestAppendHostile checks that values from untrusted input never break
// the document: escapes, invalid UTF-8, invalid addresses, odd times.
func TestAppendHostile(t *testing.T) {
	r := &stream.Record{
		Raw:        "bad \"line\"\\ \x00\x1f\xff\xfe end\n",
		AccountID:  "a\"b\\c\n\t\x01",
		Action:     "ACCEPT\xff",
		SrcAddr:    netip.Addr{}, // present but invalid: must be skipped
		DstAddr:    netip.MustParseAddr("::ffff:10.0.0.1"),
		PktSrcAddr: netip.MustParseAddr(`fe80::1%"x\y`), // zones may hold anything
		Start:      -1 << 63,
		End:        1 << 62,
		Extra:      []stream.ExtraField{{Name: "we\"ird\xff", Value: "v\x00"}, {Name: "", Value: "e"}, {Name: "-", Value: "dup"}},
	}
	for _, f := range []stream.Field{stream.FieldAccountID, stream.FieldAction, stream.FieldSrcAddr, stream.FieldDstAddr, stream.FieldPktSrcAddr, stream.FieldStart, stream.FieldEnd} {
		r.Present.Add(f)
	}
	doc := decodeDoc(t, &Encoder{Original: true}, r)
	want := map[string]any{
		"event.original":          "bad \"line\"\\ \x00\x1f\uFFFD\uFFFD end\n",
		"cloud.account.id":        "a\"b\\c\n\t\x01",
		"event.action":            "accept\uFFFD",
		"aws.vpcflow.we_ird_":     "v\x00",
		"aws.vpcflow._":           "e",
		"network.type":            "ipv4",
		"destination.ip":          "::ffff:10.0.0.1",
		"aws.vpcflow.start":       float64(-1 << 63),
		"aws.vpcflow.dstaddr":     "::ffff:10.0.0.1",
		"aws.vpcflow.account_id":  "a\"b\\c\n\t\x01",
		"event.type":              strs("connection"),
		"related.ip":              strs("::ffff:10.0.0.1", "fe80::1"),
		"aws.vpcflow.pkt_srcaddr": "fe80::1",
		"destination.address":     "::ffff:10.0.0.1",
		"aws.vpcflow.action":      "ACCEPT\uFFFD",
		"aws.vpcflow.end":         float64(1 << 62),
		"data_stream.namespace":   "default",
		"ecs.version":             "8.11.0",
		"cloud.provider":          "aws",
		"event.kind":              "event",
		"event.dataset":           "aws.vpcflow",
		"data_stream.dataset":     "aws.vpcflow",
		"data_stream.type":        "logs",
		"event.category":          strs("network"),
	}
	for k, v := range want {
		if got, _ := lookup(doc, k); !reflect.DeepEqual(got, v) {
			t.Errorf("%s = %#v, want %#v", k, got, v)
		}
	}
	for _, k := range []string{"@timestamp", "event.start", "event.end", "event.duration", "source", "aws.vpcflow.srcaddr", "event.outcome", "network.community_id"} {
		if got, ok := lookup(doc, k); ok {
			t.Errorf("%s = %#v, want absent", k, got)
		}
	}
}

func TestAppendZeroAlloc(t *testing.T) {
	var e Encoder
	recs := []*stream.Record{
		testRecord(t, fmtV2, lineV2Accept),
		testRecord(t, fmtV5, lineV5In),
		testRecord(t, fmtV8, lineV8),
		testRecord(t, fmtV2, lineV2ICMP),
	}
	buf := make([]byte, 0, 8192)
	for _, r := range recs {
		allocs := testing.AllocsPerRun(100, func() {
			buf = e.Append(buf[:0], r)
			buf = AppendID(buf[:0], r)
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per record, want 0", r.Raw[:20], allocs)
		}
	}
}
