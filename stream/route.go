package stream

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
)

// RecordFilter decides which records one sink receives.
type RecordFilter interface {
	// Keep reports whether the sink should receive r; it must be cheap,
	// deterministic and safe for concurrent use.
	Keep(r *Record) bool
}

// Filtered returns a sink that hands s only the records f keeps, counting
// each decision on kept or dropped.
//
// The records s receives travel in a sub-batch that shares the batch's
// Ack, so s settles the same share it would have settled for the whole
// batch, exactly once. When f keeps every record s gets the batch itself
// (no copy); when it keeps none the share is settled at once, without
// calling s, so a record no sink wants is acknowledged as soon as every
// sink has passed on it.
func Filtered(s Sink, f RecordFilter, kept, dropped prometheus.Counter) Sink {
	return &filtered{Sink: s, f: f, kept: kept, dropped: dropped}
}

type filtered struct {
	Sink
	f             RecordFilter
	kept, dropped prometheus.Counter
}

// Unwrap returns the filtered sink.
func (s *filtered) Unwrap() Sink { return s.Sink }

func (s *filtered) Accept(ctx context.Context, b *Batch) error {
	var sub []Record
	whole := true
	for i := range b.Records {
		if s.f.Keep(&b.Records[i]) {
			if !whole {
				sub = append(sub, b.Records[i])
			}
			continue
		}
		if whole {
			whole = false
			sub = append([]Record(nil), b.Records[:i]...)
		}
	}
	if whole {
		s.kept.Add(float64(len(b.Records)))
		return s.Sink.Accept(ctx, b)
	}
	s.kept.Add(float64(len(sub)))
	s.dropped.Add(float64(len(b.Records) - len(sub)))
	if len(sub) == 0 {
		b.Ack.Done(nil)
		return nil
	}
	return s.Sink.Accept(ctx, &Batch{Records: sub, Ack: b.Ack, Ctx: b.Ctx})
}
