package inventory

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowhose/flowhose/stream"
)

// fakeSource serves a fixed set of ENIs and records every lookup.
type fakeSource struct {
	mu      sync.Mutex
	ifaces  []*stream.Interface
	lookups [][]string
	err     error
	gate    chan struct{} // when set, lookups wait for it
}

func (f *fakeSource) All(context.Context) ([]*stream.Interface, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ifaces, f.err
}

func (f *fakeSource) Interfaces(_ context.Context, ids []string) ([]*stream.Interface, error) {
	if f.gate != nil {
		<-f.gate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups = append(f.lookups, slices.Clone(ids))
	if f.err != nil {
		return nil, f.err
	}
	var out []*stream.Interface
	for _, i := range f.ifaces {
		if slices.Contains(ids, i.ID) {
			out = append(out, i)
		}
	}
	return out, nil
}

func (f *fakeSource) lookupCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.lookups)
}

func testIfaces(t *testing.T) []*stream.Interface {
	t.Helper()
	fh, err := os.Open("testdata/inventory.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	ifaces, err := ParseFile(fh)
	if err != nil {
		t.Fatal(err)
	}
	return ifaces
}

func start(t *testing.T, cache Cache, src Source) *Inventory {
	t.Helper()
	inv, err := New(cache, src, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { inv.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return inv
}

func TestFileInventory(t *testing.T) {
	ifaces := testIfaces(t)
	if len(ifaces) != 3 {
		t.Fatalf("got %d interfaces", len(ifaces))
	}
	w := ifaces[0]
	if w.Instance == nil || w.Instance.Name != "web-1" || w.Instance.LaunchTime.Year() != 2026 {
		t.Errorf("instance = %+v", w.Instance)
	}
	if len(w.Tags) != 2 || w.Tags[0].Key != "Name" || w.Tags[1].Key != "role" {
		t.Errorf("tags not sorted: %+v", w.Tags)
	}
	if len(w.PrivateIPs) != 2 || w.PrivateIPs[1] != netip.MustParseAddr("2600:1f18::10") {
		t.Errorf("private ips = %v", w.PrivateIPs)
	}
}

func TestParseFileErrors(t *testing.T) {
	tests := []struct{ name, doc, want string }{
		{"unknown key", "interfaces:\n  - id: eni-1\n    colour: red\n", "colour"},
		{"no id", "interfaces:\n  - type: interface\n", "interfaces[0].id"},
		{"duplicate", "interfaces:\n  - id: eni-1\n  - id: eni-1\n", "duplicate"},
		{"bad ip", "interfaces:\n  - id: eni-1\n    private_ips: [10.0.0.300]\n", "private_ips"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseFile(strings.NewReader(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestFullSyncAndAddressIndex(t *testing.T) {
	cache := DefaultCache()
	inv := start(t, cache, File{Path: "testdata/inventory.yaml"})
	waitFor(t, func() bool { return len(inv.snap.Load().byID) == 3 })

	recs := []stream.Record{
		record("eni-web", netip.MustParseAddr("10.0.1.10"), netip.MustParseAddr("10.0.2.20")),
		// No VPC known: 10.0.2.20 is held in two VPCs, so nobody is named.
		record("eni-unknown", netip.MustParseAddr("54.1.2.3"), netip.MustParseAddr("10.0.2.20")),
	}
	inv.Enrich(context.Background(), recs)
	e := recs[0].Enrichment
	if e.Interface == nil || e.Interface.ID != "eni-web" || e.Src.Interface != e.Interface {
		t.Fatalf("web ENI: %+v", e)
	}
	if e.Dst.Interface == nil || e.Dst.Interface.ID != "eni-db" {
		t.Errorf("peer in the web ENI's VPC = %+v, want eni-db", e.Dst.Interface)
	}
	e = recs[1].Enrichment
	if e.Src.Interface == nil || e.Src.Interface.ID != "eni-web" {
		t.Errorf("public address not indexed: %+v", e.Src.Interface)
	}
	if e.Dst.Interface != nil {
		t.Errorf("ambiguous address resolved to %s", e.Dst.Interface.ID)
	}
}

func TestMissDoesNotBlockAndIsLookedUpOnce(t *testing.T) {
	src := &fakeSource{ifaces: testIfaces(t), gate: make(chan struct{})}
	cache := DefaultCache()
	cache.FullSync = false
	inv := start(t, cache, src)

	// With a zero wait budget Enrich returns while the lookup is blocked.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			recs := []stream.Record{record("eni-web", netip.MustParseAddr("10.0.1.10"), netip.MustParseAddr("8.8.8.8"))}
			inv.Enrich(context.Background(), recs)
			if recs[0].Enrichment.Interface != nil {
				t.Error("enriched before the lookup finished")
			}
		})
	}
	wg.Wait()
	close(src.gate)
	waitFor(t, func() bool { _, ok := inv.snap.Load().byID["eni-web"]; return ok })
	if n := src.lookupCount(); n != 1 {
		t.Errorf("lookups = %d, want 1 for 8 concurrent misses of one ENI", n)
	}
	recs := []stream.Record{record("eni-web", netip.MustParseAddr("10.0.1.10"), netip.MustParseAddr("8.8.8.8"))}
	inv.Enrich(context.Background(), recs)
	if recs[0].Enrichment.Interface == nil {
		t.Fatal("not enriched after the lookup")
	}
}

func TestNegativeCaching(t *testing.T) {
	src := &fakeSource{ifaces: testIfaces(t)}
	cache := DefaultCache()
	cache.FullSync = false
	cache.WaitBudget = 5 * time.Second
	inv := start(t, cache, src)
	now := time.Now()
	inv.now = func() time.Time { return now }

	for range 3 {
		recs := []stream.Record{record("eni-gone", netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"))}
		inv.Enrich(context.Background(), recs)
	}
	if n := src.lookupCount(); n != 1 {
		t.Errorf("lookups = %d, want 1: the unknown ENI must be remembered", n)
	}
	now = now.Add(cache.NegativeTTL)
	inv.Enrich(context.Background(), []stream.Record{record("eni-gone", netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"))})
	if n := src.lookupCount(); n != 2 {
		t.Errorf("lookups = %d, want 2 after the negative TTL", n)
	}
}

func TestLookupErrorIsNotCached(t *testing.T) {
	src := &fakeSource{ifaces: testIfaces(t), err: errors.New("boom")}
	cache := DefaultCache()
	cache.FullSync = false
	cache.WaitBudget = 5 * time.Second
	inv := start(t, cache, src)
	inv.Enrich(context.Background(), []stream.Record{record("eni-web", netip.Addr{}, netip.Addr{})})
	src.mu.Lock()
	src.err = nil
	src.mu.Unlock()
	recs := []stream.Record{record("eni-web", netip.Addr{}, netip.Addr{})}
	inv.Enrich(context.Background(), recs)
	if recs[0].Enrichment.Interface == nil {
		t.Fatal("a failed lookup was cached")
	}
}

func TestStaleEntryIsServedAndRefetched(t *testing.T) {
	src := &fakeSource{ifaces: testIfaces(t)}
	cache := DefaultCache()
	cache.FullSync = false
	cache.WaitBudget = 5 * time.Second
	inv := start(t, cache, src)
	now := time.Now()
	inv.now = func() time.Time { return now }
	inv.Enrich(context.Background(), []stream.Record{record("eni-web", netip.Addr{}, netip.Addr{})})
	now = now.Add(cache.TTL)
	recs := []stream.Record{record("eni-web", netip.Addr{}, netip.Addr{})}
	inv.Enrich(context.Background(), recs)
	if recs[0].Enrichment.Interface == nil {
		t.Error("stale entry not served")
	}
	if n := src.lookupCount(); n != 2 {
		t.Errorf("lookups = %d, want 2 (one refetch of the stale entry)", n)
	}
}

func TestQueueFullDrops(t *testing.T) {
	src := &fakeSource{gate: make(chan struct{})}
	cache := DefaultCache()
	cache.FullSync = false
	cache.QueueSize = 2
	inv, err := New(cache, src, nil, nil) // not running: nothing drains the queue
	if err != nil {
		t.Fatal(err)
	}
	var recs []stream.Record
	for _, id := range []string{"eni-1", "eni-2", "eni-3", "eni-4"} {
		recs = append(recs, record(id, netip.Addr{}, netip.Addr{}))
	}
	inv.Enrich(context.Background(), recs)
	if len(inv.queue) != 2 || len(inv.pending) != 2 {
		t.Errorf("queue %d, pending %d, want 2 and 2", len(inv.queue), len(inv.pending))
	}
}

func TestCacheValidate(t *testing.T) {
	c := DefaultCache()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.BatchSize, c.TTL = 500, time.Second
	err := c.Validate()
	for _, want := range []string{"batch_size: must be between 1 and 200", "ttl:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want %q", err, want)
		}
	}
	e := DefaultEC2Config()
	err = e.Validate()
	if err == nil || !strings.Contains(err.Error(), "regions:") {
		t.Errorf("err = %v, want a regions error", err)
	}
	e.Regions, e.RoleARNs = []string{"us-east-1"}, []string{"arn:aws:iam::1:user/x"}
	if err := e.Validate(); err == nil || !strings.Contains(err.Error(), "role_arns[0]") {
		t.Errorf("err = %v, want a role_arns error", err)
	}
}

func FuzzParseFile(f *testing.F) {
	seed, err := os.ReadFile("testdata/inventory.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(`{"interfaces":[{"id":"eni-1","private_ips":["10.0.0.1"]}]}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		ifaces, err := ParseFile(strings.NewReader(string(doc)))
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, i := range ifaces {
			if i.ID == "" || seen[i.ID] {
				t.Fatalf("accepted empty or duplicate id %q", i.ID)
			}
			seen[i.ID] = true
		}
		// Whatever was accepted can be indexed.
		newSnapshot().with(ifaces, nil, time.Now(), time.Minute, time.Minute)
	})
}

func BenchmarkEnrichWarm(b *testing.B) {
	fh, err := os.Open("testdata/inventory.yaml")
	if err != nil {
		b.Fatal(err)
	}
	ifaces, err := ParseFile(fh)
	fh.Close()
	if err != nil {
		b.Fatal(err)
	}
	inv, err := New(DefaultCache(), &fakeSource{}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	inv.snap.Store(newSnapshot().with(ifaces, nil, time.Now(), time.Hour, time.Hour))
	recs := make([]stream.Record, 256)
	for i := range recs {
		recs[i] = record("eni-web", netip.MustParseAddr("10.0.1.10"), netip.MustParseAddr("10.0.2.20"))
	}
	b.ReportAllocs()
	for b.Loop() {
		inv.Enrich(context.Background(), recs)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
}
