package enrich

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/flowhose/flowhose/enrich/geoip"
	"github.com/flowhose/flowhose/stream"
)

// benchBatch is a 256-record batch of the example flows, re-enriched in
// place on every iteration (Enrich replaces the Enrichment).
func benchBatch(b *testing.B) []stream.Record {
	flows := decodeFlows(b)
	recs := make([]stream.Record, 256)
	for i := range recs {
		recs[i] = flows[i%len(flows)]
	}
	return recs
}

func runBench(b *testing.B, e *Enricher) {
	runBenchRecords(b, e, benchBatch(b))
}

func runBenchRecords(b *testing.B, e *Enricher, recs []stream.Record) {
	ctx := context.Background()
	e.Enrich(ctx, recs)
	b.ReportAllocs()
	for b.Loop() {
		e.Enrich(ctx, recs)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
}

// BenchmarkEnrichWarm measures inventory, ip-ranges and derived fields per
// record with a warm cache and GeoIP off.
func BenchmarkEnrichWarm(b *testing.B) {
	runBench(b, fileEnricher(b))
}

// BenchmarkEnrichWarmGeoIP adds GeoIP (City and ASN) lookups.
func BenchmarkEnrichWarmGeoIP(b *testing.B) {
	e := fileEnricher(b)
	dir := b.TempDir()
	cfg := geoip.DefaultConfig()
	cfg.CityDB, cfg.ASNDB = filepath.Join(dir, "city.mmdb"), filepath.Join(dir, "asn.mmdb")
	writeTestGeoIP(b, cfg.CityDB, cfg.ASNDB)
	var err error
	if e.geo, err = geoip.Open(cfg); err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	runBench(b, e)
}

func writeTestGeoIP(b testing.TB, cityPath, asnPath string) {
	b.Helper()
	write := func(path, dbType string, rec mmdbtype.Map) {
		tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: dbType, RecordSize: 24})
		if err != nil {
			b.Fatal(err)
		}
		_, n, _ := net.ParseCIDR("52.95.0.0/16")
		if err := tree.Insert(n, rec); err != nil {
			b.Fatal(err)
		}
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		if _, err := tree.WriteTo(f); err != nil {
			b.Fatal(err)
		}
	}
	write(cityPath, "GeoLite2-City", mmdbtype.Map{
		"country":  mmdbtype.Map{"iso_code": mmdbtype.String("AU"), "names": mmdbtype.Map{"en": mmdbtype.String("Australia")}},
		"location": mmdbtype.Map{"latitude": mmdbtype.Float64(-33.86), "longitude": mmdbtype.Float64(151.2)},
	})
	write(asnPath, "GeoLite2-ASN", mmdbtype.Map{
		"autonomous_system_number": mmdbtype.Uint32(16509), "autonomous_system_organization": mmdbtype.String("AMAZON-02"),
	})
}
