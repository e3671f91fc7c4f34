package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set at build time with
// -ldflags "-X main.version=v1.2.3 -X main.commit=abc1234".
var (
	version string
	commit  string
)

// buildVersion returns the version and commit, falling back to what the
// Go toolchain recorded in the binary.
func buildVersion() (v, c string) {
	v, c = version, commit
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return orUnknown(v), orUnknown(c)
	}
	if v == "" {
		v = info.Main.Version
	}
	if c == "" {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" {
				c = s.Value
			}
		}
	}
	return orUnknown(v), orUnknown(c)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func versionString() string {
	v, c := buildVersion()
	return fmt.Sprintf("flowhose %s (commit %s, %s, %s/%s)", v, c, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
