// Package inventory enriches records with what EC2 (or a static file)
// says about the logging ENI and about the ENIs at either end of a flow:
// interface type, instance, subnet, VPC, availability zone, tags.
//
// Reads never wait for EC2: the inventory is an immutable snapshot loaded
// with one atomic operation per batch. An ENI id the snapshot lacks is
// emitted with what is known and queued for a batched lookup; concurrent
// misses for the same id share one lookup. A small optional wait budget
// lets a batch wait for those lookups before it moves on.
package inventory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/flowhose/flowhose/stream"
)

// Source answers inventory questions. Implementations: EC2 and File.
type Source interface {
	// All returns every ENI the source can see.
	All(ctx context.Context) ([]*stream.Interface, error)
	// Interfaces returns the ENIs among ids that exist; an id missing from
	// the answer does not exist.
	Interfaces(ctx context.Context, ids []string) ([]*stream.Interface, error)
}

// Cache configures caching and lookups, whatever the source.
type Cache struct {
	// FullSync lists every ENI at start and at each Refresh, so the address
	// index knows peers that never logged a flow themselves.
	FullSync bool `yaml:"full_sync"`
	// Refresh is how often known ENIs are fetched again in the background.
	Refresh time.Duration `yaml:"refresh"`
	// TTL is how long an answer counts as fresh; an older one is still used
	// but triggers a lookup.
	TTL time.Duration `yaml:"ttl"`
	// NegativeTTL is how long an unknown ENI id is remembered as unknown.
	NegativeTTL time.Duration `yaml:"negative_ttl"`
	// BatchSize is the number of ENI ids per lookup call.
	BatchSize int `yaml:"batch_size"`
	// QueueSize bounds ids waiting for a lookup; more are dropped (and
	// retried when they are seen again).
	QueueSize int `yaml:"queue_size"`
	// WaitBudget is how long Enrich may wait for the lookups of a batch's
	// unknown ENIs; 0 never waits.
	WaitBudget time.Duration `yaml:"wait_budget"`
}

// DefaultCache returns the cache defaults.
func DefaultCache() Cache {
	return Cache{
		FullSync:    true,
		Refresh:     5 * time.Minute,
		TTL:         15 * time.Minute,
		NegativeTTL: 5 * time.Minute,
		BatchSize:   100,
		QueueSize:   10000,
	}
}

// Validate checks the cache settings.
func (c Cache) Validate() error {
	var errs []error
	if c.Refresh < time.Second {
		errs = append(errs, fmt.Errorf("refresh: must be at least 1s, got %s", c.Refresh))
	}
	if c.TTL < c.Refresh {
		errs = append(errs, fmt.Errorf("ttl: must be at least refresh (%s), got %s", c.Refresh, c.TTL))
	}
	if c.NegativeTTL < time.Second {
		errs = append(errs, fmt.Errorf("negative_ttl: must be at least 1s, got %s", c.NegativeTTL))
	}
	if c.BatchSize < 1 || c.BatchSize > 200 {
		errs = append(errs, fmt.Errorf("batch_size: must be between 1 and 200 (EC2's limit of filter values), got %d", c.BatchSize))
	}
	if c.QueueSize < 1 || c.QueueSize > 1_000_000 {
		errs = append(errs, fmt.Errorf("queue_size: must be between 1 and 1000000, got %d", c.QueueSize))
	}
	if c.WaitBudget < 0 || c.WaitBudget > 10*time.Second {
		errs = append(errs, fmt.Errorf("wait_budget: must be between 0 and 10s, got %s", c.WaitBudget))
	}
	return errors.Join(errs...)
}

// Inventory is the cache in front of a Source. Enrich is safe for
// concurrent use; Run performs the lookups and refreshes.
type Inventory struct {
	cfg Cache
	src Source
	log *slog.Logger
	now func() time.Time

	snap atomic.Pointer[snapshot]
	// wmu serialises the copy-and-swap of writers (sync, lookups).
	wmu sync.Mutex

	mu      sync.Mutex
	pending map[string]chan struct{} // ids queued or being fetched
	queue   chan string

	m metrics
}

type metrics struct {
	hits, misses, stale, dropped prometheus.Counter
	calls                        *prometheus.CounterVec
	interfaces                   prometheus.Gauge
}

// New returns an inventory over src. It knows nothing until Run loads it.
func New(cfg Cache, src Source, reg prometheus.Registerer, log *slog.Logger) (*Inventory, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	if log == nil {
		log = slog.Default()
	}
	f := promauto.With(reg)
	inv := &Inventory{
		cfg:     cfg,
		src:     src,
		log:     log,
		now:     time.Now,
		pending: make(map[string]chan struct{}),
		queue:   make(chan string, cfg.QueueSize),
		m: metrics{
			hits: f.NewCounter(prometheus.CounterOpts{Name: "flowhose_enrich_inventory_hits_total",
				Help: "Records whose logging ENI was in the inventory."}),
			misses: f.NewCounter(prometheus.CounterOpts{Name: "flowhose_enrich_inventory_misses_total",
				Help: "Records whose logging ENI was not (yet) in the inventory."}),
			stale: f.NewCounter(prometheus.CounterOpts{Name: "flowhose_enrich_inventory_stale_total",
				Help: "Records enriched from an answer older than the TTL."}),
			dropped: f.NewCounter(prometheus.CounterOpts{Name: "flowhose_enrich_inventory_lookups_dropped_total",
				Help: "ENI lookups not queued because the queue was full."}),
			calls: f.NewCounterVec(prometheus.CounterOpts{Name: "flowhose_enrich_inventory_source_calls_total",
				Help: "Inventory source calls by kind (lookup, sync) and result (ok, error)."}, []string{"kind", "result"}),
			interfaces: f.NewGauge(prometheus.GaugeOpts{Name: "flowhose_enrich_inventory_interfaces",
				Help: "ENIs in the inventory."}),
		},
	}
	inv.snap.Store(newSnapshot())
	return inv, nil
}

// Enrich sets Enrichment.Interface, Src.Interface and Dst.Interface of
// every record it can, queues lookups for unknown logging ENIs, and waits
// for them at most WaitBudget.
func (inv *Inventory) Enrich(ctx context.Context, recs []stream.Record) {
	b := inv.Batch()
	for i := range recs {
		b.Record(&recs[i])
	}
	b.Finish(ctx, recs)
}

// Batch enriches the records of one batch from one snapshot, so that a
// caller can interleave it with other per-record work: Record for each
// record, then Finish once. A Batch is used by one goroutine.
type Batch struct {
	inv    *Inventory
	s      *snapshot
	now    time.Time
	missed []string
	// Counted per batch: a shared counter per record would be contended.
	c counts
	// ids remembers the answers for the batch's ENI ids, direct-mapped by
	// the last hex digit: a batch comes from few ENIs, and comparing an id
	// is cheaper than hashing it.
	ids [16]idSlot
}

type idSlot struct {
	id    string
	e     entry
	found bool
	set   bool
}

// entry returns the snapshot's entry for id, through b.ids.
func (b *Batch) entry(id string) (entry, bool) {
	var k byte
	if len(id) > 0 {
		c := id[len(id)-1]
		k = (c&15 + c>>6*9) & 15 // 0-9 and a-f map to 0-15
	}
	sl := &b.ids[k]
	if !sl.set || sl.id != id {
		sl.e, sl.found = b.s.byID[id]
		sl.id, sl.set = id, true
	}
	return sl.e, sl.found
}

// Batch starts a batch.
func (inv *Inventory) Batch() Batch {
	return Batch{inv: inv, s: inv.snap.Load(), now: inv.now()}
}

// Record fills the inventory fields of r.
func (b *Batch) Record(r *stream.Record) {
	if id, ok := b.enrich(r, &b.c); !ok {
		b.missed = append(b.missed, id)
	}
}

// Finish publishes the batch's counts and queues lookups for the ENIs it
// missed. With a wait budget it waits for them and fills the records still
// lacking Enrichment.Interface again; it reports whether it did, since
// whatever was derived from the inventory fields is then stale.
func (b *Batch) Finish(ctx context.Context, recs []stream.Record) bool {
	inv := b.inv
	inv.m.hits.Add(float64(b.c.hits))
	inv.m.misses.Add(float64(b.c.misses))
	inv.m.stale.Add(float64(b.c.stale))
	if len(b.missed) == 0 || inv.cfg.WaitBudget == 0 {
		if len(b.missed) > 0 {
			inv.schedule(b.missed)
		}
		return false
	}
	waits := inv.schedule(b.missed)
	if !inv.wait(ctx, waits) {
		return false
	}
	again := Batch{inv: inv, s: inv.snap.Load(), now: b.now}
	for i := range recs {
		if recs[i].Enrichment.Interface == nil {
			again.enrich(&recs[i], &counts{})
		}
	}
	return true
}

type counts struct{ hits, misses, stale int }

// enrich fills r from the batch's snapshot. It reports false, with the ENI
// id, when the id should be looked up: unknown, or known but past its TTL.
func (b *Batch) enrich(r *stream.Record, c *counts) (string, bool) {
	s := b.s
	fresh := true
	var iface *stream.Interface
	if r.Has(stream.FieldInterfaceID) {
		e, ok := b.entry(r.InterfaceID)
		switch {
		case !ok:
			c.misses++
			fresh = false
		case e.iface == nil:
			// Known unknown: look again only once the negative entry expires.
			fresh = b.now.Before(e.expires)
		default:
			iface = e.iface
			c.hits++
			if !b.now.Before(e.expires) {
				c.stale++
				fresh = false
			}
		}
	}
	r.Enrichment.Interface = iface
	vpc := r.VPCID
	if !r.Has(stream.FieldVPCID) && iface != nil {
		vpc = iface.VPCID
	}
	if r.Has(stream.FieldSrcAddr) {
		r.Enrichment.Src.Interface = s.addr(vpc, r.SrcAddr)
	}
	if r.Has(stream.FieldDstAddr) {
		r.Enrichment.Dst.Interface = s.addr(vpc, r.DstAddr)
	}
	return r.InterfaceID, fresh
}

// schedule queues the ids that are not already pending and returns a
// channel per id that closes when its lookup is over.
func (inv *Inventory) schedule(ids []string) []chan struct{} {
	var waits []chan struct{}
	inv.mu.Lock()
	defer inv.mu.Unlock()
	for _, id := range ids {
		if ch, ok := inv.pending[id]; ok {
			waits = append(waits, ch)
			continue
		}
		select {
		case inv.queue <- id:
			ch := make(chan struct{})
			inv.pending[id] = ch
			waits = append(waits, ch)
		default:
			inv.m.dropped.Inc()
		}
	}
	return waits
}

func (inv *Inventory) wait(ctx context.Context, waits []chan struct{}) bool {
	if len(waits) == 0 {
		return false
	}
	t := time.NewTimer(inv.cfg.WaitBudget)
	defer t.Stop()
	for _, ch := range waits {
		select {
		case <-ch:
		case <-t.C:
			return true // use whatever arrived in time
		case <-ctx.Done():
			return true
		}
	}
	return true
}

// Run loads the inventory (a full sync when configured), then serves
// lookups and refreshes until ctx ends.
func (inv *Inventory) Run(ctx context.Context) {
	if inv.cfg.FullSync {
		inv.sync(ctx)
	}
	var wg sync.WaitGroup
	wg.Go(func() { inv.serveLookups(ctx) })
	tick := time.NewTicker(inv.cfg.Refresh)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-tick.C:
			if inv.cfg.FullSync {
				inv.sync(ctx)
			} else {
				inv.refresh(ctx)
			}
		}
	}
}

// sync lists every ENI and replaces the inventory with the answer.
func (inv *Inventory) sync(ctx context.Context) {
	all, err := inv.src.All(ctx)
	if err != nil {
		inv.m.calls.WithLabelValues("sync", "error").Inc()
		inv.log.Warn("inventory sync failed; keeping the current inventory", "err", err)
		return
	}
	inv.m.calls.WithLabelValues("sync", "ok").Inc()
	inv.wmu.Lock()
	s := inv.snap.Load().replaced(all, inv.now(), inv.cfg.TTL)
	inv.snap.Store(s)
	inv.wmu.Unlock()
	inv.m.interfaces.Set(float64(len(all)))
	inv.log.Info("inventory synced", "interfaces", len(all))
}

// refresh fetches every known ENI again, in batches.
func (inv *Inventory) refresh(ctx context.Context) {
	ids := inv.snap.Load().positives()
	for len(ids) > 0 && ctx.Err() == nil {
		n := min(len(ids), inv.cfg.BatchSize)
		inv.lookup(ctx, ids[:n])
		ids = ids[n:]
	}
}

func (inv *Inventory) serveLookups(ctx context.Context) {
	batch := make([]string, 0, inv.cfg.BatchSize)
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-inv.queue:
			batch = append(batch[:0], id)
		}
		// Take whatever else is already waiting, up to a full batch.
	fill:
		for len(batch) < inv.cfg.BatchSize {
			select {
			case id := <-inv.queue:
				batch = append(batch, id)
			default:
				break fill
			}
		}
		inv.lookup(ctx, batch)
		inv.mu.Lock()
		for _, id := range batch {
			if ch, ok := inv.pending[id]; ok {
				close(ch)
				delete(inv.pending, id)
			}
		}
		inv.mu.Unlock()
	}
}

// lookup fetches ids and merges the answer. On error nothing is cached, so
// the ids are tried again when they are next seen.
func (inv *Inventory) lookup(ctx context.Context, ids []string) {
	found, err := inv.src.Interfaces(ctx, ids)
	if err != nil {
		inv.m.calls.WithLabelValues("lookup", "error").Inc()
		inv.log.Warn("inventory lookup failed", "interfaces", len(ids), "err", err)
		return
	}
	inv.m.calls.WithLabelValues("lookup", "ok").Inc()
	seen := make(map[string]bool, len(found))
	for _, i := range found {
		seen[i.ID] = true
	}
	var missing []string
	for _, id := range ids {
		if !seen[id] {
			missing = append(missing, id)
		}
	}
	inv.wmu.Lock()
	s := inv.snap.Load().with(found, missing, inv.now(), inv.cfg.TTL, inv.cfg.NegativeTTL)
	inv.snap.Store(s)
	inv.wmu.Unlock()
	inv.m.interfaces.Set(float64(len(s.byID)))
}
