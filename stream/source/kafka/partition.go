package kafka

import (
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/decode"
	"github.com/flowhose/flowhose/stream/membudget"
)

// admitPoll is how often a partition that may not take its next message
// (in-flight limits, memory budget) tries again.
const admitPoll = 5 * time.Millisecond

// maxFailureInput is how much of a message that fails as a whole goes to
// the dead-letter file.
const maxFailureInput = 1024

// partition consumes one partition for one generation. Everything but
// the fetch goroutine and the ack callbacks runs on the partition's own
// goroutine; callbacks hand settled batches over through settledQ.
type partition struct {
	c   *consumer
	g   *generation
	tp  topicPartition
	st  *partitionState
	ref string // "topic/partition/"
	dec *decode.Decoder
	// messages is this partition's topic's series of the messages counter.
	messages prometheus.Counter

	pending   *batch        // decoding, not yet handed over
	value     []byte        // the value of the message being decoded, for batch.keep
	held      kafka.Message // fetched, waiting for room when holding
	holding   bool
	heldSince time.Time       // when held was first refused, zero if it was not
	inFlight  int             // batches handed over, not yet collected
	inFlightN int             // their messages
	retrying  []*batch        // failed, waiting for their backoff
	drop      context.Context // Batch.Ctx: ends when the partition gives up what is left
	cancel    context.CancelFunc

	mu       sync.Mutex
	settledQ []*batch
	closed   bool
	notify   chan struct{}
}

// batch is a run of consecutive messages of one partition, decoded
// together and handed to the pipeline as one stream.Batch.
type batch struct {
	p        *partition
	first    int64 // offset of the first message
	end      int64 // offset after the last message
	deadline time.Time
	msgs     int
	bytes    int64
	out      decode.Output
	lease    *membudget.Lease
	run      *run
	attempt  int
	due      time.Time
	err      error
}

// consume reads one assigned partition until the generation or the
// source ends, then settles: it stops fetching, waits (bounded by
// drain_timeout) for batches in flight, commits the delivered prefix and
// leaves the rest uncommitted for the partition's next reader.
func (c *consumer) consume(runCtx, genCtx context.Context, g *generation, tp topicPartition, st *partitionState) {
	dec, err := decode.New(c.decOpts)
	if err != nil {
		// Checked in Open.
		c.log.Error("kafka decoder", "err", err)
		return
	}
	stop, cancelStop := context.WithCancel(runCtx)
	defer cancelStop()
	unwatch := context.AfterFunc(genCtx, cancelStop)
	defer unwatch()
	p := &partition{c: c, g: g, tp: tp, st: st, dec: dec, notify: make(chan struct{}, 1),
		ref: tp.topic + "/" + strconv.Itoa(tp.partition) + "/", messages: c.m.messages.WithLabelValues(tp.topic)}
	p.drop, p.cancel = context.WithCancel(context.Background())

	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:        c.cfg.Brokers,
		Topic:          tp.topic,
		Partition:      tp.partition,
		Dialer:         c.dialer,
		MinBytes:       c.cfg.FetchMinBytes,
		MaxBytes:       c.cfg.FetchMaxBytes,
		MaxWait:        c.cfg.FetchMaxWait,
		QueueCapacity:  c.cfg.Prefetch,
		IsolationLevel: kafka.ReadCommitted,
		Logger:         kafkaLogger(c.log, slog.LevelDebug),
		ErrorLogger:    kafkaLogger(c.log, slog.LevelWarn),
	})
	if st.tracker.committable.Load() == kafka.LastOffset {
		c.pinLatest(stop, tp, st)
	} else {
		c.resumeInLog(stop, g, tp, st)
	}
	if err := r.SetOffset(st.tracker.committable.Load()); err != nil {
		c.log.Error("kafka reader offset", "topic", tp.topic, "partition", tp.partition, "err", err)
	}
	fetched := make(chan kafka.Message)
	var fetching sync.WaitGroup
	fetching.Go(func() { p.fetch(stop, r, fetched) })
	p.loop(stop, fetched)
	cancelStop()
	fetching.Wait()
	p.settle()
	if err := r.Close(); err != nil {
		c.log.Debug("kafka reader close", "topic", tp.topic, "partition", tp.partition, "err", err)
	}
}

// pinLatest resolves "the latest offset" of a partition the group has
// committed nothing for into the partition's end offset, which the next
// commit then records: a member taking the partition over continues from
// there. Left unresolved, it would resolve "latest" again, past whatever
// this member took and did not deliver, and nobody would deliver it. If
// the brokers cannot say, the reader resolves it, as before.
func (c *consumer) pinLatest(ctx context.Context, tp topicPartition, st *partitionState) {
	res, err := c.ends.ListOffsets(ctx, &kafka.ListOffsetsRequest{
		Topics:         map[string][]kafka.OffsetRequest{tp.topic: {kafka.LastOffsetOf(tp.partition)}},
		IsolationLevel: kafka.ReadCommitted,
	})
	if err == nil {
		for _, po := range res.Topics[tp.topic] {
			if po.Partition == tp.partition && po.Error == nil && po.LastOffset >= 0 {
				st.tracker.committable.Store(po.LastOffset)
				return
			}
			err = po.Error
		}
	}
	c.log.Warn("kafka latest offset not pinned; a member taking the partition over before a commit starts at the latest offset again",
		"topic", tp.topic, "partition", tp.partition, "err", err)
}

// resumeInLog moves a committed offset that lies outside the partition's
// log to the log start. Past the end (the topic recreated, offsets
// committed by another tool) the reader would wait, silently and with lag
// 0, for offsets that may never come. Before the start (retention deleted
// what was never read) only what is gone already is lost. The new position is committed at the
// next commit_interval. If the brokers cannot say, the reader starts from
// the committed offset, as before.
func (c *consumer) resumeInLog(ctx context.Context, g *generation, tp topicPartition, st *partitionState) {
	committed := st.tracker.committable.Load()
	if committed < 0 {
		return
	}
	// Uncommitted isolation: the log end is the high watermark, what a
	// fetch is out of range against; the last stable offset can be lower.
	res, err := c.ends.ListOffsets(ctx, &kafka.ListOffsetsRequest{
		Topics: map[string][]kafka.OffsetRequest{tp.topic: {kafka.FirstOffsetOf(tp.partition), kafka.LastOffsetOf(tp.partition)}},
	})
	if err != nil {
		c.log.Debug("kafka log offsets", "topic", tp.topic, "partition", tp.partition, "err", err)
		return
	}
	for _, po := range res.Topics[tp.topic] {
		if po.Partition != tp.partition || po.Error != nil || po.FirstOffset < 0 || po.LastOffset < 0 {
			continue
		}
		resume, position := committed, ""
		switch {
		case committed > po.LastOffset:
			// Resumed at the log start, not its end: nothing tells the
			// records below the end apart from ones that were delivered,
			// and a duplicate is what at least once accepts, a loss not.
			resume, position = po.FirstOffset, "after_end"
		case committed < po.FirstOffset:
			resume, position = po.FirstOffset, "before_start"
		default:
			return
		}
		c.m.offsetResets.WithLabelValues(position).Inc()
		c.log.Warn("kafka committed offset out of range; resuming inside the log",
			"topic", tp.topic, "partition", tp.partition, "committed", committed,
			"log_start", po.FirstOffset, "log_end", po.LastOffset, "resume", resume)
		st.tracker.committable.Store(resume)
		g.mu.Lock()
		st.committed = -1 // so that the next commit records resume
		g.mu.Unlock()
		return
	}
}

// fetch hands the reader's messages over until stop ends. The reader
// reconnects and retries by itself; what it reports is counted and
// retried after a pause.
func (p *partition) fetch(stop context.Context, r *kafka.Reader, out chan<- kafka.Message) {
	for {
		m, err := r.FetchMessage(stop)
		if err != nil {
			if stop.Err() != nil {
				return
			}
			p.c.m.fetchErrors.Inc()
			p.c.log.Warn("kafka fetch", "topic", p.tp.topic, "partition", p.tp.partition, "err", err)
			select {
			case <-stop.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		select {
		case out <- m:
		case <-stop.Done():
			return
		}
	}
}

// loop takes messages, hands batches over and collects their results
// until stop ends.
func (p *partition) loop(stop context.Context, fetched <-chan kafka.Message) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	// armed is when the timer fires; most messages leave it unchanged
	// (the pending batch's deadline), and resetting it for each of them
	// showed in profiles.
	var armed time.Time
	for {
		in := fetched
		if p.holding {
			in = nil // paused: the held message goes first
		}
		if next, ok := p.nextWake(); !ok {
			if !armed.IsZero() {
				timer.Stop()
				armed = time.Time{}
			}
		} else if !next.Equal(armed) {
			timer.Reset(time.Until(next))
			armed = next
		}
		select {
		case <-stop.Done():
			return
		case m := <-in:
			p.st.raiseEnd(m.HighWaterMark)
			p.held, p.holding = m, true
			p.admit(stop)
		case <-p.notify:
			p.collect(stop)
		case <-timer.C:
			armed = time.Time{}
			now := time.Now()
			if p.pending != nil && !now.Before(p.pending.deadline) {
				p.flush(stop)
			}
			if p.holding {
				p.admit(stop)
			}
			p.retryDue(stop, now)
		}
	}
}

// nextWake is when the loop has something to do besides messages and
// results: a pending batch's deadline, a held message's next try, a
// retry.
func (p *partition) nextWake() (time.Time, bool) {
	var next time.Time
	set := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	if p.pending != nil {
		set(p.pending.deadline)
	}
	if p.holding {
		set(time.Now().Add(admitPoll))
	}
	for _, b := range p.retrying {
		set(b.due)
	}
	return next, !next.IsZero()
}

// admit decodes the held message into the pending batch if the in-flight
// limits and the memory budget have room for it; otherwise it stays held
// (fetching pauses) and the pending batch is handed over, so that
// what holds the room can settle.
func (p *partition) admit(stop context.Context) {
	m := &p.held
	size := int64(len(m.Value))
	if !p.c.limiter.tryTake(p, size) {
		p.refused(stop)
		return
	}
	if p.pending == nil {
		p.pending = p.newBatch()
	}
	if !p.decode(p.pending, m) {
		p.c.limiter.give(1, size)
		p.refused(stop)
		return
	}
	if !p.heldSince.IsZero() {
		p.c.m.paused.Add(time.Since(p.heldSince).Seconds())
		p.heldSince = time.Time{}
	}
	p.held, p.holding = kafka.Message{}, false
	if len(p.pending.out.Records) >= p.c.cfg.BatchSize {
		p.flush(stop)
	}
}

// refused notes that the held message must wait, counting the paused
// time as it goes so that a long pause shows while it lasts.
func (p *partition) refused(stop context.Context) {
	now := time.Now()
	if !p.heldSince.IsZero() {
		p.c.m.paused.Add(now.Sub(p.heldSince).Seconds())
	}
	p.heldSince = now
	if p.pending != nil && p.pending.msgs > 0 {
		p.flush(stop)
	}
}

func (p *partition) newBatch() *batch {
	b := &batch{p: p, deadline: time.Now().Add(p.c.cfg.BatchWait)}
	b.out.Keep = b.keep
	p.newLease(b)
	// A record array from a settled batch, or one as large, so that
	// decoding does not grow one from nothing for every batch (it was a
	// third of the CPU time).
	rp, _ := p.c.records.Get().(*[]stream.Record)
	n := p.c.recordsCap.Load()
	if rp != nil {
		n = int64(cap(*rp))
	}
	switch {
	case n == 0:
	case b.out.Reserve != nil && b.out.Reserve(n*decode.RecordBytes) != nil:
		if rp != nil {
			p.c.records.Put(rp)
		}
	case rp != nil:
		b.out.Records = *rp
	default:
		b.out.Records = make([]stream.Record, 0, n)
	}
	return b
}

// newLease gives b a lease of its own on the memory budget, if there is
// one.
func (p *partition) newLease(b *batch) {
	if p.c.budget != nil {
		b.lease = p.c.budget.Lease("kafka")
		b.out.Reserve = b.lease.Grow
	}
}

// keep is the batch's decode.Output.Keep. The records of a plain message
// point into the message's value itself: kafka-go allocates each value
// for its message and never touches it again (a test checks), so the copy
// the decoder would make was half of what the source allocated, for
// nothing. Anything else (gunzipped text in the decoder's reused buffer)
// is copied. Either way what the records keep is reserved first.
func (b *batch) keep(data []byte) (string, error) {
	if len(data) == 0 {
		return "", nil
	}
	if b.out.Reserve != nil {
		if err := b.out.Reserve(int64(len(data))); err != nil {
			return "", err
		}
	}
	if v := b.p.value; len(v) == len(data) && unsafe.SliceData(v) == unsafe.SliceData(data) {
		return unsafe.String(unsafe.SliceData(data), len(data)), nil
	}
	return string(data), nil
}

// decode adds message m to b. It reports false, leaving b as it was,
// when the memory budget has no room for m yet. A message that fails as
// a whole (too large for the whole budget, no flow-log line in it)
// becomes a failure, dead-lettered with its offset.
func (p *partition) decode(b *batch, m *kafka.Message) bool {
	out := &b.out
	nr, nf, ns := len(out.Records), len(out.Failures), out.Skipped
	p.dec.Reset()
	p.value = m.Value
	p.dec.Payload(m.Value, out)
	p.value = nil
	if err := out.Err; err != nil {
		out.Records, out.Failures, out.Skipped, out.Err = out.Records[:nr], out.Failures[:nf], ns, nil
		if b.msgs > 0 || errors.Is(err, membudget.ErrExhausted) {
			if b.msgs == 0 {
				// What the attempt reserved would count against the
				// next one: start the lease afresh.
				b.lease.Release()
				p.newLease(b)
			}
			return false
		}
		out.Failures = append(out.Failures, p.failure(m, "message needs more than the memory budget: "+err.Error()))
	} else if len(out.Records) == nr && len(out.Failures) == nf && out.Skipped == ns {
		out.Failures = append(out.Failures, p.failure(m, "no flow-log line in the message"))
	}
	ref := p.ref + strconv.FormatInt(m.Offset, 10)
	for i := nf; i < len(out.Failures); i++ {
		out.Failures[i].Ref = ref
	}
	if b.msgs == 0 {
		b.first = m.Offset
	}
	b.end = m.Offset + 1
	b.msgs++
	b.bytes += int64(len(m.Value))
	p.messages.Inc()
	p.c.m.bytes.Add(float64(len(m.Value)))
	p.c.m.records.Add(float64(len(out.Records) - nr))
	p.c.m.failures.Add(float64(len(out.Failures) - nf))
	return true
}

// failure is a whole message that could not be decoded, its start kept
// (base64 when it is not UTF-8, like the decoder's failures).
func (p *partition) failure(m *kafka.Message, reason string) stream.Failure {
	in := m.Value[:min(len(m.Value), maxFailureInput)]
	input := string(in)
	if !utf8.Valid(in) {
		input = base64.StdEncoding.EncodeToString(in)
		reason += " (input is base64: not valid UTF-8)"
	}
	if len(in) < len(m.Value) {
		reason += " (input truncated to " + strconv.Itoa(maxFailureInput) + " of " + strconv.Itoa(len(m.Value)) + " bytes)"
	}
	return stream.Failure{Source: p.c.decOpts.Source, Input: input, Reason: reason}
}

// flush hands the pending batch to the pipeline.
func (p *partition) flush(stop context.Context) {
	b := p.pending
	p.pending = nil
	if b == nil {
		return
	}
	if b.msgs == 0 {
		b.lease.Release()
		return
	}
	b.run = p.st.tracker.take(b.end)
	p.submit(stop, b)
}

// submit hands b to the pipeline; its result comes back through collect.
func (p *partition) submit(stop context.Context, b *batch) {
	b.attempt++
	p.inFlight++
	p.inFlightN += b.msgs
	ack := stream.NewAckThen(b.settled)
	sb := &stream.Batch{Records: b.out.Records, Failures: b.out.Failures, Ack: ack, Ctx: p.drop}
	if err := p.c.pipeline.Submit(stop, sb); err != nil {
		ack.Done(err)
		return
	}
	ack.Done(nil)
}

// settled runs when every sink has settled b: it hands b back to its
// partition, or, once the partition has given up, releases it.
func (b *batch) settled(err error) {
	p := b.p
	b.err = err
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		b.release()
		return
	}
	p.settledQ = append(p.settledQ, b)
	p.mu.Unlock()
	select {
	case p.notify <- struct{}{}:
	default:
	}
}

// release gives back b's share of the in-flight limits and the budget,
// and its record array for another batch. Only the array's unused tail
// is cleared (a record the decoder filled and then dropped, records of
// the batch before this one): the next batch's decoder zeroes every
// record it fills, so a pooled array keeps alive at most the payloads of
// the one batch that used it last, and only until the pool drops it at a
// garbage collection. Clearing the whole 1 MB array, with write barriers
// during a collection, was 5% of the source's CPU. Arrays much larger
// than a batch (one huge message) are left to the collector.
func (b *batch) release() {
	c := b.p.c
	c.limiter.give(b.msgs, b.bytes)
	b.lease.Release()
	if recs := b.out.Records; cap(recs) > 0 && cap(recs) <= 2*c.cfg.BatchSize {
		clear(recs[len(recs):cap(recs)])
		recs = recs[:0]
		c.recordsCap.Store(int64(cap(recs)))
		c.records.Put(&recs)
	}
	b.out.Records = nil
}

// collect handles settled batches: delivered ones move the committable
// offset; failed ones are retried (a permanent failure as dead letters)
// unless stop has ended, when they are abandoned.
func (p *partition) collect(stop context.Context) {
	p.mu.Lock()
	q := p.settledQ
	p.settledQ = nil
	p.mu.Unlock()
	for _, b := range q {
		p.inFlight--
		p.inFlightN -= b.msgs
		switch {
		case b.err == nil:
			p.st.tracker.settle(b.run)
			b.release()
		case stop.Err() != nil:
			p.abandon(b)
		case stream.IsPermanent(b.err) && len(b.out.Records) > 0:
			// Retrying cannot help: the records go to the dead-letter
			// file with their offsets, which then counts as delivered.
			p.c.m.deadLettered.Add(float64(len(b.out.Records)))
			p.c.log.Error("kafka batch refused for good; dead-lettering its records", "ref", p.runRef(b), "records", len(b.out.Records), "err", b.err)
			b.out.Failures = append(b.out.Failures, p.recordFailures(b)...)
			b.out.Records = nil
			p.submit(stop, b)
		default:
			backoff := min(p.c.cfg.RetryBackoff<<min(b.attempt-1, 20), p.c.cfg.MaxRetryBackoff)
			b.due = time.Now().Add(backoff)
			p.retrying = append(p.retrying, b)
			p.c.log.Warn("kafka batch not delivered; retrying", "ref", p.runRef(b), "attempt", b.attempt, "backoff", backoff.String(), "err", b.err)
		}
	}
}

// runRef names a batch's offsets, topic/partition/first-last.
func (p *partition) runRef(b *batch) string {
	return p.ref + strconv.FormatInt(b.first, 10) + "-" + strconv.FormatInt(b.end-1, 10)
}

// recordFailures turns b's records into dead letters.
func (p *partition) recordFailures(b *batch) []stream.Failure {
	fs := make([]stream.Failure, len(b.out.Records))
	ref := p.runRef(b)
	for i, r := range b.out.Records {
		fs[i] = stream.Failure{Source: p.c.decOpts.Source, Ref: ref, Input: r.Raw, Reason: "refused for good by a sink: " + b.err.Error()}
	}
	return fs
}

// retryDue hands over again the failed batches whose backoff is over.
func (p *partition) retryDue(stop context.Context, now time.Time) {
	kept := p.retrying[:0]
	var due []*batch
	for _, b := range p.retrying {
		if now.Before(b.due) {
			kept = append(kept, b)
		} else {
			due = append(due, b)
		}
	}
	p.retrying = kept
	for _, b := range due {
		p.c.m.retries.Inc()
		p.submit(stop, b)
	}
}

// abandon gives up b: not delivered, never committed, read again by the
// partition's next reader.
func (p *partition) abandon(b *batch) {
	p.c.m.abandoned.Add(float64(b.msgs))
	b.release()
}

// settle ends the partition's part of the generation: what was fetched
// and not handed over is dropped, batches in flight get drain_timeout to
// settle, and the delivered prefix is committed.
func (p *partition) settle() {
	p.held, p.holding = kafka.Message{}, false
	p.c.limiter.forget(p)
	if !p.heldSince.IsZero() {
		p.c.m.paused.Add(time.Since(p.heldSince).Seconds())
	}
	if b := p.pending; b != nil {
		p.pending = nil
		p.abandon(b)
	}
	for _, b := range p.retrying {
		p.abandon(b)
	}
	p.retrying = nil
	ended, cancel := context.WithCancel(context.Background())
	cancel() // collect abandons every failure from now on
	deadline := time.NewTimer(p.c.cfg.DrainTimeout)
	defer deadline.Stop()
wait:
	for p.inFlight > 0 {
		select {
		case <-p.notify:
			p.collect(ended)
		case <-deadline.C:
			p.c.log.Warn("kafka partition: batches still in flight after drain_timeout; left uncommitted",
				"topic", p.tp.topic, "partition", p.tp.partition, "batches", p.inFlight)
			p.c.m.abandoned.Add(float64(p.inFlightN))
			break wait
		}
	}
	p.g.commit()
	p.mu.Lock()
	p.closed = true
	late := p.settledQ
	p.settledQ = nil
	p.mu.Unlock()
	// Counted as abandoned above, when the wait gave up on them.
	for _, b := range late {
		b.release()
	}
	// Batches still queued in the pipeline are settled without being
	// delivered: the next reader delivers them.
	p.cancel()
	p.g.mu.Lock()
	p.st.released = true
	p.c.m.lag.DeleteLabelValues(p.tp.topic, strconv.Itoa(p.tp.partition))
	p.g.mu.Unlock()
}
