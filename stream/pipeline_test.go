package stream

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// testSink records batches and settles them with err, after release is
// closed when release is non-nil.
type testSink struct {
	name    string
	err     error
	refuse  error
	release chan struct{}

	mu      sync.Mutex
	records int
	pending sync.WaitGroup
}

func (s *testSink) Name() string { return s.name }

func (s *testSink) Accept(_ context.Context, b *Batch) error {
	if s.refuse != nil {
		return s.refuse
	}
	s.mu.Lock()
	s.records += len(b.Records)
	s.mu.Unlock()
	if s.release == nil {
		b.Ack.Done(s.err)
		return nil
	}
	s.pending.Add(1)
	go func() {
		defer s.pending.Done()
		<-s.release
		b.Ack.Done(s.err)
	}()
	return nil
}

func (s *testSink) Close(context.Context) error { s.pending.Wait(); return nil }

func (s *testSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.records
}

type testDeadLetter struct {
	mu  sync.Mutex
	got []Failure
	err error
}

func (d *testDeadLetter) WriteFailures(_ context.Context, fs []Failure) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err != nil {
		return d.err
	}
	d.got = append(d.got, fs...)
	return nil
}

type countingEnricher struct{ n int }

func (e *countingEnricher) Enrich(_ context.Context, recs []Record) {
	for i := range recs {
		recs[i].AccountID = "enriched"
	}
	e.n += len(recs)
}

func newTestPipeline(t *testing.T, opts Options) *Pipeline {
	t.Helper()
	if opts.Workers == 0 {
		opts.Workers = 2
	}
	if opts.QueueDepth == 0 {
		opts.QueueDepth = 4
	}
	if opts.DeadLetter == nil {
		opts.DeadLetter = &testDeadLetter{}
	}
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func submitAndWait(t *testing.T, p *Pipeline, b *Batch) error {
	t.Helper()
	if err := p.Submit(context.Background(), b); err != nil {
		t.Fatalf("Submit: %v", err)
	}
	b.Ack.Done(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return b.Ack.Wait(ctx)
}

func TestPipelineDeliversToEverySink(t *testing.T) {
	a, b := &testSink{name: "a"}, &testSink{name: "b"}
	enr := &countingEnricher{}
	p := newTestPipeline(t, Options{Workers: 1, Sinks: []Sink{a, b}, Enrichers: []Enricher{enr}})
	batch := &Batch{Records: make([]Record, 3), Ack: NewAck()}
	if err := submitAndWait(t, p, batch); err != nil {
		t.Fatalf("ack = %v", err)
	}
	if a.count() != 3 || b.count() != 3 {
		t.Fatalf("sinks got %d and %d records, want 3 each", a.count(), b.count())
	}
	if enr.n != 3 || batch.Records[0].AccountID != "enriched" {
		t.Fatal("enricher did not run before the sinks")
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestPipelineAckWaitsForSlowestSink(t *testing.T) {
	slow := &testSink{name: "slow", release: make(chan struct{})}
	p := newTestPipeline(t, Options{Sinks: []Sink{&testSink{name: "fast"}, slow}})
	defer p.Close(context.Background())
	batch := &Batch{Records: make([]Record, 1), Ack: NewAck()}
	if err := p.Submit(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	batch.Ack.Done(nil)
	select {
	case <-batch.Ack.Completed():
		t.Fatal("ack completed before the slow sink settled")
	case <-time.After(50 * time.Millisecond):
	}
	close(slow.release)
	if err := batch.Ack.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestPipelineSinkErrorsReachTheAck(t *testing.T) {
	boom := errors.New("boom")
	for _, s := range []*testSink{{name: "fails", err: boom}, {name: "refuses", refuse: boom}} {
		t.Run(s.name, func(t *testing.T) {
			p := newTestPipeline(t, Options{Sinks: []Sink{&testSink{name: "ok"}, s}})
			defer p.Close(context.Background())
			err := submitAndWait(t, p, &Batch{Records: make([]Record, 2), Ack: NewAck()})
			if !errors.Is(err, boom) {
				t.Fatalf("ack = %v, want %v", err, boom)
			}
		})
	}
}

func TestPipelineDeadLettersFailuresBeforeAck(t *testing.T) {
	dl := &testDeadLetter{}
	sink := &testSink{name: "s"}
	p := newTestPipeline(t, Options{Sinks: []Sink{sink}, DeadLetter: dl})
	defer p.Close(context.Background())
	b := &Batch{Records: make([]Record, 1), Failures: []Failure{{Input: "junk", Reason: "bad"}}, Ack: NewAck()}
	if err := submitAndWait(t, p, b); err != nil {
		t.Fatal(err)
	}
	if len(dl.got) != 1 || dl.got[0].Input != "junk" {
		t.Fatalf("dead letters = %+v", dl.got)
	}

	dl.err = errors.New("disk full")
	b = &Batch{Failures: []Failure{{Input: "junk"}}, Ack: NewAck()}
	if err := submitAndWait(t, p, b); err == nil {
		t.Fatal("ack succeeded although the dead-letter write failed")
	}
}

func TestPipelineBackPressure(t *testing.T) {
	slow := &testSink{name: "slow"}
	block := make(chan struct{})
	blocking := &blockingSink{testSink: slow, block: block}
	p := newTestPipeline(t, Options{Workers: 1, QueueDepth: 1, Sinks: []Sink{blocking}})
	// One batch occupies the worker, one fills the queue; the third must wait.
	for range 2 {
		if err := p.Submit(context.Background(), &Batch{Records: make([]Record, 1), Ack: NewAck()}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	third := &Batch{Records: make([]Record, 1), Ack: NewAck()}
	if err := p.Submit(ctx, third); !errors.Is(err, ErrBusy) {
		t.Fatalf("Submit on a full queue = %v, want ErrBusy", err)
	}
	// The refused batch's ack is still the caller's alone.
	third.Ack.Done(nil)
	if err := third.Ack.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	close(block)
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := p.Submit(context.Background(), &Batch{Ack: NewAck()}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Submit after Close = %v, want ErrClosed", err)
	}
}

// blockingSink blocks in Accept until block is closed: a saturated sink.
type blockingSink struct {
	*testSink
	block chan struct{}
}

func (s *blockingSink) Accept(ctx context.Context, b *Batch) error {
	<-s.block
	return s.testSink.Accept(ctx, b)
}

func TestPipelineCloseDrainsQueuedBatches(t *testing.T) {
	sink := &testSink{name: "s", release: make(chan struct{})}
	p := newTestPipeline(t, Options{Workers: 1, QueueDepth: 8, Sinks: []Sink{sink}})
	var acks []*Ack
	for range 5 {
		b := &Batch{Records: make([]Record, 2), Ack: NewAck()}
		if err := p.Submit(context.Background(), b); err != nil {
			t.Fatal(err)
		}
		b.Ack.Done(nil)
		acks = append(acks, b.Ack)
	}
	close(sink.release)
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i, a := range acks {
		select {
		case <-a.Completed():
		default:
			t.Fatalf("batch %d not settled after Close", i)
		}
	}
	if sink.count() != 10 {
		t.Fatalf("sink got %d records, want 10", sink.count())
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	for _, o := range []Options{
		{Workers: 0, QueueDepth: 1, DeadLetter: &testDeadLetter{}},
		{Workers: 1, QueueDepth: 0, DeadLetter: &testDeadLetter{}},
		{Workers: 1, QueueDepth: 1},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) succeeded", o)
		}
	}
}

// givingUpSink blocks in Accept, as a sink retrying without end does, until
// Close is called with an ended context and gives up.
type givingUpSink struct {
	*testSink
	gaveUp chan struct{}
}

func (s *givingUpSink) Accept(context.Context, *Batch) error {
	<-s.gaveUp
	return errors.New("gave up")
}

func (s *givingUpSink) Close(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		close(s.gaveUp)
		return err
	}
	return nil
}

// Once Close's context ends, the sinks are closed even though a worker is
// still blocked in one of them: otherwise neither would ever return.
func TestPipelineCloseGivesUpWhenContextEnds(t *testing.T) {
	sink := &givingUpSink{testSink: &testSink{name: "stuck"}, gaveUp: make(chan struct{})}
	p := newTestPipeline(t, Options{Workers: 1, Sinks: []Sink{sink}})
	b := &Batch{Records: make([]Record, 1), Ack: NewAck()}
	if err := p.Submit(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	b.Ack.Done(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	closed := make(chan error, 1)
	go func() { closed <- p.Close(ctx) }()
	select {
	case err := <-closed:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Close() = %v, want the sink's give-up", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return after its context ended")
	}
	if err := b.Ack.Wait(context.Background()); err == nil {
		t.Fatal("the batch the sink gave up on was acknowledged")
	}
}
