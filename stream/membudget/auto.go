package membudget

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
)

// DefaultBudget is the budget without a container memory limit.
const DefaultBudget = 1 << 30

// cgroupLimitFiles hold the container's memory limit: cgroup v2 first,
// then v1. Variables so tests can point them elsewhere.
var cgroupLimitFiles = []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}

// ContainerLimit returns the memory limit of the cgroup the process runs
// in, or false when there is none (or it is effectively unlimited).
func ContainerLimit() (int64, bool) {
	for _, f := range cgroupLimitFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		s := strings.TrimSpace(string(data))
		if s == "max" {
			return 0, false
		}
		n, err := strconv.ParseInt(s, 10, 64)
		// cgroup v1 reports "unlimited" as a huge page-aligned number.
		if err != nil || n <= 0 || n >= 1<<62 || n > physicalMemory() && physicalMemory() > 0 {
			return 0, false
		}
		return n, true
	}
	return 0, false
}

// physicalMemory is MemTotal from /proc/meminfo, or 0 when unknown.
func physicalMemory() int64 {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

// Sizes are the budget and the Go runtime's soft memory limit for a process.
type Sizes struct {
	Budget int64
	// GoLimit is the soft limit for runtime/debug.SetMemoryLimit, 0 for
	// none: without one the garbage collector lets the heap grow to twice
	// what is live, so a full budget could take twice its size.
	GoLimit int64
	// From says where Budget came from, for the start-up log.
	From string
}

// Resolve picks the sizes for a configured budget (0: automatic). Inside a
// container with a memory limit the budget defaults to half of it and the
// Go limit to 90% of it, leaving room for the runtime, caches and the
// garbage a collection has not reached yet; without a limit the budget is
// DefaultBudget and the Go limit twice the budget.
func Resolve(configured int64) Sizes {
	limit, ok := ContainerLimit()
	s := Sizes{Budget: configured, From: "pipeline.memory_budget"}
	if configured == 0 {
		s.Budget, s.From = DefaultBudget, "default"
		if ok {
			s.Budget, s.From = limit/2, "half the container memory limit"
		}
	}
	s.GoLimit = 2 * s.Budget
	if ok {
		s.GoLimit = limit / 10 * 9
	}
	return s
}
