// Package kafka is the Kafka consumer-group source: it reads flow-log
// messages from one or more topics and commits a partition's offset only
// past messages whose records every sink has acknowledged (or that were
// dead-lettered), with commits tied to the group generation that owns the
// partition. See README.md for the commit rule and rebalance handling.
package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/decode"
	"github.com/flowhose/flowhose/stream/membudget"
	"github.com/flowhose/flowhose/stream/source"
)

// consumer is an opened source: the settings and what its partitions
// share.
type consumer struct {
	cfg      Config
	decOpts  decode.Options
	pipeline *stream.Pipeline
	budget   *membudget.Budget
	dialer   *kafka.Dialer
	// ends asks the brokers for the partitions' end offsets, for the lag
	// gauges, through transport, whose connections run closes when it
	// returns.
	ends      *kafka.Client
	transport *kafka.Transport
	limiter   *limiter
	// records holds the record arrays of settled batches.
	records sync.Pool // of *[]stream.Record
	// recordsCap is the capacity of the last array put into records: the
	// pool empties at every garbage collection, and a batch that finds it
	// empty starts with an array that large rather than growing one from
	// nothing (a third of the batches did, in the benchmark).
	recordsCap atomic.Int64
	m          *metrics
	log        *slog.Logger
}

// Open builds the source; Run joins the group and consumes.
func Open(_ context.Context, cfg Config, deps source.Deps) (source.Source, error) {
	c, err := newConsumer(cfg, deps)
	if err != nil {
		return source.Source{}, err
	}
	return source.Source{Run: c.run}, nil
}

func newConsumer(cfg Config, deps source.Deps) (*consumer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("kafka config: %w", err)
	}
	if deps.Pipeline == nil {
		return nil, errors.New("kafka: a pipeline is required")
	}
	if deps.Decode.Source == "" {
		deps.Decode.Source = "kafka"
	}
	if _, err := decode.New(deps.Decode); err != nil {
		return nil, fmt.Errorf("kafka decoder options: %w", err)
	}
	dialer, err := cfg.Dialer()
	if err != nil {
		return nil, err
	}
	tr, err := cfg.Transport()
	if err != nil {
		return nil, err
	}
	log := deps.Logger
	if log == nil {
		log = slog.Default()
	}
	cfg.WarnInsecure(log, "sources.kafka")
	l := &limiter{maxMsgs: cfg.MaxInFlightMessages, maxBytes: cfg.MaxInFlightBytes}
	return &consumer{cfg: cfg, decOpts: deps.Decode, pipeline: deps.Pipeline, budget: deps.Budget,
		dialer: dialer, limiter: l,
		ends: &kafka.Client{Addr: cfg.Addr(), Transport: tr, Timeout: cfg.DialTimeout}, transport: tr, m: newMetrics(deps.Registerer, l), log: log.With("source", "kafka")}, nil
}

// run joins the group and consumes every generation's partitions until
// ctx ends; then the partitions stop fetching, settle what they took
// (bounded by drain_timeout), commit it, and the member leaves the group.
// Broker and group errors are logged and retried: run returns only when
// ctx ends.
func (c *consumer) run(ctx context.Context) error {
	start := kafka.FirstOffset
	if c.cfg.StartOffset == StartLatest {
		start = kafka.LastOffset
	}
	group, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                    c.cfg.GroupID,
		Brokers:               c.cfg.Brokers,
		Dialer:                c.dialer,
		Topics:                c.cfg.Topics,
		HeartbeatInterval:     c.cfg.HeartbeatInterval,
		SessionTimeout:        c.cfg.SessionTimeout,
		RebalanceTimeout:      c.cfg.RebalanceTimeout,
		WatchPartitionChanges: true,
		StartOffset:           start,
		Timeout:               c.cfg.DialTimeout,
		Logger:                kafkaLogger(c.log, slog.LevelDebug),
		ErrorLogger:           kafkaLogger(c.log, slog.LevelWarn),
	})
	if err != nil {
		return fmt.Errorf("kafka: consumer group: %w", err)
	}
	defer c.transport.CloseIdleConnections()
	var partitions sync.WaitGroup
	for {
		gen, err := group.Next(ctx)
		if ctx.Err() != nil {
			break
		}
		if err != nil {
			// The group retries by itself, after its join backoff.
			c.m.groupErrors.Inc()
			c.log.Warn("kafka consumer group", "group", c.cfg.GroupID, "err", err)
			continue
		}
		c.startGeneration(ctx, gen, &partitions)
	}
	return c.leave(group, &partitions)
}

// LeaveGrace is how long after drain_timeout the source still waits, at
// shutdown, for the last commits and for leaving the group: a round trip
// or two to the coordinator. drain_timeout plus LeaveGrace must fit in
// serve's http.shutdown_timeout.
const LeaveGrace = 2 * time.Second

// leave ends the group once ctx has ended. Closing the group ends the
// generation and waits for its goroutines: the partitions settle and
// commit within it, then the member leaves, which hands the partitions
// over at once. (Waiting for the partitions first would let the group
// join a new generation as soon as they return, a rebalance for nothing.)
// But kafka-go's Close also waits for a join or a sync in progress, which
// the coordinator holds until every member has rejoined (up to
// rebalance_timeout) or for the whole sync (up to session_timeout), and
// after partitions drained at a rebalance it joins the next generation
// before it notices the close. So leave waits at most drain_timeout plus
// LeaveGrace, which keeps serve within http.shutdown_timeout; past that
// kafka-go finishes (or the coordinator drops the member) in the
// background. Nothing uncommitted is lost: the partitions have stopped,
// and what they did not commit is read again by their next owner.
func (c *consumer) leave(group *kafka.ConsumerGroup, partitions *sync.WaitGroup) error {
	done := make(chan error, 1)
	go func() {
		err := group.Close()
		partitions.Wait()
		done <- err
	}()
	bound := c.cfg.DrainTimeout + LeaveGrace
	t := time.NewTimer(bound)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		c.m.groupErrors.Inc()
		c.log.Warn("kafka consumer group not closed within drain_timeout plus "+LeaveGrace.String()+"; leaving it to finish in the background",
			"group", c.cfg.GroupID, "waited", bound.String())
		return nil
	}
}

// kafkaLogger routes kafka-go's printf logging to slog.
func kafkaLogger(log *slog.Logger, level slog.Level) kafka.LoggerFunc {
	return func(format string, args ...any) {
		if log.Enabled(context.Background(), level) {
			log.Log(context.Background(), level, "kafka-go: "+fmt.Sprintf(format, args...))
		}
	}
}

// startGeneration starts one goroutine per assigned partition and the
// committer, all bound to the generation: when it ends (a rebalance), its
// context ends and each partition settles and commits before the group
// moves on.
func (c *consumer) startGeneration(ctx context.Context, gen *kafka.Generation, partitions *sync.WaitGroup) {
	c.m.rebalances.Inc()
	g := &generation{gen: gen, c: c, trackers: map[topicPartition]*partitionState{}}
	n := 0
	for topic, parts := range gen.Assignments {
		for _, pa := range parts {
			tp := topicPartition{topic, pa.ID}
			st := &partitionState{tracker: newTracker(pa.Offset), committed: pa.Offset}
			st.first.Store(-1) // not known yet
			g.trackers[tp] = st
			n++
		}
	}
	c.m.assigned.Set(float64(n))
	c.log.Info("kafka generation", "group", gen.GroupID, "generation", gen.ID, "member", gen.MemberID, "partitions", n)
	gen.Start(g.commitLoop)
	for tp, st := range g.trackers {
		partitions.Add(1)
		gen.Start(func(genCtx context.Context) {
			defer partitions.Done()
			c.consume(ctx, genCtx, g, tp, st)
		})
	}
}

type topicPartition struct {
	topic     string
	partition int
}

// partitionState is what the committer knows of a partition.
type partitionState struct {
	tracker   *tracker
	committed int64        // last offset committed in this generation (under generation.mu)
	hwm       atomic.Int64 // the highest end offset seen: fetched messages' high watermark, or asked
	// first is the partition's first offset, asked with the end: what
	// lag counts from while nothing is committed and reading starts at
	// the earliest offset.
	first atomic.Int64
	// released is set (under generation.mu) once the partition has
	// settled and removed its lag series: a later commit of the
	// generation must not bring the series back.
	released bool
}

// raiseEnd records end offset o unless a later one is known.
func (st *partitionState) raiseEnd(o int64) {
	for {
		cur := st.hwm.Load()
		if o <= cur || st.hwm.CompareAndSwap(cur, o) {
			return
		}
	}
}

// generation commits its partitions' delivered offsets, serially: two
// commits racing could leave the older offset last.
type generation struct {
	gen      *kafka.Generation
	c        *consumer
	mu       sync.Mutex
	trackers map[topicPartition]*partitionState // fixed once partitions start
}

// commitLoop commits every commit_interval until the generation ends.
func (g *generation) commitLoop(genCtx context.Context) {
	t := time.NewTicker(g.c.cfg.CommitInterval)
	defer t.Stop()
	for {
		select {
		case <-genCtx.Done():
			return
		case <-t.C:
			g.commit()
			// After the commit, which must not wait for a slow broker's
			// answer: the gauges show these ends at the next tick.
			g.readEnds(genCtx)
		}
	}
}

// readEnds asks the brokers for the partitions' end offsets (the last
// stable offset, as the readers read committed). The high watermark of
// the last message taken stops moving when a partition pauses, which is
// when the lag must keep showing what the topic runs ahead. A failure
// leaves the gauges at what the messages showed.
func (g *generation) readEnds(ctx context.Context) {
	reqs := map[string][]kafka.OffsetRequest{}
	for tp := range g.trackers {
		reqs[tp.topic] = append(reqs[tp.topic], kafka.FirstOffsetOf(tp.partition), kafka.LastOffsetOf(tp.partition))
	}
	if len(reqs) == 0 {
		return
	}
	res, err := g.c.ends.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: reqs, IsolationLevel: kafka.ReadCommitted})
	if err != nil {
		g.c.log.Debug("kafka end offsets", "err", err)
		return
	}
	for topic, parts := range res.Topics {
		for _, po := range parts {
			if st := g.trackers[topicPartition{topic, po.Partition}]; st != nil && po.Error == nil {
				st.raiseEnd(po.LastOffset)
				st.first.Store(po.FirstOffset)
			}
		}
	}
}

// commit commits every partition whose settled prefix moved, and updates
// the lag gauges.
func (g *generation) commit() {
	g.mu.Lock()
	defer g.mu.Unlock()
	offsets := map[string]map[int]int64{}
	for tp, st := range g.trackers {
		if o := st.tracker.committable.Load(); o >= 0 && o > st.committed {
			if offsets[tp.topic] == nil {
				offsets[tp.topic] = map[int]int64{}
			}
			offsets[tp.topic][tp.partition] = o
		}
	}
	if len(offsets) > 0 {
		if err := g.gen.CommitOffsets(offsets); err != nil {
			// The offsets stay uncommitted; the next commit (or the
			// next owner's redelivery) covers them.
			g.c.m.commitFailures.Inc()
			g.c.log.Warn("kafka commit failed", "generation", g.gen.ID, "err", err)
		} else {
			g.c.m.commits.Inc()
			for topic, parts := range offsets {
				for p, o := range parts {
					g.trackers[topicPartition{topic, p}].committed = o
				}
			}
		}
	}
	for tp, st := range g.trackers {
		from := st.committed
		if from < 0 && g.c.cfg.StartOffset == StartEarliest {
			// Nothing committed (a new group, or offsets the brokers
			// expired): everything from the first offset is behind.
			from = st.first.Load()
		}
		if hwm := st.hwm.Load(); hwm > 0 && from >= 0 && !st.released {
			g.c.m.lag.WithLabelValues(tp.topic, strconv.Itoa(tp.partition)).Set(float64(max(0, hwm-from)))
		}
	}
}
