package kafka

import "sync/atomic"

// tracker is one partition's runs of offsets handed to the pipeline, in
// the order they were fetched. Runs settle in any order (workers run in
// parallel, batches are retried); the committable offset only moves over
// a settled prefix, so a commit never passes a run still in flight.
// take and settle are called from the partition's goroutine only;
// committable is read by the committer.
type tracker struct {
	runs []*run
	// committable is the offset after the settled prefix: what Kafka is
	// told to read next. It starts at the assignment's offset (negative
	// for "the start offset of a new group": nothing to commit yet).
	committable atomic.Int64
}

// run is a batch's offsets: from its first message to the one after its
// last (offsets between messages, left by compaction or transaction
// markers, belong to the run that spans them).
type run struct {
	end  int64
	done bool
}

func newTracker(start int64) *tracker {
	t := &tracker{}
	t.committable.Store(start)
	return t
}

// take appends the run of messages ending before end.
func (t *tracker) take(end int64) *run {
	r := &run{end: end}
	t.runs = append(t.runs, r)
	return r
}

// settle marks r delivered and moves committable over the settled prefix.
func (t *tracker) settle(r *run) {
	r.done = true
	n := 0
	for n < len(t.runs) && t.runs[n].done {
		n++
	}
	if n == 0 {
		return
	}
	t.committable.Store(t.runs[n-1].end)
	clear(t.runs[:n])
	t.runs = t.runs[n:]
}

// pending is how many runs are not yet part of the settled prefix.
func (t *tracker) pending() int { return len(t.runs) }
