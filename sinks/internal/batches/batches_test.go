package batches

import (
	"errors"
	"testing"
	"time"

	"github.com/flowhose/flowhose/stream"
)

func TestSettleCompletesOnceWithTheWorstError(t *testing.T) {
	var tr Tracker
	ack := stream.NewAck()
	ack.Add(1)
	b := &stream.Batch{Records: make([]stream.Record, 3), Ack: ack}
	bs := tr.Start(b)
	ack.Done(nil)
	items := []Item{{Batch: bs, Rec: &b.Records[0]}, {Batch: bs, Rec: &b.Records[1]}, {Batch: bs, Rec: &b.Records[2]}}
	tr.Settle(items[:1], stream.Permanent(errors.New("permanent")))
	tr.Settle(items[1:2], errors.New("retryable"))
	select {
	case <-ack.Completed():
		t.Fatal("completed with a record unsettled")
	default:
	}
	tr.Settle(items[2:], nil)
	<-ack.Completed()
	if err := ack.Err(); err == nil || stream.IsPermanent(err) {
		t.Fatalf("err = %v, want the retryable one", err)
	}
}

func TestFillingFlushesWaitingRequestAndClosesOnce(t *testing.T) {
	var f Filling
	var at time.Time // the request being filled: zero when none
	flushed := make(chan struct{}, 10)
	flush := func() {
		if !at.IsZero() {
			at = time.Time{}
			flushed <- struct{}{}
		}
	}
	f.StartTimer(20*time.Millisecond, func() (time.Time, bool) { return at, !at.IsZero() }, flush)
	f.Mu.Lock()
	at = time.Now()
	f.Mu.Unlock()
	select {
	case <-flushed:
	case <-time.After(5 * time.Second):
		t.Fatal("a request that waited flush_interval was not sent")
	}
	f.Mu.Lock()
	at = time.Now()
	f.Mu.Unlock()
	if !f.Close(flush) || !f.Closed {
		t.Fatal("first Close did not close")
	}
	if len(flushed) != 1 {
		t.Fatalf("Close sent %d requests, want the last one", len(flushed))
	}
	if f.Close(func() { t.Error("second Close flushed") }) {
		t.Error("second Close reported closing")
	}
}
