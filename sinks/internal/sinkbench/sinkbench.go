// Package sinkbench holds what the sink benchmark commands share: the
// records they send, handing them to a sink in batches, and the client's
// own cost (wall time, CPU time, allocated bytes) of a run.
package sinkbench

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/decode"
)

// Records makes n distinct version 2 records spread over a week.
func Records(n int) ([]stream.Record, error) {
	var b strings.Builder
	for i := range n {
		start := 1700000000 + i*3
		action := "ACCEPT"
		if i%7 == 0 {
			action = "REJECT"
		}
		fmt.Fprintf(&b, "2 123456789012 eni-%017x 10.%d.%d.%d 172.16.%d.%d %d %d %d %d %d %d %d %s OK\n",
			i%97, i%250, (i/250)%250, i%200+1, i%13, i%251, 1024+i%60000, []int{443, 22, 53, 80}[i%4],
			[]int{6, 6, 17, 1}[i%4], 1+i%100, 40+i%150000, start, start+60, action)
	}
	d, err := decode.New(decode.Options{Source: "bench"})
	if err != nil {
		return nil, err
	}
	var out decode.Output
	d.Text(b.String(), &out)
	if len(out.Failures) > 0 || len(out.Records) != n {
		return nil, fmt.Errorf("generated %d records, %d failures: %+v", len(out.Records), len(out.Failures), out.Failures)
	}
	return out.Records, nil
}

// Send hands recs to s in batches of batch records, closes s and waits
// for every batch's ack.
func Send(s stream.Sink, recs []stream.Record, batch int) error {
	var acks []*stream.Ack
	for i := 0; i < len(recs); i += batch {
		ack := stream.NewAck()
		ack.Add(1)
		if err := s.Accept(context.Background(), &stream.Batch{Records: recs[i:min(i+batch, len(recs))], Ack: ack}); err != nil {
			return err
		}
		ack.Done(nil)
		acks = append(acks, ack)
	}
	if err := s.Close(context.Background()); err != nil {
		return err
	}
	for _, a := range acks {
		if err := a.Wait(context.Background()); err != nil {
			return err
		}
	}
	return nil
}

// Sample is the process's clock, CPU time and allocations at one moment.
type Sample struct {
	t     time.Time
	cpu   time.Duration
	alloc uint64
}

// Result is what a run cost the client.
type Result struct {
	Wall, CPU time.Duration
	Alloc     uint64
}

// Measure samples the process now.
func Measure() Sample {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return Sample{t: time.Now(), cpu: time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), alloc: ms.TotalAlloc}
}

// Since is the cost from s to now.
func (s Sample) Since() Result {
	e := Measure()
	return Result{Wall: e.t.Sub(s.t), CPU: e.cpu - s.cpu, Alloc: e.alloc - s.alloc}
}

// DiscardDL is a dead-letter writer that keeps nothing.
type DiscardDL struct{}

// WriteFailures implements stream.DeadLetterWriter.
func (DiscardDL) WriteFailures(context.Context, []stream.Failure) error { return nil }
