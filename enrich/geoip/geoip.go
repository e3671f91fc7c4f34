// Package geoip looks up country, city, location and autonomous system of
// public addresses in MaxMind databases (GeoLite2/GeoIP2 City and ASN, or
// any database with the same record layout).
package geoip

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"

	"github.com/oschwald/maxminddb-golang/v2"

	"github.com/flowhose/flowhose/stream"
)

// Config names the databases; both are optional and either may be absent.
type Config struct {
	// CityDB is the path of a City (or Country) database.
	CityDB string `yaml:"city_db"`
	// ASNDB is the path of an ASN database.
	ASNDB string `yaml:"asn_db"`
	// CacheSize bounds the number of distinct answers kept; answers are
	// shared by every address of the same database network.
	CacheSize int `yaml:"cache_size"`
}

// DefaultConfig disables GeoIP (no database paths).
func DefaultConfig() Config { return Config{CacheSize: 100_000} }

// Enabled reports whether a database is configured.
func (c Config) Enabled() bool { return c.CityDB != "" || c.ASNDB != "" }

// Validate checks the configuration.
func (c Config) Validate() error {
	if c.CacheSize < 1 || c.CacheSize > 10_000_000 {
		return fmt.Errorf("cache_size: must be between 1 and 10000000, got %d", c.CacheSize)
	}
	return nil
}

// Reader answers lookups from the configured databases. It is safe for
// concurrent use.
type Reader struct {
	city, asn *maxminddb.Reader
	limit     int

	mu    sync.RWMutex
	cache map[[2]uintptr]*stream.Geo
}

// Open opens the configured databases.
func Open(cfg Config) (*Reader, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("geoip: %w", err)
	}
	r := &Reader{limit: cfg.CacheSize, cache: make(map[[2]uintptr]*stream.Geo)}
	var err error
	if cfg.CityDB != "" {
		if r.city, err = maxminddb.Open(cfg.CityDB); err != nil {
			return nil, fmt.Errorf("geoip: city_db: %w", err)
		}
	}
	if cfg.ASNDB != "" {
		if r.asn, err = maxminddb.Open(cfg.ASNDB); err != nil {
			r.Close()
			return nil, fmt.Errorf("geoip: asn_db: %w", err)
		}
	}
	return r, nil
}

// Close releases the databases.
func (r *Reader) Close() error {
	var errs []error
	if r.city != nil {
		errs = append(errs, r.city.Close())
	}
	if r.asn != nil {
		errs = append(errs, r.asn.Close())
	}
	return errors.Join(errs...)
}

type names map[string]string

type cityRecord struct {
	City struct {
		Names names `maxminddb:"names"`
	} `maxminddb:"city"`
	Continent struct {
		Code string `maxminddb:"code"`
	} `maxminddb:"continent"`
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
		Names   names  `maxminddb:"names"`
	} `maxminddb:"country"`
	Location struct {
		Latitude  *float64 `maxminddb:"latitude"`
		Longitude *float64 `maxminddb:"longitude"`
	} `maxminddb:"location"`
	Subdivisions []struct {
		ISOCode string `maxminddb:"iso_code"`
		Names   names  `maxminddb:"names"`
	} `maxminddb:"subdivisions"`
}

type asnRecord struct {
	Number       uint32 `maxminddb:"autonomous_system_number"`
	Organization string `maxminddb:"autonomous_system_organization"`
}

// Lookup returns what the databases know about a, or nil. Errors (a
// corrupt database) count as not knowing: enrichment never fails a record.
func (r *Reader) Lookup(a netip.Addr) *stream.Geo {
	a = a.Unmap()
	var key [2]uintptr
	var cityRes, asnRes maxminddb.Result
	if r.city != nil {
		if cityRes = r.city.Lookup(a); cityRes.Found() {
			key[0] = cityRes.Offset() + 1
		}
	}
	if r.asn != nil {
		if asnRes = r.asn.Lookup(a); asnRes.Found() {
			key[1] = asnRes.Offset() + 1
		}
	}
	if key == [2]uintptr{} {
		return nil
	}
	r.mu.RLock()
	g, ok := r.cache[key]
	r.mu.RUnlock()
	if ok {
		return g
	}
	g = decode(cityRes, asnRes, key)
	r.mu.Lock()
	if len(r.cache) >= r.limit {
		// Dropping everything keeps the bound without bookkeeping; the
		// busy networks come back on their next lookup.
		clear(r.cache)
	}
	r.cache[key] = g
	r.mu.Unlock()
	return g
}

func decode(cityRes, asnRes maxminddb.Result, key [2]uintptr) *stream.Geo {
	g := &stream.Geo{}
	if key[0] != 0 {
		var c cityRecord
		if err := cityRes.Decode(&c); err == nil {
			g.CountryISOCode = c.Country.ISOCode
			g.CountryName = c.Country.Names["en"]
			g.ContinentCode = c.Continent.Code
			g.CityName = c.City.Names["en"]
			if len(c.Subdivisions) > 0 {
				g.RegionISOCode = c.Subdivisions[0].ISOCode
				g.RegionName = c.Subdivisions[0].Names["en"]
			}
			if c.Location.Latitude != nil && c.Location.Longitude != nil {
				g.Location, g.Latitude, g.Longitude = true, *c.Location.Latitude, *c.Location.Longitude
			}
		}
	}
	if key[1] != 0 {
		var a asnRecord
		if err := asnRes.Decode(&a); err == nil {
			g.ASN, g.ASOrganization = a.Number, a.Organization
		}
	}
	return g
}

// Enrich sets Src.Geo and Dst.Geo of records whose addresses are public.
// It expects the address classes to be set (derive.Classes).
func (r *Reader) Enrich(recs []stream.Record) {
	for i := range recs {
		rec := &recs[i]
		if rec.Enrichment.Src.Class == stream.AddrPublic {
			rec.Enrichment.Src.Geo = r.Lookup(rec.SrcAddr)
		}
		if rec.Enrichment.Dst.Class == stream.AddrPublic {
			rec.Enrichment.Dst.Geo = r.Lookup(rec.DstAddr)
		}
	}
}
