package servicetest

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"
)

// A test that disrupts a service waits while another process holds it
// shared, and may convert its own shared hold without waiting for itself.
func TestDisruptWaitsForOtherProcesses(t *testing.T) {
	const hold = time.Second
	if os.Getenv("SERVICETEST_HOLDER") != "" {
		Env(t, "FLOWHOSE_TEST_LOCKCHECK")
		fmt.Println("held")
		time.Sleep(hold)
		return
	}
	t.Setenv("FLOWHOSE_TEST_LOCKCHECK", fmt.Sprintf("check-%d", time.Now().UnixNano()))
	holder := exec.Command(os.Args[0], "-test.run=^TestDisruptWaitsForOtherProcesses$", "-test.v")
	holder.Env = append(os.Environ(), "SERVICETEST_HOLDER=1")
	stdout, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && sc.Text() != "held" {
	}
	start := time.Now()
	Env(t, "FLOWHOSE_TEST_LOCKCHECK")
	Disrupt(t, "FLOWHOSE_TEST_LOCKCHECK")
	if waited := time.Since(start); waited < hold/2 {
		t.Errorf("took the service exclusively after %s while another process held it", waited)
	}
	for sc.Scan() {
	}
	if err := holder.Wait(); err != nil {
		t.Fatalf("holder: %v", err)
	}
}
