package kafka

import "testing"

// TestTrackerNeverPassesAHole settles runs out of order: the committable
// offset moves only over a settled prefix.
func TestTrackerNeverPassesAHole(t *testing.T) {
	tr := newTracker(-2)
	a, b, c := tr.take(10), tr.take(15), tr.take(40)
	tr.settle(b)
	tr.settle(c)
	if got := tr.committable.Load(); got != -2 {
		t.Fatalf("committable = %d with the first run unsettled, want -2", got)
	}
	tr.settle(a)
	if got := tr.committable.Load(); got != 40 {
		t.Fatalf("committable = %d, want 40", got)
	}
	if tr.pending() != 0 {
		t.Fatalf("pending = %d, want 0", tr.pending())
	}
	d, e := tr.take(41), tr.take(50)
	tr.settle(e)
	if got := tr.committable.Load(); got != 40 {
		t.Fatalf("committable = %d past the unsettled run ending at 41", got)
	}
	tr.settle(d)
	if got := tr.committable.Load(); got != 50 {
		t.Fatalf("committable = %d, want 50", got)
	}
}

func TestLimiter(t *testing.T) {
	l := &limiter{maxMsgs: 2, maxBytes: 100}
	p := &partition{}
	if !l.tryTake(p, 500) {
		t.Fatal("a message over max bytes must be taken when nothing is in flight")
	}
	if l.tryTake(p, 1) {
		t.Fatal("took a message past max bytes")
	}
	l.give(1, 500)
	if !l.tryTake(p, 60) || l.tryTake(p, 60) || !l.tryTake(p, 40) || l.tryTake(p, 0) {
		t.Fatal("limits not applied")
	}
	if n, b := l.inFlight(); n != 2 || b != 100 {
		t.Fatalf("in flight %d messages %d bytes", n, b)
	}
}

// TestLimiterOversizedNotStarved has a partition wait for a message over
// max bytes while another keeps a small one in flight: the other takes
// nothing more until the large one went, or a steady flow there would
// keep it waiting for ever.
func TestLimiterOversizedNotStarved(t *testing.T) {
	l := &limiter{maxMsgs: 10, maxBytes: 100}
	big, small := &partition{}, &partition{}
	if !l.tryTake(small, 10) {
		t.Fatal("small message refused")
	}
	if l.tryTake(big, 500) {
		t.Fatal("a message over max bytes taken while another is in flight")
	}
	if l.tryTake(small, 10) {
		t.Fatal("a small message taken while a large one waits for the room")
	}
	l.give(1, 10)
	if !l.tryTake(big, 500) {
		t.Fatal("the large message refused with nothing in flight")
	}
	l.give(1, 500)
	if !l.tryTake(small, 10) {
		t.Fatal("small message refused once the large one went")
	}
	if l.tryTake(big, 500) {
		t.Fatal("a message over max bytes taken while another is in flight")
	}
	l.forget(big)
	if !l.tryTake(small, 10) {
		t.Fatal("small message refused after the large one was dropped")
	}
}
