// Package servicetest is what tests against the real services of
// scripts/services share: reaching a service through the variable
// .services/env exports, and waiting for a condition it reaches in time.
package servicetest

import (
	"os"
	"testing"
	"time"
)

// Env returns the value of the service variable name (for example
// FLOWHOSE_TEST_KAFKA_BROKERS). Without it the test is skipped, or fails
// when FLOWHOSE_REQUIRE_SERVICES is set.
func Env(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		if os.Getenv("FLOWHOSE_REQUIRE_SERVICES") != "" {
			t.Fatalf("%s is unset but FLOWHOSE_REQUIRE_SERVICES is set: run scripts/services start and source .services/env", name)
		}
		t.Skipf("%s unset; run scripts/services start and source .services/env", name)
	}
	return v
}

// Eventually polls cond until it holds, failing the test with what once
// d has passed.
func Eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
