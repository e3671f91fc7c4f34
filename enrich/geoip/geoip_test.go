package geoip

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/flowhose/flowhose/stream"
)

// writeDB builds a small MaxMind database of the given type.
func writeDB(t testing.TB, dbType string, nets map[string]mmdbtype.Map) string {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: dbType, RecordSize: 24})
	if err != nil {
		t.Fatal(err)
	}
	for cidr, rec := range nets {
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			t.Fatal(err)
		}
		if err := tree.Insert(n, rec); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), dbType+".mmdb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := tree.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	return path
}

func testDBs(t testing.TB) Config {
	city := writeDB(t, "GeoLite2-City", map[string]mmdbtype.Map{
		"8.8.8.0/24": {
			"city":         mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String("Mountain View")}},
			"continent":    mmdbtype.Map{"code": mmdbtype.String("NA")},
			"country":      mmdbtype.Map{"iso_code": mmdbtype.String("US"), "names": mmdbtype.Map{"en": mmdbtype.String("United States")}},
			"location":     mmdbtype.Map{"latitude": mmdbtype.Float64(37.386), "longitude": mmdbtype.Float64(-122.0838)},
			"subdivisions": mmdbtype.Slice{mmdbtype.Map{"iso_code": mmdbtype.String("CA"), "names": mmdbtype.Map{"en": mmdbtype.String("California")}}},
		},
		"2a00:1450::/32": {
			"country": mmdbtype.Map{"iso_code": mmdbtype.String("IE"), "names": mmdbtype.Map{"en": mmdbtype.String("Ireland")}},
		},
	})
	asn := writeDB(t, "GeoLite2-ASN", map[string]mmdbtype.Map{
		"8.8.8.0/24": {"autonomous_system_number": mmdbtype.Uint32(15169), "autonomous_system_organization": mmdbtype.String("GOOGLE")},
		"1.1.1.0/24": {"autonomous_system_number": mmdbtype.Uint32(13335), "autonomous_system_organization": mmdbtype.String("CLOUDFLARENET")},
	})
	cfg := DefaultConfig()
	cfg.CityDB, cfg.ASNDB = city, asn
	return cfg
}

func TestLookup(t *testing.T) {
	r, err := Open(testDBs(t))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	tests := []struct {
		addr string
		want *stream.Geo
	}{
		{"8.8.8.8", &stream.Geo{CountryISOCode: "US", CountryName: "United States", ContinentCode: "NA", CityName: "Mountain View",
			RegionISOCode: "CA", RegionName: "California", Location: true, Latitude: 37.386, Longitude: -122.0838, ASN: 15169, ASOrganization: "GOOGLE"}},
		{"::ffff:8.8.8.8", &stream.Geo{CountryISOCode: "US", CountryName: "United States", ContinentCode: "NA", CityName: "Mountain View",
			RegionISOCode: "CA", RegionName: "California", Location: true, Latitude: 37.386, Longitude: -122.0838, ASN: 15169, ASOrganization: "GOOGLE"}},
		{"1.1.1.1", &stream.Geo{ASN: 13335, ASOrganization: "CLOUDFLARENET"}},
		{"2a00:1450:4001::1", &stream.Geo{CountryISOCode: "IE", CountryName: "Ireland"}},
		{"9.9.9.9", nil},
	}
	for _, tc := range tests {
		got := r.Lookup(netip.MustParseAddr(tc.addr))
		switch {
		case tc.want == nil && got != nil:
			t.Errorf("%s: got %+v, want nothing", tc.addr, got)
		case tc.want != nil && (got == nil || *got != *tc.want):
			t.Errorf("%s: got %+v, want %+v", tc.addr, got, tc.want)
		}
	}
	// Addresses of one network share one answer.
	if a, b := r.Lookup(netip.MustParseAddr("8.8.8.8")), r.Lookup(netip.MustParseAddr("8.8.8.4")); a != b {
		t.Error("same network decoded twice")
	}
}

func TestEnrichOnlyPublic(t *testing.T) {
	r, err := Open(testDBs(t))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	recs := []stream.Record{{SrcAddr: netip.MustParseAddr("8.8.8.8"), DstAddr: netip.MustParseAddr("1.1.1.1")}}
	recs[0].Enrichment.Src.Class = stream.AddrPublic
	recs[0].Enrichment.Dst.Class = stream.AddrPrivate // as if classified private: skipped
	r.Enrich(recs)
	if g := recs[0].Enrichment.Src.Geo; g == nil || g.ASN != 15169 {
		t.Errorf("source geo = %+v", g)
	}
	if recs[0].Enrichment.Dst.Geo != nil {
		t.Error("geo looked up for a non-public address")
	}
}

func TestCacheBound(t *testing.T) {
	cfg := testDBs(t)
	cfg.CacheSize = 1
	r, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, a := range []string{"8.8.8.8", "1.1.1.1", "2a00:1450::1"} {
		r.Lookup(netip.MustParseAddr(a))
		if len(r.cache) > 1 {
			t.Fatalf("cache holds %d answers, limit 1", len(r.cache))
		}
	}
}

func TestOpenErrors(t *testing.T) {
	cfg := DefaultConfig()
	cfg.CityDB = filepath.Join(t.TempDir(), "missing.mmdb")
	if _, err := Open(cfg); err == nil || !strings.Contains(err.Error(), "city_db") {
		t.Errorf("err = %v, want a city_db error", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.mmdb")
	os.WriteFile(bad, []byte("not a database"), 0o600)
	cfg = DefaultConfig()
	cfg.ASNDB = bad
	if _, err := Open(cfg); err == nil || !strings.Contains(err.Error(), "asn_db") {
		t.Errorf("err = %v, want an asn_db error", err)
	}
	cfg = DefaultConfig()
	cfg.CacheSize = 0
	if _, err := Open(cfg); err == nil || !strings.Contains(err.Error(), "cache_size") {
		t.Errorf("err = %v, want a cache_size error", err)
	}
}

func BenchmarkLookup(b *testing.B) {
	r, err := Open(testDBs(b))
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	a := netip.MustParseAddr("8.8.8.8")
	b.ReportAllocs()
	for b.Loop() {
		r.Lookup(a)
	}
}
