package enrich

import (
	"context"
	"reflect"
	"testing"
	"time"
)

// TestEnrichDerivesAfterWaiting checks that a batch whose ENIs arrive
// within the wait budget gets the same derived fields (direction, cost,
// NAT flags) as a batch enriched from a warm inventory: deriving runs
// before the wait, so it must be redone after it.
func TestEnrichDerivesAfterWaiting(t *testing.T) {
	warm := fileEnricher(t)
	want := decodeFlows(t)
	warm.Enrich(context.Background(), want)

	cfg := DefaultConfig()
	cfg.Inventory = InventoryFile
	cfg.InventoryFile = "testdata/inventory.yaml"
	cfg.Cache.FullSync = false
	cfg.Cache.WaitBudget = 10 * time.Second
	cold, err := New(context.Background(), cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { cold.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	got := decodeFlows(t)
	cold.Enrich(context.Background(), got)
	for i := range got {
		if got[i].Enrichment.Interface == nil {
			t.Fatalf("record %d: logging ENI not filled after the wait", i)
		}
		if !reflect.DeepEqual(got[i].Enrichment, want[i].Enrichment) {
			t.Errorf("record %d after waiting:\n got %+v\nwant %+v", i, got[i].Enrichment, want[i].Enrichment)
		}
	}
}
