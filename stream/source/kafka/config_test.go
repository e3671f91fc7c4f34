package kafka

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	ok := DefaultConfig()
	ok.Topics = []string{"flows"}
	if err := ok.Validate(); err != nil {
		t.Fatalf("defaults with a topic: %v", err)
	}
	if err := DefaultConfig().Validate(); err == nil || !strings.Contains(err.Error(), "topics: must list 1") {
		t.Errorf("no topic: %v", err)
	}
	bad := ok
	bad.Topics = []string{"flows", "a b", "flows"}
	bad.GroupID = ""
	bad.StartOffset = "oldest"
	bad.FetchMinBytes = 0
	bad.Prefetch = 0
	bad.MaxInFlightMessages = 0
	bad.BatchSize = 0
	bad.CommitInterval = 0
	bad.MaxRetryBackoff = time.Millisecond
	bad.HeartbeatInterval = 20 * time.Second
	bad.DrainTimeout = time.Minute
	bad.Brokers = []string{"nohost"}
	want := []string{
		`topics[1]: must be 1 to 249`, `topics[2]: "flows" is listed twice`, "group_id: must not be empty",
		`start_offset: must be earliest or latest, got "oldest"`, "fetch_min_bytes:", "prefetch:",
		"max_in_flight_messages:", "batch_size:", "commit_interval:", "max_retry_backoff: must be at least retry_backoff",
		"heartbeat_interval: must be at most a third", "drain_timeout: must be below rebalance_timeout", "brokers: must be host:port",
	}
	err := bad.Validate()
	if err == nil {
		t.Fatal("bad config accepted")
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("missing %q in:\n%v", w, err)
		}
	}
}

// TestConfigDrainWithinSession rejects a drain_timeout that outlasts the
// session: kafka-go stops heartbeating when a generation ends, so a member
// still draining after session_timeout was dropped by the coordinator,
// which refused the commit of everything the drain delivered (seen
// against the real broker: "Unknown Member ID", the whole drain
// redelivered).
func TestConfigDrainWithinSession(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Topics = []string{"flows"}
	cfg.SessionTimeout = 6 * time.Second
	cfg.HeartbeatInterval = time.Second
	cfg.RebalanceTimeout = 30 * time.Second
	cfg.DrainTimeout = 20 * time.Second
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "drain_timeout: must be below session_timeout") {
		t.Fatalf("drain_timeout 20s with session_timeout 6s: %v", err)
	}
	cfg.DrainTimeout = 4 * time.Second
	if err := cfg.Validate(); err != nil {
		t.Fatalf("drain_timeout 4s with session_timeout 6s, heartbeat_interval 1s: %v", err)
	}
}

// TestConfigSessionTimeoutBrokersAccept rejects a session_timeout below
// the brokers' default minimum: against the real broker, 3s validated and
// then every join failed with INVALID_SESSION_TIMEOUT, retried for ever,
// the source consuming nothing.
func TestConfigSessionTimeoutBrokersAccept(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Topics = []string{"flows"}
	cfg.SessionTimeout = 3 * time.Second
	cfg.HeartbeatInterval = time.Second
	cfg.DrainTimeout = time.Second
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "session_timeout: must be at least 6s") {
		t.Fatalf("session_timeout 3s: %v", err)
	}
	cfg.SessionTimeout = 6 * time.Second
	if err := cfg.Validate(); err != nil {
		t.Fatalf("session_timeout 6s: %v", err)
	}
}
