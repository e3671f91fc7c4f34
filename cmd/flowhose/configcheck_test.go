package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/flowhose/flowhose/config"
	"github.com/flowhose/flowhose/config/redact"
)

// leakSecret is short enough (10 bytes at most) that yaml.v3 would quote
// it whole in a type error.
const leakSecret = "Zx9Secr3tQ"

// TestConfigCheckNeverShowsSecrets puts a known secret in every string
// and list key, from the file and from the environment, as a whole secret
// value and inside URLs (user-info, password, query parameters), valid
// and invalid, with every component switched on so that its validation
// runs, and checks that neither `config check`'s output nor its errors
// show it. It walks config.EnvVars, so a new key is covered without a
// change here.
func TestConfigCheckNeverShowsSecrets(t *testing.T) {
	base := map[string]string{
		"FLOWHOSE_SINKS_ELASTICSEARCH_ENABLED": "true",
		"FLOWHOSE_SOURCES_TRANSFORM_ENABLED":   "true",
		"FLOWHOSE_ENRICH_INVENTORY":            "ec2",
		"FLOWHOSE_ENRICH_EC2_REGIONS":          "us-east-1",
	}
	s := leakSecret
	urls := []string{
		"https://" + s + "@es.example:9200",         // a token as user name
		"https://elastic:" + s + "@es.example:9200", // a password
		"https://es.example/?api_key=" + s + "&token=" + s + "&X-Amz-Signature=" + s + "&sig=" + s + "&key=" + s + "&password=" + s + "&secret=" + s + "&access_token=" + s,
		"ftp://" + s + "@es.example",            // wrong scheme
		"https://" + s + "@es example/x y",      // unparsable, with spaces
		s + "@es.example:9200",                  // no scheme
		"https://u:" + s + "/x@es.example:9200", // unencoded '/' in the password
		"https://es.example:port/?apikey=" + s,  // bad port
	}
	secrets := []string{s, s + strings.Repeat("!", 300), " " + s + "\t"}

	keys := 0
	for _, v := range config.EnvVars() {
		if v.Type != "string" && v.Type != "list" {
			continue
		}
		values := urls
		if redact.IsSecretKey(v.Key) {
			values = append(append([]string{}, secrets...), urls...)
		}
		for i, val := range values {
			env := map[string]string{v.Name: val}
			var doc any = val
			if v.Type == "list" {
				env[v.Name] = val + ",," // an empty item fails validation
				doc = []string{val, ""}
			}
			for _, tc := range []struct {
				mode string
				env  map[string]string
				yaml any
			}{
				{"env", env, nil},
				{"yaml", nil, doc},
				{"yaml-scalar", nil, val}, // a list key given a scalar: a YAML type error
			} {
				if tc.mode == "yaml-scalar" && v.Type != "list" {
					continue
				}
				t.Run(v.Key+"/"+tc.mode+"/"+string(rune('a'+i)), func(t *testing.T) {
					for k, x := range base {
						t.Setenv(k, x)
					}
					for k, x := range tc.env {
						t.Setenv(k, x)
					}
					path := ""
					if tc.yaml != nil {
						path = writeYAML(t, v.Key, tc.yaml)
					}
					var stdout, stderr bytes.Buffer
					err := configCheck(path, &stdout, &stderr)
					out := stdout.String() + stderr.String()
					if err != nil {
						out += err.Error()
					}
					if strings.Contains(out, s) {
						t.Errorf("secret shown for %s = %q:\n%s", v.Key, tc.yaml, out)
					}
				})
			}
		}
		keys++
	}
	if keys < 20 {
		t.Fatalf("only %d string keys found", keys)
	}
}

// TestValidationShowsURLsRedacted: a rejected URL is shown, so the user
// sees what is wrong, with its credentials hidden.
func TestValidationShowsURLsRedacted(t *testing.T) {
	t.Setenv("FLOWHOSE_SINKS_ELASTICSEARCH_ENABLED", "true")
	t.Setenv("FLOWHOSE_SINKS_ELASTICSEARCH_URLS", "ftp://tok@es.example/?api_key=k&v=1")
	t.Setenv("FLOWHOSE_ENRICH_IP_RANGES_URL", "file://u:p@h/ip-ranges.json")
	t.Setenv("FLOWHOSE_ENRICH_INVENTORY", "ec2")
	t.Setenv("FLOWHOSE_ENRICH_EC2_REGIONS", "us-east-1")
	t.Setenv("FLOWHOSE_ENRICH_EC2_ENDPOINT", "tok@ec2.example")
	var stdout, stderr bytes.Buffer
	if err := configCheck("", &stdout, &stderr); err == nil {
		t.Fatal("invalid configuration accepted")
	}
	for _, want := range []string{
		`sinks.elasticsearch.urls: must be http:// or https:// URLs, got "ftp://REDACTED@es.example/?api_key=REDACTED&v=1"`,
		`enrich.ip_ranges.url: must be an absolute http or https URL, got "file://REDACTED@h/ip-ranges.json"`,
		`enrich.ec2.endpoint: must be an absolute http or https URL, got "REDACTED@ec2.example"`,
	} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
}

// writeYAML writes a configuration file setting the dotted key to value.
func writeYAML(t *testing.T, key string, value any) string {
	t.Helper()
	parts := strings.Split(key, ".")
	doc := value
	for i := len(parts) - 1; i >= 0; i-- {
		doc = map[string]any{parts[i]: doc}
	}
	data, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "flowhose.yaml")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestConfigCheckWarnsAboutFormatsWithoutInterfaceID(t *testing.T) {
	t.Setenv("FLOWHOSE_DECODE_FORMATS", "${version} ${srcaddr} ${dstaddr} ${action}")
	var stdout, stderr bytes.Buffer
	if err := configCheck("", &stdout, &stderr); err != nil {
		t.Fatalf("config check: %v\n%s", err, stderr.String())
	}
	if want := "warning: decode.formats[0] has no ${interface-id}"; !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
	}
}
