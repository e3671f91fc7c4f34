package main

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestStaticBuild builds the binary the way the Dockerfile does and checks
// that it is static (it must run on an empty base image) and reports the
// version given through -ldflags.
func TestStaticBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "flowhose")
	cmd := exec.Command("go", "build", "-trimpath",
		"-ldflags", "-s -w -X main.version=v9.9.9-test -X main.commit=abc1234",
		"-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("binary needs a dynamic loader; it would not start on scratch")
		}
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("flowhose version: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "flowhose v9.9.9-test (commit abc1234") {
		t.Fatalf("version output %q lacks the -ldflags values", out)
	}
}
