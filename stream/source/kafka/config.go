package kafka

import (
	"errors"
	"fmt"
	"time"

	"github.com/flowhose/flowhose/stream/kafkaconn"
)

// Start offsets for a group that has committed nothing for a partition.
const (
	StartEarliest = "earliest"
	StartLatest   = "latest"
)

// Config configures the Kafka consumer-group source (root key
// sources.kafka).
type Config struct {
	// Brokers, client id, TLS and SASL: the keys the Kafka sink takes too.
	kafkaconn.Config `yaml:",inline"`
	// Topics are read by one consumer group; their partitions are spread
	// over the group's members.
	Topics []string `yaml:"topics"`
	// GroupID names the consumer group: replicas with the same id share
	// the partitions and the committed offsets.
	GroupID string `yaml:"group_id"`
	// StartOffset is where a partition without a committed offset starts:
	// earliest (everything retained) or latest (only what arrives after).
	StartOffset string `yaml:"start_offset"`
	// FetchMinBytes is what the broker waits to gather before answering a
	// fetch, up to fetch_max_wait.
	FetchMinBytes int `yaml:"fetch_min_bytes"`
	// FetchMaxBytes bounds one fetch response of one partition; the broker
	// still returns a single larger message whole.
	FetchMaxBytes int `yaml:"fetch_max_bytes"`
	// FetchMaxWait bounds how long the broker holds a fetch for
	// fetch_min_bytes.
	FetchMaxWait time.Duration `yaml:"fetch_max_wait"`
	// Prefetch is how many fetched messages each assigned partition
	// buffers ahead of decoding: their memory is outside the budget, so
	// keep prefetch × message size × partitions in mind.
	Prefetch int `yaml:"prefetch"`
	// MaxInFlightMessages bounds the messages taken but not yet settled,
	// over all partitions; at the limit fetching pauses.
	MaxInFlightMessages int `yaml:"max_in_flight_messages"`
	// MaxInFlightBytes bounds the message bytes taken but not yet settled,
	// over all partitions (a single larger message is still taken when
	// nothing else is in flight). The process memory budget bounds the
	// decoded records too.
	MaxInFlightBytes int64 `yaml:"max_in_flight_bytes"`
	// BatchSize is the most records of one partition handed to the
	// pipeline as one batch.
	BatchSize int `yaml:"batch_size"`
	// BatchWait is the longest a partition holds decoded messages before
	// handing them over as a smaller batch.
	BatchWait time.Duration `yaml:"batch_wait"`
	// CommitInterval is how often delivered offsets are committed; they
	// are also committed when partitions are revoked and at shutdown.
	CommitInterval time.Duration `yaml:"commit_interval"`
	// RetryBackoff is the first wait before a batch a sink failed is
	// handed over again; it doubles up to max_retry_backoff. A failing
	// batch is retried until it is delivered or its partition is revoked,
	// never skipped.
	RetryBackoff time.Duration `yaml:"retry_backoff"`
	// MaxRetryBackoff caps the wait between retries of a failed batch.
	MaxRetryBackoff time.Duration `yaml:"max_retry_backoff"`
	// DrainTimeout bounds the wait, when partitions are revoked or at
	// shutdown, for batches in flight to settle before committing what is
	// delivered; the rest is left to whoever reads the partition next.
	// Below rebalance_timeout, and below session_timeout minus
	// heartbeat_interval: kafka-go stops heartbeating while partitions
	// drain, so a longer drain gets the member dropped and its commits
	// refused. Keep it below http.shutdown_timeout minus 2s too: shutdown
	// takes up to drain_timeout plus 2s for the last commits and the leave.
	DrainTimeout time.Duration `yaml:"drain_timeout"`
	// SessionTimeout is how long the group waits for a silent member
	// before giving its partitions to others: 6s to 10m, since brokers
	// refuse to let a member join with less than
	// group.min.session.timeout.ms (6s unless changed).
	SessionTimeout time.Duration `yaml:"session_timeout"`
	// HeartbeatInterval is how often a member tells the group it is alive
	// (below a third of session_timeout).
	HeartbeatInterval time.Duration `yaml:"heartbeat_interval"`
	// RebalanceTimeout is how long the group waits for members to rejoin
	// during a rebalance, after they have settled their revoked partitions.
	RebalanceTimeout time.Duration `yaml:"rebalance_timeout"`
}

// Limits enforced by Validate.
const (
	maxFetchBytes    = 1 << 30
	maxPrefetch      = 10_000
	maxInFlightLimit = 10_000_000
	maxBatchSize     = 100_000
	maxDuration      = 10 * time.Minute
	maxTopics        = 1000
	// minSessionTimeout is Kafka brokers' default
	// group.min.session.timeout.ms.
	minSessionTimeout = 6 * time.Second
)

// DefaultConfig returns the documented defaults; sources.kafka is off.
func DefaultConfig() Config {
	return Config{
		Config:              kafkaconn.Default("127.0.0.1:9092"),
		GroupID:             "flowhose",
		StartOffset:         StartEarliest,
		FetchMinBytes:       1,
		FetchMaxBytes:       16 << 20,
		FetchMaxWait:        500 * time.Millisecond,
		Prefetch:            64,
		MaxInFlightMessages: 10_000,
		MaxInFlightBytes:    128 << 20,
		BatchSize:           1000,
		BatchWait:           20 * time.Millisecond,
		CommitInterval:      time.Second,
		RetryBackoff:        100 * time.Millisecond,
		MaxRetryBackoff:     30 * time.Second,
		DrainTimeout:        10 * time.Second,
		SessionTimeout:      30 * time.Second,
		HeartbeatInterval:   3 * time.Second,
		RebalanceTimeout:    30 * time.Second,
	}
}

// Validate reports every bad key.
func (c Config) Validate() error {
	errs := []error{c.Config.Validate()}
	if len(c.Topics) == 0 || len(c.Topics) > maxTopics {
		errs = append(errs, fmt.Errorf("topics: must list 1 to %d topics, got %d", maxTopics, len(c.Topics)))
	}
	seen := map[string]bool{}
	for i, t := range c.Topics {
		if !kafkaconn.ValidTopic(t) {
			errs = append(errs, fmt.Errorf("topics[%d]: must be 1 to 249 of [a-zA-Z0-9._-], got %q", i, t))
		}
		if seen[t] {
			errs = append(errs, fmt.Errorf("topics[%d]: %q is listed twice", i, t))
		}
		seen[t] = true
	}
	if c.GroupID == "" {
		errs = append(errs, errors.New("group_id: must not be empty"))
	}
	if c.StartOffset != StartEarliest && c.StartOffset != StartLatest {
		errs = append(errs, fmt.Errorf("start_offset: must be %s or %s, got %q", StartEarliest, StartLatest, c.StartOffset))
	}
	if c.FetchMaxBytes < 1 || c.FetchMaxBytes > maxFetchBytes {
		errs = append(errs, fmt.Errorf("fetch_max_bytes: must be between 1 and %d, got %d", maxFetchBytes, c.FetchMaxBytes))
	}
	if c.FetchMinBytes < 1 || c.FetchMinBytes > c.FetchMaxBytes {
		errs = append(errs, fmt.Errorf("fetch_min_bytes: must be between 1 and fetch_max_bytes (%d), got %d", c.FetchMaxBytes, c.FetchMinBytes))
	}
	if c.Prefetch < 1 || c.Prefetch > maxPrefetch {
		errs = append(errs, fmt.Errorf("prefetch: must be between 1 and %d, got %d", maxPrefetch, c.Prefetch))
	}
	if c.MaxInFlightMessages < 1 || c.MaxInFlightMessages > maxInFlightLimit {
		errs = append(errs, fmt.Errorf("max_in_flight_messages: must be between 1 and %d, got %d", maxInFlightLimit, c.MaxInFlightMessages))
	}
	if c.MaxInFlightBytes < 1 || c.MaxInFlightBytes > 1<<40 {
		errs = append(errs, fmt.Errorf("max_in_flight_bytes: must be between 1 and %d, got %d", int64(1<<40), c.MaxInFlightBytes))
	}
	if c.BatchSize < 1 || c.BatchSize > maxBatchSize {
		errs = append(errs, fmt.Errorf("batch_size: must be between 1 and %d, got %d", maxBatchSize, c.BatchSize))
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"fetch_max_wait", c.FetchMaxWait}, {"batch_wait", c.BatchWait}, {"commit_interval", c.CommitInterval},
		{"retry_backoff", c.RetryBackoff}, {"max_retry_backoff", c.MaxRetryBackoff}, {"drain_timeout", c.DrainTimeout},
		{"session_timeout", c.SessionTimeout}, {"heartbeat_interval", c.HeartbeatInterval}, {"rebalance_timeout", c.RebalanceTimeout},
	} {
		if d.v < time.Millisecond || d.v > maxDuration {
			errs = append(errs, fmt.Errorf("%s: must be between 1ms and %s, got %s", d.key, maxDuration, d.v))
		}
	}
	if c.SessionTimeout < minSessionTimeout {
		// Below the brokers' default group.min.session.timeout.ms every
		// join is refused (INVALID_SESSION_TIMEOUT) and retried for ever:
		// the source would run consuming nothing.
		errs = append(errs, fmt.Errorf("session_timeout: must be at least %s (the brokers' default group.min.session.timeout.ms; a shorter one is refused at every join), got %s", minSessionTimeout, c.SessionTimeout))
	}
	if c.MaxRetryBackoff < c.RetryBackoff {
		errs = append(errs, fmt.Errorf("max_retry_backoff: must be at least retry_backoff (%s), got %s", c.RetryBackoff, c.MaxRetryBackoff))
	}
	if 3*c.HeartbeatInterval > c.SessionTimeout {
		errs = append(errs, fmt.Errorf("heartbeat_interval: must be at most a third of session_timeout (%s), got %s", c.SessionTimeout, c.HeartbeatInterval))
	}
	if c.DrainTimeout+c.HeartbeatInterval >= c.SessionTimeout {
		// The generation's heartbeats stop when it ends, before the drain:
		// past session_timeout the coordinator drops the member and refuses
		// the commit of what the drain delivered.
		errs = append(errs, fmt.Errorf("drain_timeout: must be below session_timeout (%s) minus heartbeat_interval (%s): heartbeats stop while partitions drain, and a member silent for session_timeout is dropped with its commits refused, got %s", c.SessionTimeout, c.HeartbeatInterval, c.DrainTimeout))
	}
	if c.DrainTimeout >= c.RebalanceTimeout {
		errs = append(errs, fmt.Errorf("drain_timeout: must be below rebalance_timeout (%s), or the group drops this member while it drains revoked partitions, got %s", c.RebalanceTimeout, c.DrainTimeout))
	}
	return errors.Join(errs...)
}
