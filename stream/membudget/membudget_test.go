package membudget

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestLease(t *testing.T) {
	b, err := New(100, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	a, c := b.Lease("a"), b.Lease("c")
	if err := a.Grow(60); err != nil {
		t.Fatal(err)
	}
	// 60 + 50 is over the budget, but c alone would fit: retry later.
	if err := c.Grow(50); !errors.Is(err, ErrExhausted) {
		t.Fatalf("Grow over the budget: %v, want ErrExhausted", err)
	}
	// c alone can never hold 101.
	if err := c.Grow(101); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Grow over the whole budget: %v, want ErrTooLarge", err)
	}
	if got := testutil.ToFloat64(b.refused.WithLabelValues("c")); got != 2 {
		t.Errorf("refusals{source=c} = %v, want 2", got)
	}
	part := a.Split(40)
	if a.Held() != 20 || part.Held() != 40 || b.InFlight() != 60 {
		t.Fatalf("after Split: a %d, part %d, in flight %d", a.Held(), part.Held(), b.InFlight())
	}
	// What a lease once held counts toward ErrTooLarge even after a split:
	// the work as a whole is too big.
	if err := a.Grow(41); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Grow past the lease's total: %v, want ErrTooLarge", err)
	}
	part.Release()
	part.Release() // idempotent
	a.Release()
	if b.InFlight() != 0 {
		t.Fatalf("in flight %d after every release", b.InFlight())
	}
	var none *Lease
	if err := none.Grow(1 << 40); err != nil || none.Split(1) != nil || none.Held() != 0 {
		t.Error("a nil lease must grow without bound and hold nothing")
	}
	none.Release()
	if _, err := New(0, nil); err == nil {
		t.Error("New(0) succeeded")
	}
}

// Concurrent leases never take the budget past its limit.
func TestConcurrentGrowStaysWithinLimit(t *testing.T) {
	b, err := New(1000, nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			l := b.Lease("x")
			for range 1000 {
				if l.Grow(7) == nil && b.InFlight() > b.Limit() {
					t.Error("over the limit")
				}
				if l.Held() > 100 {
					l.Release()
				}
			}
			l.Release()
		})
	}
	wg.Wait()
	if b.InFlight() != 0 {
		t.Fatalf("in flight %d", b.InFlight())
	}
}

func TestResolve(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	saved := cgroupLimitFiles
	t.Cleanup(func() { cgroupLimitFiles = saved })
	tests := []struct {
		name       string
		files      []string
		configured int64
		want       Sizes
	}{
		{"no cgroup", []string{filepath.Join(dir, "missing")}, 0, Sizes{Budget: DefaultBudget, GoLimit: 2 * DefaultBudget, From: "default"}},
		{"cgroup v2 unlimited", []string{write("max", "max\n")}, 0, Sizes{Budget: DefaultBudget, GoLimit: 2 * DefaultBudget, From: "default"}},
		{"cgroup v2 limit", []string{write("v2", "536870912\n")}, 0, Sizes{Budget: 256 << 20, GoLimit: 536870912 / 10 * 9, From: "half the container memory limit"}},
		{"cgroup v1 limit", []string{filepath.Join(dir, "missing"), write("v1", "1073741824\n")}, 0, Sizes{Budget: 512 << 20, GoLimit: 1073741824 / 10 * 9, From: "half the container memory limit"}},
		{"cgroup v1 unlimited", []string{write("v1u", "9223372036854771712\n")}, 0, Sizes{Budget: DefaultBudget, GoLimit: 2 * DefaultBudget, From: "default"}},
		{"configured in a container", []string{write("v2b", "536870912\n")}, 100 << 20, Sizes{Budget: 100 << 20, GoLimit: 536870912 / 10 * 9, From: "pipeline.memory_budget"}},
		{"configured", []string{filepath.Join(dir, "missing")}, 100 << 20, Sizes{Budget: 100 << 20, GoLimit: 200 << 20, From: "pipeline.memory_budget"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cgroupLimitFiles = tt.files
			if got := Resolve(tt.configured); got != tt.want {
				t.Errorf("Resolve(%d) = %+v, want %+v", tt.configured, got, tt.want)
			}
		})
	}
}

// Buffers handed back are kept only within the idle cap: past it they are
// left to the collector, so a burst cannot park more than the cap outside
// the budget.
func TestIdleBuffersCapped(t *testing.T) {
	defer setIdleLimit(DefaultIdle)
	setIdleLimit(4 << 20)
	free := func(int64) error { return nil }
	var held [][]byte
	for range 16 {
		b, err := GetBuffer(1<<20, free)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, b)
	}
	for _, b := range held {
		PutBuffer(b)
	}
	if got := IdleBytes(); got != 4<<20 {
		t.Fatalf("idle %d bytes after 16 MiB handed back, want the 4 MiB cap", got)
	}
	b, err := GetBuffer(1<<20, free)
	if err != nil {
		t.Fatal(err)
	}
	if cap(b) != 1<<20 || IdleBytes() != 3<<20 {
		t.Fatalf("reuse: cap %d, idle %d", cap(b), IdleBytes())
	}
	setIdleLimit(1 << 20)
	if got := IdleBytes(); got > 1<<20 {
		t.Fatalf("idle %d bytes after lowering the cap to 1 MiB", got)
	}
}
