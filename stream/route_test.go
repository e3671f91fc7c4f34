package stream

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// keepFunc adapts a function to RecordFilter.
type keepFunc func(r *Record) bool

func (f keepFunc) Keep(r *Record) bool { return f(r) }

// lineSink records the raw lines it was handed and settles at once with
// err, or refuses with refuse.
type lineSink struct {
	name   string
	err    error
	refuse error

	mu    sync.Mutex
	lines []string
	calls int
}

func (s *lineSink) Name() string { return s.name }

func (s *lineSink) Accept(_ context.Context, b *Batch) error {
	s.mu.Lock()
	s.calls++
	for _, r := range b.Records {
		s.lines = append(s.lines, r.Raw)
	}
	s.mu.Unlock()
	if s.refuse != nil {
		return s.refuse
	}
	b.Ack.Done(s.err)
	return nil
}

func (s *lineSink) Close(context.Context) error { return nil }

func (s *lineSink) got() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(slices.Values(s.lines))
}

type filterCounters struct{ kept, dropped prometheus.Counter }

func newCounters() filterCounters {
	return filterCounters{prometheus.NewCounter(prometheus.CounterOpts{Name: "k"}), prometheus.NewCounter(prometheus.CounterOpts{Name: "d"})}
}

func withFilter(s Sink, keep func(r *Record) bool, c filterCounters) Sink {
	return Filtered(s, keepFunc(keep), c.kept, c.dropped)
}

func isReject(r *Record) bool { return r.Action == "REJECT" }

// batchOf builds a batch whose Ack counts its completions.
func batchOf(completions *atomic.Int32, actions ...string) *Batch {
	b := &Batch{Ack: NewAckThen(func(error) { completions.Add(1) })}
	for i, a := range actions {
		b.Records = append(b.Records, Record{Raw: a + string(rune('0'+i)), Action: a})
	}
	return b
}

func TestFilteredSinksReceiveExactlyTheirRecords(t *testing.T) {
	all, rejects, accepts, none := &lineSink{name: "all"}, &lineSink{name: "rejects"}, &lineSink{name: "accepts"}, &lineSink{name: "none"}
	rc, ac, nc := newCounters(), newCounters(), newCounters()
	p := newTestPipeline(t, Options{Workers: 1, Sinks: []Sink{
		all,
		withFilter(rejects, isReject, rc),
		withFilter(accepts, func(r *Record) bool { return !isReject(r) }, ac),
		withFilter(none, func(*Record) bool { return false }, nc),
	}})
	defer p.Close(context.Background())
	var completions atomic.Int32
	b := batchOf(&completions, "ACCEPT", "REJECT", "ACCEPT", "REJECT", "REJECT")
	if err := submitAndWait(t, p, b); err != nil {
		t.Fatalf("ack = %v", err)
	}
	for _, tc := range []struct {
		s    *lineSink
		want []string
	}{
		{all, []string{"ACCEPT0", "ACCEPT2", "REJECT1", "REJECT3", "REJECT4"}},
		{rejects, []string{"REJECT1", "REJECT3", "REJECT4"}},
		{accepts, []string{"ACCEPT0", "ACCEPT2"}},
		{none, nil},
	} {
		if got := tc.s.got(); !slices.Equal(got, tc.want) {
			t.Errorf("%s got %q, want %q", tc.s.name, got, tc.want)
		}
	}
	if none.calls != 0 {
		t.Errorf("a sink whose filter kept nothing was called %d times", none.calls)
	}
	if n := completions.Load(); n != 1 {
		t.Errorf("ack completed %d times, want once", n)
	}
	for _, c := range []struct {
		name          string
		c             filterCounters
		kept, dropped float64
	}{{"rejects", rc, 3, 2}, {"accepts", ac, 2, 3}, {"none", nc, 0, 5}} {
		if k, d := testutil.ToFloat64(c.c.kept), testutil.ToFloat64(c.c.dropped); k != c.kept || d != c.dropped {
			t.Errorf("%s: kept %v dropped %v, want %v and %v", c.name, k, d, c.kept, c.dropped)
		}
	}
}

// A sink whose filter keeps every record of a batch gets the batch itself.
func TestFilteredPassesWholeBatchUncopied(t *testing.T) {
	var seen *Batch
	s := &funcSink{accept: func(b *Batch) error { seen = b; b.Ack.Done(nil); return nil }}
	f := withFilter(s, func(*Record) bool { return true }, newCounters())
	var completions atomic.Int32
	b := batchOf(&completions, "ACCEPT", "ACCEPT")
	b.Ack.Add(1)
	if err := f.Accept(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if seen != b {
		t.Error("whole batch was copied")
	}
	b.Ack.Done(nil)
	if completions.Load() != 1 {
		t.Error("ack not completed")
	}
}

// A record that no sink wants is acknowledged at once, even though a sink
// that would receive it never settles.
func TestRecordNoSinkWantsIsAckedAtOnce(t *testing.T) {
	stuck := &funcSink{accept: func(*Batch) error { select {} }}
	p := newTestPipeline(t, Options{Workers: 1, Sinks: []Sink{
		withFilter(stuck, isReject, newCounters()),
		withFilter(&lineSink{name: "other"}, isReject, newCounters()),
	}})
	defer p.Close(context.Background())
	var completions atomic.Int32
	if err := submitAndWait(t, p, batchOf(&completions, "ACCEPT", "ACCEPT")); err != nil {
		t.Fatalf("ack = %v", err)
	}
	if completions.Load() != 1 {
		t.Errorf("ack completed %d times, want once", completions.Load())
	}
}

// A refused or failed sub-batch settles the batch's ack once, with the error.
func TestFilteredSubBatchErrorsReachTheAck(t *testing.T) {
	for _, tc := range []struct {
		name string
		sink *lineSink
	}{
		{"refused", &lineSink{name: "r", refuse: errors.New("full")}},
		{"failed", &lineSink{name: "f", err: errors.New("disk gone")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newTestPipeline(t, Options{Workers: 1, Sinks: []Sink{&lineSink{name: "ok"}, withFilter(tc.sink, isReject, newCounters())}})
			defer p.Close(context.Background())
			var completions atomic.Int32
			err := submitAndWait(t, p, batchOf(&completions, "ACCEPT", "REJECT"))
			if err == nil {
				t.Fatal("ack succeeded")
			}
			if got := tc.sink.got(); !slices.Equal(got, []string{"REJECT1"}) {
				t.Errorf("sink got %q", got)
			}
			time.Sleep(10 * time.Millisecond)
			if completions.Load() != 1 {
				t.Errorf("ack completed %d times, want once", completions.Load())
			}
		})
	}
}

type funcSink struct{ accept func(b *Batch) error }

func (s *funcSink) Name() string                             { return "func" }
func (s *funcSink) Accept(_ context.Context, b *Batch) error { return s.accept(b) }
func (s *funcSink) Close(context.Context) error              { return nil }
