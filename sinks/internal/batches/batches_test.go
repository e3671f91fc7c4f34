package batches

import (
	"errors"
	"testing"

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
