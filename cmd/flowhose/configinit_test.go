package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/flowhose/flowhose/config"
)

// `config init` lists the starters; each one it prints passes `config
// check` once its secrets come from the environment.
func TestConfigInit(t *testing.T) {
	var list, stderr bytes.Buffer
	if err := run(context.Background(), []string{"config", "init"}, &list, &stderr); err != nil {
		t.Fatalf("%v: %s", err, stderr.String())
	}
	t.Setenv("FLOWHOSE_SOURCES_FIREHOSE_ACCESS_KEYS", "k1")
	t.Setenv("FLOWHOSE_SINKS_ELASTICSEARCH_API_KEY", "aWQ6a2V5")
	t.Setenv("FLOWHOSE_SINKS_SPLUNK_TOKEN", "00000000-0000-0000-0000-000000000000")
	for _, s := range config.Starters() {
		if !strings.Contains(list.String(), "  "+s.Name+" ") {
			t.Errorf("list lacks %s:\n%s", s.Name, list.String())
		}
		var out bytes.Buffer
		if err := run(context.Background(), []string{"config", "init", s.Name}, &out, &stderr); err != nil {
			t.Fatalf("%s: %v: %s", s.Name, err, stderr.String())
		}
		path := writeConfig(t, out.String())
		var checked bytes.Buffer
		err := run(context.Background(), []string{"config", "check", "-config", path}, &checked, &stderr)
		if code := exitCode(err, &stderr); code != 0 {
			t.Errorf("%s: config check exit %d: %s\n%s", s.Name, code, stderr.String(), out.String())
		}
	}
	for _, args := range [][]string{{"config", "init", "firehose-kafka"}, {"config", "init", "a", "b"}} {
		stderr.Reset()
		if code := exitCode(run(context.Background(), args, &list, &stderr), &stderr); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
}
