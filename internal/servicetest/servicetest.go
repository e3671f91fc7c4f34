// Package servicetest is what tests against the real services of
// scripts/services share: reaching a service through the variable
// .services/env exports, keeping tests that stop or freeze a service away
// from tests of other packages that rely on it, and waiting for a
// condition it reaches in time.
package servicetest

import (
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Env returns the value of the service variable name (for example
// FLOWHOSE_TEST_KAFKA_BROKERS). Without it the test is skipped, or fails
// when FLOWHOSE_REQUIRE_SERVICES is set. The service is held shared until
// the test ends: a test that disrupts it (Disrupt) waits meanwhile, since
// `go test ./...` runs packages at the same time.
func Env(t testing.TB, name string) string {
	t.Helper()
	v := lookup(t, name)
	hold(t, name, v, false)
	return v
}

// Disrupt is Env for a test that stops, restarts or freezes the service:
// it waits until no test of another package holds the service, and keeps
// them waiting until it ends.
func Disrupt(t testing.TB, name string) string {
	t.Helper()
	v := lookup(t, name)
	hold(t, name, v, true)
	return v
}

func lookup(t testing.TB, name string) string {
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

// A service lock is one flock(2) file per service address, shared by
// every test process of the machine. A process holds it through one file
// so that a test holding it shared may still disrupt the service: the lock
// is converted, not taken twice (which would wait for itself).
type serviceLock struct {
	mu        sync.Mutex
	f         *os.File
	shared    int
	exclusive int
}

var (
	locksMu sync.Mutex
	locks   = map[string]*serviceLock{}
)

func hold(t testing.TB, name, value string, exclusive bool) {
	t.Helper()
	h := fnv.New64a()
	h.Write([]byte(name + "=" + value))
	path := filepath.Join(os.TempDir(), fmt.Sprintf("flowhose-service-%x.lock", h.Sum64()))
	locksMu.Lock()
	l := locks[path]
	if l == nil {
		l = &serviceLock{}
		locks[path] = l
	}
	locksMu.Unlock()

	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
		if err != nil {
			t.Fatalf("lock for %s: %v", name, err)
		}
		l.f = f
	}
	if exclusive {
		l.exclusive++
	} else {
		l.shared++
	}
	if err := l.apply(); err != nil {
		t.Fatalf("lock for %s: %v", name, err)
	}
	t.Cleanup(func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if exclusive {
			l.exclusive--
		} else {
			l.shared--
		}
		if err := l.apply(); err != nil {
			t.Errorf("unlock for %s: %v", name, err)
		}
	})
}

// apply sets the file's lock to what the counts ask for.
func (l *serviceLock) apply() error {
	how := syscall.LOCK_UN
	switch {
	case l.exclusive > 0:
		how = syscall.LOCK_EX
	case l.shared > 0:
		how = syscall.LOCK_SH
	}
	for {
		err := syscall.Flock(int(l.f.Fd()), how)
		if err != syscall.EINTR {
			return err
		}
	}
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
