package sinktest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/flowhose/flowhose/stream"
)

func batch(n int) *stream.Batch {
	b := &stream.Batch{Records: make([]stream.Record, n), Ack: stream.NewAck()}
	for i := range b.Records {
		b.Records[i].Raw = "line"
	}
	return b
}

// accept hands b to s the way the pipeline does and releases the creator's
// reference, so b.Ack completes exactly when the sink settles it.
func accept(t *testing.T, s *Sink, b *stream.Batch) error {
	t.Helper()
	b.Ack.Add(1)
	if err := s.Accept(context.Background(), b); err != nil {
		b.Ack.Done(err)
		b.Ack.Done(nil)
		return err
	}
	b.Ack.Done(nil)
	return nil
}

func completed(b *stream.Batch) bool {
	select {
	case <-b.Ack.Completed():
		return true
	default:
		return false
	}
}

func TestSinkModes(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name      string
		setup     func(*Sink)
		wantErr   error // the batch's ack error
		wantCount int   // records recorded
	}{
		{"success", func(*Sink) {}, nil, 3},
		{"error", func(s *Sink) { s.SetErr(boom) }, boom, 3},
		{"refuse", func(s *Sink) { s.SetRefuse(boom) }, boom, 0},
		{"delay", func(s *Sink) { s.SetDelay(time.Millisecond) }, nil, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSink("rec")
			tt.setup(s)
			b := batch(3)
			_ = accept(t, s, b)
			<-b.Ack.Completed()
			if err := b.Ack.Err(); !errors.Is(err, tt.wantErr) {
				t.Fatalf("ack err = %v, want %v", err, tt.wantErr)
			}
			if got := len(s.Records()); got != tt.wantCount {
				t.Fatalf("records = %d, want %d", got, tt.wantCount)
			}
			if s.Pending() != 0 {
				t.Fatalf("pending = %d after settling", s.Pending())
			}
		})
	}
}

func TestHoldRelease(t *testing.T) {
	s := NewSink("rec")
	s.Hold()
	b := batch(2)
	if err := accept(t, s, b); err != nil {
		t.Fatal(err)
	}
	if completed(b) || s.Pending() != 1 {
		t.Fatalf("held batch completed=%v pending=%d", completed(b), s.Pending())
	}
	if err := s.WaitBatches(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	s.Release()
	<-b.Ack.Completed()
	if b.Ack.Err() != nil || s.Pending() != 0 {
		t.Fatalf("after release err=%v pending=%d", b.Ack.Err(), s.Pending())
	}
}

func TestCloseSettlesHeld(t *testing.T) {
	s := NewSink("rec")
	s.Hold()
	b := batch(1)
	if err := accept(t, s, b); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-b.Ack.Completed()
	if !errors.Is(b.Ack.Err(), ErrClosed) {
		t.Fatalf("ack err = %v, want ErrClosed", b.Ack.Err())
	}
	if err := accept(t, s, batch(1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("accept after close = %v", err)
	}
}

func TestDiscardCountsOnly(t *testing.T) {
	s := NewDiscardSink("null")
	_ = accept(t, s, batch(4))
	if s.Accepted() != 4 || s.Batches() != 1 || len(s.Records()) != 0 {
		t.Fatalf("accepted=%d batches=%d kept=%d", s.Accepted(), s.Batches(), len(s.Records()))
	}
}

func TestDeadLetter(t *testing.T) {
	var d DeadLetter
	fs := []stream.Failure{{Source: "x", Input: "bad", Line: 2, Reason: "r"}}
	if err := d.WriteFailures(context.Background(), fs); err != nil {
		t.Fatal(err)
	}
	d.SetErr(errors.New("disk full"))
	if err := d.WriteFailures(context.Background(), fs); err == nil {
		t.Fatal("want error")
	}
	if got := d.Failures(); len(got) != 1 || got[0].Input != "bad" {
		t.Fatalf("failures = %+v", got)
	}
}
