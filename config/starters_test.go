package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/flowhose/flowhose/config/redact"
)

// Every starter configuration loads through Load once its secrets come
// from the environment, and sets exactly what it says; a serve starter
// without its access keys fails, so no placeholder key can go live.
func TestStartersLoad(t *testing.T) {
	secrets := map[string]string{
		"FLOWHOSE_SOURCES_FIREHOSE_ACCESS_KEYS": "k1,k2",
		"FLOWHOSE_SINKS_ELASTICSEARCH_API_KEY":  "aWQ6a2V5",
		"FLOWHOSE_SINKS_SPLUNK_TOKEN":           "00000000-0000-0000-0000-000000000000",
	}
	for _, s := range Starters() {
		t.Run(s.Name, func(t *testing.T) {
			text, err := s.YAML()
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "flowhose.yaml")
			if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			_, withoutSecrets := Load(path)
			for name, v := range secrets {
				t.Setenv(name, v)
			}
			cfg, err := Load(path)
			if err != nil {
				t.Fatalf("%v\n%s", err, text)
			}
			loaded := map[string]reflect.Value{}
			walk(reflect.ValueOf(cfg), "", func(key string, v reflect.Value) { loaded[key] = v })
			for key, set := range s.settings {
				if redact.IsSecretKey(key) {
					if !strings.Contains(text, envName(key)) {
						t.Errorf("%s: the comment does not name %s", key, envName(key))
					}
					continue
				}
				if got := fmt.Sprint(display(loaded[key])); got != fmt.Sprint(set.value) {
					t.Errorf("%s = %s after Load, want %v", key, got, set.value)
				}
				if doc, above := keyDocs[key], commentsAbove(text)[key[strings.LastIndexByte(key, '.')+1:]]; !slices.ContainsFunc(above, func(c string) bool { return strings.HasPrefix(c, doc) }) {
					t.Errorf("%s: its documentation %q is not above it", key, doc)
				}
			}
			if _, ok := s.settings["sources.firehose.access_keys"]; ok && withoutSecrets == nil {
				t.Error("loads without access keys")
			}
		})
	}
}

// commentsAbove maps each key name of a YAML text to the comment blocks
// right above its lines, each joined into one line.
func commentsAbove(text string) map[string][]string {
	out := map[string][]string{}
	var block []string
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if c, ok := strings.CutPrefix(line, "#"); ok {
			block = append(block, strings.TrimSpace(c))
			continue
		}
		if name, _, ok := strings.Cut(line, ":"); ok {
			out[name] = append(out[name], strings.Join(block, " "))
		}
		block = nil
	}
	return out
}

// A starter naming a key that does not exist, or giving a secret a value,
// cannot be rendered.
func TestStarterRejectsUnknownKeysAndSecrets(t *testing.T) {
	for _, set := range []map[string]setting{
		{"http.lisen": {":8080", ""}},
		{"http": {":8080", ""}},
		{"sinks.elasticsearch.api_key": {"aWQ6a2V5", ""}},
		{"sources.firehose.access_keys": {[]string{"k1"}, ""}},
	} {
		if _, err := (Starter{Name: "bad", settings: set}).YAML(); err == nil {
			t.Errorf("%v rendered", set)
		}
	}
}
