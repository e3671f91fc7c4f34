package decode

import (
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/flowhose/flowhose/stream"
)

// flowlogs is the repository's shared flow-log test data folder.
var flowlogs = filepath.Join("..", "..", "testdata", "flowlogs")

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(flowlogs, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newDecoder(t testing.TB, formats ...string) *Decoder {
	t.Helper()
	var opts Options
	opts.Source = "test"
	for _, s := range formats {
		opts.Formats = append(opts.Formats, mustFormat(t, s))
	}
	d, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func mustFormat(t testing.TB, s string) *Format {
	t.Helper()
	f, err := ParseFormat(s)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// fieldText renders field f of r the way a flow-log line spells it, "-"
// when absent. Tests use it to compare records with expectations written
// as text and to re-render decoded records.
func fieldText(r *stream.Record, f stream.Field) string {
	if !r.Has(f) {
		return "-"
	}
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	a := func(v netip.Addr) string { return v.String() }
	switch f {
	case stream.FieldVersion:
		return strconv.Itoa(r.Version)
	case stream.FieldAccountID:
		return r.AccountID
	case stream.FieldInterfaceID:
		return r.InterfaceID
	case stream.FieldSrcAddr:
		return a(r.SrcAddr)
	case stream.FieldDstAddr:
		return a(r.DstAddr)
	case stream.FieldSrcPort:
		return u(uint64(r.SrcPort))
	case stream.FieldDstPort:
		return u(uint64(r.DstPort))
	case stream.FieldProtocol:
		return u(uint64(r.Protocol))
	case stream.FieldPackets:
		return u(r.Packets)
	case stream.FieldBytes:
		return u(r.Bytes)
	case stream.FieldStart:
		return strconv.FormatInt(r.Start, 10)
	case stream.FieldEnd:
		return strconv.FormatInt(r.End, 10)
	case stream.FieldAction:
		return r.Action
	case stream.FieldLogStatus:
		return r.LogStatus
	case stream.FieldVPCID:
		return r.VPCID
	case stream.FieldSubnetID:
		return r.SubnetID
	case stream.FieldInstanceID:
		return r.InstanceID
	case stream.FieldTCPFlags:
		return u(uint64(r.TCPFlags))
	case stream.FieldType:
		return r.Type
	case stream.FieldPktSrcAddr:
		return a(r.PktSrcAddr)
	case stream.FieldPktDstAddr:
		return a(r.PktDstAddr)
	case stream.FieldRegion:
		return r.Region
	case stream.FieldAZID:
		return r.AZID
	case stream.FieldSublocationType:
		return r.SublocationType
	case stream.FieldSublocationID:
		return r.SublocationID
	case stream.FieldPktSrcAWSService:
		return r.PktSrcAWSService
	case stream.FieldPktDstAWSService:
		return r.PktDstAWSService
	case stream.FieldFlowDirection:
		return r.FlowDirection
	case stream.FieldTrafficPath:
		return u(uint64(r.TrafficPath))
	case stream.FieldECSClusterARN:
		return r.ECSClusterARN
	case stream.FieldECSClusterName:
		return r.ECSClusterName
	case stream.FieldECSContainerInstanceARN:
		return r.ECSContainerInstanceARN
	case stream.FieldECSContainerInstanceID:
		return r.ECSContainerInstanceID
	case stream.FieldECSContainerID:
		return r.ECSContainerID
	case stream.FieldECSSecondContainerID:
		return r.ECSSecondContainerID
	case stream.FieldECSServiceName:
		return r.ECSServiceName
	case stream.FieldECSTaskDefinitionARN:
		return r.ECSTaskDefinitionARN
	case stream.FieldECSTaskARN:
		return r.ECSTaskARN
	case stream.FieldECSTaskID:
		return r.ECSTaskID
	case stream.FieldRejectReason:
		return r.RejectReason
	}
	return "?"
}

// render writes r back as a line of format f.
func render(f *Format, r *stream.Record) string {
	toks := make([]string, len(f.fields))
	for i, field := range f.fields {
		toks[i] = "-"
		if field != stream.FieldUnknown {
			toks[i] = fieldText(r, field)
			continue
		}
		for _, x := range r.Extra {
			if x.Name == f.names[i] {
				toks[i] = x.Value
			}
		}
	}
	return strings.Join(toks, " ")
}

// checkFields compares every modelled field of r with want, a map from
// field name to its text ("-" or missing: absent).
func checkFields(t *testing.T, r *stream.Record, want map[string]string) {
	t.Helper()
	for f := stream.Field(1); int(f) < stream.NumFields; f++ {
		w, ok := want[f.String()]
		if !ok {
			w = "-"
		}
		if got := fieldText(r, f); got != w {
			t.Errorf("%s = %q, want %q", f, got, w)
		}
	}
	for name := range want {
		if stream.LookupField(name) == stream.FieldUnknown {
			t.Errorf("expectation names unknown field %q", name)
		}
	}
}

// fieldsOf builds an expectation map from a format's names and a line.
func fieldsOf(format, line string) map[string]string {
	m := map[string]string{}
	names := strings.Fields(format)
	vals := strings.Fields(line)
	for i, n := range names {
		m[strings.Trim(n, "${}")] = vals[i]
	}
	return m
}
