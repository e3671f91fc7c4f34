package decode

import (
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the generated sample files in testdata/flowlogs")

const (
	sampleLines = 400
	sampleFile  = "sample-v2.log"
	v2Header    = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"
)

// flowGen produces deterministic, varied flows for the sample file and the
// benchmarks: private and public IPv4, some IPv6, TCP/UDP/ICMP, rejects, and
// the odd NODATA or SKIPDATA record.
type flowGen struct {
	rng  *rand.Rand
	t    int64
	enis []string
}

func newFlowGen() *flowGen {
	g := &flowGen{rng: rand.New(rand.NewPCG(1, 2)), t: 1700000000}
	for i := range 8 {
		g.enis = append(g.enis, fmt.Sprintf("eni-0%016x", uint64(i+1)*0x9e3779b97f4a7c15>>4))
	}
	return g
}

func (g *flowGen) addr() string {
	r := g.rng
	switch r.IntN(10) {
	case 0:
		return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0x12, 0x34, 0xa1, byte(r.IntN(4)),
			byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())}).String()
	case 1, 2, 3:
		return fmt.Sprintf("%d.%d.%d.%d", []int{52, 54, 3, 198, 203}[r.IntN(5)], r.IntN(256), r.IntN(256), 1+r.IntN(254))
	default:
		return fmt.Sprintf("10.0.%d.%d", r.IntN(16), 1+r.IntN(254))
	}
}

// v2 returns one default-format line.
func (g *flowGen) v2() string {
	r := g.rng
	g.t += int64(r.IntN(3))
	eni := g.enis[r.IntN(len(g.enis))]
	start, end := g.t, g.t+int64(1+r.IntN(60))
	switch r.IntN(50) {
	case 0:
		return fmt.Sprintf("2 123456789012 %s - - - - - - - %d %d - NODATA", eni, start, end)
	case 1:
		return fmt.Sprintf("2 123456789012 %s - - - - - - - %d %d - SKIPDATA", eni, start, end)
	}
	src, dst := g.addr(), g.addr()
	for strings.Contains(src, ":") != strings.Contains(dst, ":") {
		dst = g.addr()
	}
	proto, sport, dport := 6, 1024+r.IntN(64000), []int{22, 80, 443, 3389, 5432, 8080}[r.IntN(6)]
	switch r.IntN(8) {
	case 0:
		proto, dport = 17, 53
	case 1:
		proto, sport, dport = 1, 0, 0
	}
	action := "ACCEPT"
	if r.IntN(5) == 0 {
		action = "REJECT"
	}
	packets := 1 + r.IntN(2000)
	return fmt.Sprintf("2 123456789012 %s %s %s %d %d %d %d %d %d %d %s OK",
		eni, src, dst, sport, dport, proto, packets, packets*(40+r.IntN(1400)), start, end, action)
}

// v5 returns one line of v5Format built from a v2 flow.
func (g *flowGen) v5() string {
	f := strings.Fields(g.v2())
	dir, path := "ingress", "-"
	if g.rng.IntN(2) == 0 {
		dir, path = "egress", "1"
	}
	typ := "IPv4"
	if strings.Contains(f[3], ":") {
		typ = "IPv6"
	}
	// version srcaddr dstaddr srcport dstport protocol start end type packets bytes account-id
	// vpc-id subnet-id instance-id interface-id region az-id sublocation-type sublocation-id action
	// tcp-flags pkt-srcaddr pkt-dstaddr pkt-src-aws-service pkt-dst-aws-service traffic-path flow-direction log-status
	return strings.Join([]string{"5", f[3], f[4], f[5], f[6], f[7], f[10], f[11], typ, f[8], f[9], f[1],
		"vpc-abcdefab012345678", "subnet-aaaaaaaa012345678", "i-0c50d5961bcb2d47b", f[2], "us-east-1", "use1-az4", "-", "-", f[12],
		"19", f[3], f[4], "-", "S3", path, dir, f[13]}, " ")
}

func sampleText(n int, line func(*flowGen) string) string {
	g := newFlowGen()
	var b strings.Builder
	for range n {
		b.WriteString(line(g))
		b.WriteByte('\n')
	}
	return b.String()
}

// TestSampleFile keeps testdata/flowlogs/sample-v2.log (the quick-start and
// replay sample) and its gzip copy in step with the generator, and checks
// that both decode without a single failure. Run with -update to rewrite.
func TestSampleFile(t *testing.T) {
	want := v2Header + "\n" + sampleText(sampleLines, (*flowGen).v2)
	path := filepath.Join(flowlogs, sampleFile)
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path+".gz", gz(t, want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	plain := readTestdata(t, sampleFile)
	if string(plain) != want {
		t.Fatalf("%s is stale; run go test ./stream/decode -run TestSampleFile -update", path)
	}
	zipped := readTestdata(t, sampleFile+".gz")
	zr, err := gzip.NewReader(bytes.NewReader(zipped))
	if err != nil {
		t.Fatal(err)
	}
	unzipped, err := io.ReadAll(zr)
	if err != nil || string(unzipped) != want {
		t.Fatalf("%s.gz does not hold the sample (err %v)", path, err)
	}
	for name, data := range map[string][]byte{"plain": plain, "gzip": zipped} {
		d := newDecoder(t)
		var out Output
		d.Payload(data, &out)
		if len(out.Failures) != 0 || len(out.Records) != sampleLines || out.Skipped != 1 {
			t.Errorf("%s: %d records, %d skipped, failures %+v", name, len(out.Records), out.Skipped, out.Failures)
		}
		for i := range out.Records {
			if got := render(defaultFormat, &out.Records[i]); got != out.Records[i].Raw {
				t.Errorf("%s: record %d renders as %q, line was %q", name, i, got, out.Records[i].Raw)
			}
		}
	}
}
