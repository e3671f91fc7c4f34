// Package enrich assembles flowhose's enrichment: the ENI inventory (EC2 or
// a file), AWS service tags from ip-ranges, GeoIP/ASN, and the derived
// fields (address classes, direction, cost class). New returns one
// stream.Enricher doing all of it per batch; Run keeps its data fresh.
package enrich

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowhose/flowhose/enrich/awsip"
	"github.com/flowhose/flowhose/enrich/derive"
	"github.com/flowhose/flowhose/enrich/geoip"
	"github.com/flowhose/flowhose/enrich/inventory"
	"github.com/flowhose/flowhose/stream"
)

// Inventory sources.
const (
	InventoryNone = "none"
	InventoryEC2  = "ec2"
	InventoryFile = "file"
)

// Config is the enrich.* section of the configuration.
type Config struct {
	// Inventory is where ENI metadata comes from: ec2, file or none.
	Inventory string `yaml:"inventory"`
	// InventoryFile is the static inventory read when Inventory is file.
	InventoryFile string `yaml:"inventory_file"`
	// EC2 configures the ec2 inventory.
	EC2 inventory.EC2Config `yaml:"ec2"`
	// Cache configures inventory caching, whatever its source.
	Cache inventory.Cache `yaml:"cache"`
	// IPRanges configures the AWS ip-ranges table.
	IPRanges awsip.Config `yaml:"ip_ranges"`
	// GeoIP configures the optional MaxMind databases.
	GeoIP geoip.Config `yaml:"geoip"`
	// DefaultRegion is assumed for records whose region neither the record
	// nor the inventory tells (cost class of AWS-range peers).
	DefaultRegion string `yaml:"default_region"`
}

// DefaultConfig enables the derived fields and the embedded ip-ranges
// snapshot; inventory and GeoIP stay off until configured.
func DefaultConfig() Config {
	return Config{
		Inventory: InventoryNone,
		EC2:       inventory.DefaultEC2Config(),
		Cache:     inventory.DefaultCache(),
		IPRanges:  awsip.DefaultConfig(),
		GeoIP:     geoip.DefaultConfig(),
	}
}

// Validate checks the configuration; each error names its key.
func (c Config) Validate() error {
	var errs []error
	prefix := func(key string, err error) {
		if err == nil {
			return
		}
		// Prefix every joined error, so each line names its full key.
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				errs = append(errs, fmt.Errorf("%s.%w", key, e))
			}
			return
		}
		errs = append(errs, fmt.Errorf("%s.%w", key, err))
	}
	switch c.Inventory {
	case InventoryNone:
	case InventoryEC2:
		prefix("ec2", c.EC2.Validate())
		prefix("cache", c.Cache.Validate())
	case InventoryFile:
		if c.InventoryFile == "" {
			errs = append(errs, errors.New("inventory_file: must be set when inventory is file, got \"\""))
		}
		prefix("cache", c.Cache.Validate())
	default:
		errs = append(errs, fmt.Errorf("inventory: must be one of ec2, file, none, got %q", c.Inventory))
	}
	prefix("ip_ranges", c.IPRanges.Validate())
	prefix("geoip", c.GeoIP.Validate())
	return errors.Join(errs...)
}

// Enricher runs every configured enrichment over a batch. It implements
// stream.Enricher.
type Enricher struct {
	cfg    Config
	inv    *inventory.Inventory // nil without an inventory
	ranges *awsip.Ranges
	geo    *geoip.Reader // nil without GeoIP
}

// New builds the enricher. awsOpts are passed to the AWS SDK's config
// loader for the ec2 inventory (nil in production: the standard chain).
func New(ctx context.Context, cfg Config, reg prometheus.Registerer, log *slog.Logger, awsOpts ...func(*config.LoadOptions) error) (*Enricher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("enrich: %w", err)
	}
	e := &Enricher{cfg: cfg}
	var err error
	if e.ranges, err = awsip.New(cfg.IPRanges, reg, log); err != nil {
		return nil, fmt.Errorf("enrich: %w", err)
	}
	var src inventory.Source
	switch cfg.Inventory {
	case InventoryEC2:
		if src, err = inventory.NewEC2(ctx, cfg.EC2, awsOpts...); err != nil {
			return nil, fmt.Errorf("enrich: %w", err)
		}
	case InventoryFile:
		src = inventory.File{Path: cfg.InventoryFile}
	}
	if src != nil {
		if e.inv, err = inventory.New(cfg.Cache, src, reg, log); err != nil {
			return nil, fmt.Errorf("enrich: %w", err)
		}
	}
	if cfg.GeoIP.Enabled() {
		if e.geo, err = geoip.Open(cfg.GeoIP); err != nil {
			return nil, fmt.Errorf("enrich: %w", err)
		}
	}
	return e, nil
}

// Run loads the inventory and the configured ip-ranges source and keeps
// them fresh until ctx ends. Enrich works before and without Run, with
// the embedded ip-ranges and an empty inventory.
func (e *Enricher) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { e.ranges.Run(ctx) })
	if e.inv != nil {
		wg.Go(func() { e.inv.Run(ctx) })
	}
	wg.Wait()
}

// Close releases the GeoIP databases.
func (e *Enricher) Close() error {
	if e.geo != nil {
		return e.geo.Close()
	}
	return nil
}

// Enrich replaces the Enrichment of every record. Everything but GeoIP
// runs in one pass, while the record is in cache.
func (e *Enricher) Enrich(ctx context.Context, recs []stream.Record) {
	var inv inventory.Batch
	if e.inv != nil {
		inv = e.inv.Batch()
	}
	tbl := e.ranges.Table()
	for i := range recs {
		r := &recs[i]
		r.Enrichment = stream.Enrichment{}
		if e.inv != nil {
			inv.Record(r)
		}
		derive.Classes(r)
		awsService(tbl, r, &r.Enrichment.Src, r.SrcAddr, stream.FieldPktSrcAWSService, r.PktSrcAWSService, stream.FieldPktSrcAddr, r.PktSrcAddr)
		awsService(tbl, r, &r.Enrichment.Dst, r.DstAddr, stream.FieldPktDstAWSService, r.PktDstAWSService, stream.FieldPktDstAddr, r.PktDstAddr)
		derive.Apply(r, e.cfg.DefaultRegion)
	}
	// Lookups that arrived within the wait budget changed inventory
	// fields; Apply derives from them, and recomputes all it sets.
	if e.inv != nil && inv.Finish(ctx, recs) {
		for i := range recs {
			derive.Apply(&recs[i], e.cfg.DefaultRegion)
		}
	}
	if e.geo != nil {
		e.geo.Enrich(recs)
	}
}

// awsService sets the AWS service of endpoint x (address a) from the
// ip-ranges table, for public addresses. AWS's own pkt-*-aws-service
// field overrides the service code when it describes the same address
// (the pkt address is absent or equal): AWS evaluated it at capture time.
func awsService(tbl *awsip.Table, r *stream.Record, x *stream.Endpoint, a netip.Addr, svcField stream.Field, svc string, pktField stream.Field, pkt netip.Addr) {
	if x.Class == stream.AddrPublic {
		if rg, ok := tbl.Lookup(a); ok {
			x.Service, x.ServiceRegion, x.NetworkBorderGroup, x.ServiceFrom = rg.Service, rg.Region, rg.NetworkBorderGroup, stream.ServiceIPRanges
		}
	}
	if r.Has(svcField) && (!r.Has(pktField) || pkt == a) {
		x.Service, x.ServiceFrom = svc, stream.ServiceFlowLog
	}
}
