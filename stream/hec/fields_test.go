package hec

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/ecs"
)

// checkFields decodes an event and checks what HEC requires of fields:
// every value a string or an array of strings.
func checkFields(t *testing.T, ev []byte) map[string]any {
	t.Helper()
	var e struct {
		Fields map[string]any `json:"fields"`
	}
	if err := json.Unmarshal(ev, &e); err != nil {
		t.Fatalf("invalid JSON: %v: %s", err, ev)
	}
	for k, v := range e.Fields {
		switch v := v.(type) {
		case string:
		case []any:
			for _, x := range v {
				if _, ok := x.(string); !ok {
					t.Fatalf("field %s holds %T in its array: %s", k, x, ev)
				}
			}
		default:
			t.Fatalf("field %s is %T: %s", k, v, ev)
		}
	}
	return e.Fields
}

func enrichedRecord() *stream.Record {
	r := rec(line, stream.FieldStart, stream.FieldEnd, stream.FieldSrcAddr, stream.FieldDstAddr, stream.FieldSrcPort, stream.FieldDstPort, stream.FieldProtocol, stream.FieldInterfaceID)
	r.SrcAddr, r.DstAddr = netip.MustParseAddr("172.31.16.139"), netip.MustParseAddr("172.31.16.21")
	r.SrcPort, r.DstPort, r.Protocol = 20641, 22, 6
	r.Enrichment = stream.Enrichment{
		Cost: stream.CostCrossAZ, Perimeter: "internal", Direction: "egress", ViaNATGateway: true,
		Src: stream.Endpoint{Class: stream.AddrPrivate, Geo: &stream.Geo{CountryISOCode: "DE", ASN: 64500, ASOrganization: "Ex \"AS\""}},
		Dst: stream.Endpoint{Class: stream.AddrPublic, Service: "S3", PortName: "ssh"},
		Interface: &stream.Interface{VPCID: "vpc-1", SubnetName: "app", Tags: []stream.Tag{{Key: "env", Value: "prod"}},
			Instance: &stream.Instance{ID: "i-1", Name: "web", Tags: []stream.Tag{{Key: "a=b", Value: "c\"d"}}}},
	}
	return r
}

func TestShapes(t *testing.T) {
	r := enrichedRecord()
	id := string(ecs.AppendID(nil, r))
	for _, tc := range []struct {
		shape Shape
		want  map[string]any // fields expected, nil: none
		event string         // a substring of the event member
	}{
		{Line, nil, `"event":"` + line + `"`},
		{LineIDField, map[string]any{"flowhose_id": id}, `"event":"` + line + `"`},
		{LineFields, map[string]any{
			"flowhose_id": id, "cost_class": "cross-az", "direction": "internal", "interface_direction": "egress",
			"nat_gateway": "true", "src_class": "private", "src_country": "DE", "src_asn": "64500", "src_as_org": `Ex "AS"`,
			"dest_class": "public", "dest_service": "S3", "dest_port_name": "ssh", "vpc_id": "vpc-1", "subnet_name": "app",
			"instance_id": "i-1", "instance_name": "web", "tags": []any{"env=prod", `a=b=c"d`},
		}, `"event":"` + line + `"`},
		{Document, map[string]any{"flowhose_id": id}, `"event":{"@timestamp":`},
	} {
		e, err := NewShaped(DefaultConfig(), tc.shape, ecs.Encoder{})
		if err != nil {
			t.Fatal(err)
		}
		ev := e.Append(nil, r)
		fields := checkFields(t, ev)
		if !strings.Contains(string(ev), tc.event) || !strings.HasPrefix(string(ev), `{"time":1418530070,`) {
			t.Errorf("shape %d: %s", tc.shape, ev)
		}
		if tc.shape == LineFields {
			if _, ok := fields["community_id"]; !ok {
				t.Errorf("no community_id: %s", ev)
			}
			delete(fields, "community_id")
		}
		got, _ := json.Marshal(fields)
		want, _ := json.Marshal(tc.want)
		if tc.want == nil {
			want = []byte("null")
		}
		if string(got) != string(want) {
			t.Errorf("shape %d fields\n got %s\nwant %s", tc.shape, got, want)
		}
	}
	if _, err := NewShaped(DefaultConfig(), Document+1, ecs.Encoder{}); err == nil {
		t.Error("unknown shape accepted")
	}
}

// FuzzAppendFields checks that every shape is valid JSON with fields HEC
// accepts, whatever the strings enrichment holds.
func FuzzAppendFields(f *testing.F) {
	f.Add(line, "prod", "a\"b", "\xff\x00", uint64(1<<stream.FieldEnd))
	f.Fuzz(func(t *testing.T, raw, k, v, s string, mask uint64) {
		r := enrichedRecord()
		r.Raw, r.Present, r.VPCID, r.Region = raw, stream.FieldSet(mask), s, v
		r.Enrichment.Perimeter, r.Enrichment.Src.Service = s, k
		r.Enrichment.Interface.Tags = []stream.Tag{{Key: k, Value: v}, {Key: v, Value: s}}
		for shape := Line; shape <= Document; shape++ {
			e, err := NewShaped(Config{Index: "i"}, shape, ecs.Encoder{})
			if err != nil {
				t.Fatal(err)
			}
			checkFields(t, e.Append(nil, r))
		}
	})
}
