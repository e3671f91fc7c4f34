package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestLoad(t *testing.T) {
	tests := []struct {
		name  string
		file  string // under testdata; "" loads no file
		env   map[string]string
		check func(t *testing.T, c Config)
		// wantErrs must all appear in the error; none means success.
		wantErrs []string
	}{
		{
			name: "defaults without a file",
			check: func(t *testing.T, c Config) {
				if c.HTTP.Listen != "127.0.0.1:8080" || c.HTTP.ShutdownTimeout != 30*time.Second || c.Pipeline.QueueDepth != 64 {
					t.Errorf("defaults not applied: %+v", c.HTTP)
				}
				if !c.Sinks.NDJSON.Enabled || c.Sinks.NDJSON.Config.Path != "-" {
					t.Errorf("ndjson sink should default to stdout: %+v", c.Sinks.NDJSON)
				}
			},
		},
		{
			name:  "empty file keeps defaults",
			file:  "empty.yaml",
			check: func(t *testing.T, c Config) { assertEqualYAML(t, c, Default()) },
		},
		{
			name: "valid file overrides only what it names",
			file: "valid.yaml",
			check: func(t *testing.T, c Config) {
				if c.Log.Level != "debug" || c.Log.Format != "text" {
					t.Errorf("log = %+v", c.Log)
				}
				if c.HTTP.Listen != "127.0.0.1:9000" || c.HTTP.ShutdownTimeout != 45*time.Second {
					t.Errorf("http = %+v", c.HTTP)
				}
				if c.HTTP.WriteTimeout != Default().HTTP.WriteTimeout {
					t.Errorf("unnamed key lost its default: write_timeout = %s", c.HTTP.WriteTimeout)
				}
				if c.Pipeline.Workers != 3 || len(c.Decode.Formats) != 2 {
					t.Errorf("pipeline = %+v, formats = %d", c.Pipeline, len(c.Decode.Formats))
				}
				if !c.Sinks.NDJSON.Config.Fsync || c.Sinks.NDJSON.Config.Dataset != "aws.vpcflow" || c.Sinks.DeadLetter.MaxFiles != 2 || !c.Sinks.DeadLetter.Fsync {
					t.Errorf("sinks = %+v", c.Sinks)
				}
			},
		},
		{
			name:     "typo is an error naming the line and key",
			file:     "typo.yaml",
			wantErrs: []string{"line 3", "lisen"},
		},
		{
			name:     "wrong type names the line",
			file:     "wrong_type.yaml",
			wantErrs: []string{"line 2", "many"},
		},
		{
			name:     "two YAML documents",
			file:     "two_documents.yaml",
			wantErrs: []string{"more than one YAML document"},
		},
		{
			name: "every bad value is reported with its key path",
			file: "bad_values.yaml",
			wantErrs: []string{
				`log.level: must be debug, info, warn or error, got "loud"`,
				`http.listen: must be host:port`,
				`http.shutdown_timeout: must be between`,
				`pipeline.workers: must be between 0 (twice GOMAXPROCS) and 1024, got -1`,
				`decode.formats[0]:`,
				`sinks.ndjson.flush_bytes: must be between`,
				`sinks.dead_letter.max_files: must be between 1 and 1000 rotated files kept`,
			},
		},
		{
			name:     "no sink enabled",
			file:     "no_sinks.yaml",
			wantErrs: []string{"sinks: at least one sink must be enabled"},
		},
		{
			name: "environment beats the file",
			file: "valid.yaml",
			env: map[string]string{
				"FLOWHOSE_HTTP_LISTEN":           "127.0.0.1:9100",
				"FLOWHOSE_HTTP_SHUTDOWN_TIMEOUT": "1m30s",
				"FLOWHOSE_PIPELINE_WORKERS":      "5",
				"FLOWHOSE_SINKS_NDJSON_FSYNC":    "false",
				"FLOWHOSE_DECODE_FORMATS":        "${srcaddr} ${dstaddr} , ${version} ${srcaddr} ${dstaddr}",
				"FLOWHOSE_LOG_LEVEL":             "warn",
			},
			check: func(t *testing.T, c Config) {
				if c.HTTP.Listen != "127.0.0.1:9100" || c.HTTP.ShutdownTimeout != 90*time.Second || c.Pipeline.Workers != 5 {
					t.Errorf("env not applied: http=%+v pipeline=%+v", c.HTTP, c.Pipeline)
				}
				if c.Sinks.NDJSON.Config.Fsync {
					t.Error("FLOWHOSE_SINKS_NDJSON_FSYNC=false not applied")
				}
				want := []string{"${srcaddr} ${dstaddr}", "${version} ${srcaddr} ${dstaddr}"}
				if strings.Join(c.Decode.Formats, "|") != strings.Join(want, "|") {
					t.Errorf("formats = %q, want %q", c.Decode.Formats, want)
				}
				if c.Log.Level != "warn" || c.Log.Format != "text" {
					t.Errorf("log = %+v", c.Log)
				}
			},
		},
		{
			name: "unparsable environment values name the variable",
			env: map[string]string{
				"FLOWHOSE_PIPELINE_WORKERS":                 "lots",
				"FLOWHOSE_HTTP_IDLE_TIMEOUT":                "soon",
				"FLOWHOSE_SINKS_DEAD_LETTER_FSYNC":          "maybe",
				"FLOWHOSE_SINKS_DEAD_LETTER_MAX_FILE_BYTES": "1e99",
			},
			wantErrs: []string{
				"FLOWHOSE_PIPELINE_WORKERS (pipeline.workers)",
				"FLOWHOSE_HTTP_IDLE_TIMEOUT (http.idle_timeout)",
				"FLOWHOSE_SINKS_DEAD_LETTER_FSYNC (sinks.dead_letter.fsync)",
				"FLOWHOSE_SINKS_DEAD_LETTER_MAX_FILE_BYTES",
			},
		},
		{
			name: "shutdown delay must stay below the timeout",
			env: map[string]string{
				"FLOWHOSE_HTTP_SHUTDOWN_DELAY":   "30s",
				"FLOWHOSE_HTTP_SHUTDOWN_TIMEOUT": "30s",
			},
			wantErrs: []string{"http.shutdown_delay: must be at least 0s and less than http.shutdown_timeout (30s), got 30s"},
		},
		{
			name: "cross-key checks",
			env: map[string]string{
				"FLOWHOSE_SOURCES_FIREHOSE_PATH":     "/metrics",
				"FLOWHOSE_SOURCES_TRANSFORM_ENABLED": "true",
				"FLOWHOSE_SOURCES_TRANSFORM_PATH":    "/readyz",
				"FLOWHOSE_HTTP_WRITE_TIMEOUT":        "1m",
			},
			wantErrs: []string{
				`sources.firehose.path: "/metrics" is already used by a built-in endpoint`,
				`sources.transform.path: "/readyz" is already used by a built-in endpoint`,
				"http.write_timeout: must exceed sources.firehose.ack_timeout (2m50s)",
			},
		},
		{
			name: "kafka drain within the shutdown timeout",
			env: map[string]string{
				"FLOWHOSE_SOURCES_KAFKA_ENABLED":       "true",
				"FLOWHOSE_SOURCES_KAFKA_TOPICS":        "flows",
				"FLOWHOSE_SOURCES_KAFKA_DRAIN_TIMEOUT": "20s",
				"FLOWHOSE_HTTP_SHUTDOWN_TIMEOUT":       "15s",
			},
			wantErrs: []string{"sources.kafka.drain_timeout: must be below http.shutdown_timeout (15s)"},
		},
		{
			name: "kafka drain and leave within the shutdown timeout",
			env: map[string]string{
				"FLOWHOSE_SOURCES_KAFKA_ENABLED":       "true",
				"FLOWHOSE_SOURCES_KAFKA_TOPICS":        "flows",
				"FLOWHOSE_SOURCES_KAFKA_DRAIN_TIMEOUT": "14s",
				"FLOWHOSE_HTTP_SHUTDOWN_TIMEOUT":       "15s",
			},
			wantErrs: []string{"sources.kafka.drain_timeout: must be below http.shutdown_timeout (15s) minus 2s"},
		},
		{
			name: "two sources on one path",
			env: map[string]string{
				"FLOWHOSE_SOURCES_TRANSFORM_ENABLED": "true",
				"FLOWHOSE_SOURCES_TRANSFORM_PATH":    "/firehose",
			},
			wantErrs: []string{`sources.transform.path: "/firehose" is already used by sources.firehose.path`},
		},
		{
			name: "enabled components are validated with their prefix",
			env: map[string]string{
				"FLOWHOSE_SINKS_ELASTICSEARCH_ENABLED": "true",
				"FLOWHOSE_SINKS_ELASTICSEARCH_URLS":    "",
				"FLOWHOSE_SOURCES_FIREHOSE_BATCH_SIZE": "0",
				"FLOWHOSE_SOURCES_FILE_MAX_IN_FLIGHT":  "0",
				"FLOWHOSE_ENRICH_IP_RANGES_TIMEOUT":    "0s",
			},
			wantErrs: []string{
				"sinks.elasticsearch.",
				"sources.firehose.batch_size: must be between 1 and",
				"sources.file.max_in_flight: must be between 1 and",
				"enrich.ip_ranges.timeout:",
			},
		},
		{
			name: "disabled components are not validated",
			env: map[string]string{
				"FLOWHOSE_SOURCES_FIREHOSE_ENABLED":    "false",
				"FLOWHOSE_SOURCES_FIREHOSE_BATCH_SIZE": "0",
				"FLOWHOSE_SINKS_ELASTICSEARCH_URLS":    "",
			},
			check: func(t *testing.T, c Config) {
				if c.Sources.Firehose.Enabled {
					t.Error("firehose still enabled")
				}
			},
		},
		{
			name:     "memory budget below the minimum",
			env:      map[string]string{"FLOWHOSE_PIPELINE_MEMORY_BUDGET": "1000"},
			wantErrs: []string{"pipeline.memory_budget: must be 0 (automatic) or between 1048576 and 1099511627776 bytes, got 1000"},
		},
		{
			name: "memory budget set",
			env:  map[string]string{"FLOWHOSE_PIPELINE_MEMORY_BUDGET": "268435456"},
			check: func(t *testing.T, c Config) {
				if c.Pipeline.MemoryBudget != 256<<20 {
					t.Errorf("memory_budget = %d", c.Pipeline.MemoryBudget)
				}
			},
		},
		{
			name:     "environment values are validated too",
			env:      map[string]string{"FLOWHOSE_PIPELINE_QUEUE_DEPTH": "0"},
			wantErrs: []string{"pipeline.queue_depth: must be between 1 and 65536, got 0"},
		},
		{
			name:     "unknown environment variable names the nearest key",
			env:      map[string]string{"FLOWHOSE_HTTP_ADDR": ":9000", "FLOWHOSE_SINKS_NDJSON_FSNYC": "true"},
			wantErrs: []string{"FLOWHOSE_HTTP_ADDR: unknown; did you mean FLOWHOSE_HTTP_LISTEN?", "FLOWHOSE_SINKS_NDJSON_FSNYC: unknown; did you mean FLOWHOSE_SINKS_NDJSON_FSYNC?"},
		},
		{
			name: "the config path and the test tooling's variables are not keys",
			env: map[string]string{
				"FLOWHOSE_CONFIG":           "flowhose.yaml",
				"FLOWHOSE_TEST_ES_URL":      "http://127.0.0.1:9200",
				"FLOWHOSE_ES_URL":           "http://127.0.0.1:9200",
				"FLOWHOSE_MOTO_PORT":        "5000",
				"FLOWHOSE_REQUIRE_SERVICES": "1",
				"FLOWHOSE_NO_SERVICES":      "1",
				"FLOWHOSE_FUZZTIME":         "10s",
				"FLOWHOSE_CACHE":            "/tmp",
				"FLOWHOSE_SERVICES_TIMEOUT": "60",
				"OTHER_HTTP_ADDR":           "x",
			},
			check: func(t *testing.T, c Config) {},
		},
		{
			name: "empty list from the environment",
			env:  map[string]string{"FLOWHOSE_DECODE_FORMATS": ""},
			check: func(t *testing.T, c Config) {
				if len(c.Decode.Formats) != 0 {
					t.Errorf("formats = %q, want none", c.Decode.Formats)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.file != "" {
				path = filepath.Join("testdata", tt.file)
			}
			c, err := load(path, tt.env)
			if len(tt.wantErrs) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				tt.check(t, c)
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, want := range tt.wantErrs {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error does not contain %q:\n%v", want, err)
				}
			}
		})
	}
}

func assertEqualYAML(t *testing.T, got, want Config) {
	t.Helper()
	g, err := yaml.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := yaml.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if string(g) != string(w) {
		t.Errorf("got\n%s\nwant\n%s", g, w)
	}
}

func TestMissingFile(t *testing.T) {
	if _, err := load(filepath.Join(t.TempDir(), "nope.yaml"), nil); err == nil || !os.IsNotExist(unwrapAll(err)) {
		t.Fatalf("err = %v, want a not-exist error", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

func TestEnvVarsCoverEveryKey(t *testing.T) {
	vars := EnvVars()
	if len(vars) < 20 {
		t.Fatalf("only %d variables found", len(vars))
	}
	seen := map[string]bool{}
	for _, v := range vars {
		if strings.HasPrefix(v.Type, "unsupported") {
			t.Errorf("%s (%s) has a type the environment cannot set: %s", v.Name, v.Key, v.Type)
		}
		if seen[v.Name] {
			t.Errorf("two keys share the variable %s", v.Name)
		}
		seen[v.Name] = true
	}
	for _, want := range []string{"FLOWHOSE_HTTP_LISTEN", "FLOWHOSE_SINKS_NDJSON_ENABLED", "FLOWHOSE_SINKS_NDJSON_PATH", "FLOWHOSE_SINKS_DEAD_LETTER_MAX_FILES"} {
		if !seen[want] {
			t.Errorf("missing %s", want)
		}
	}
}

func TestExampleConfigLoads(t *testing.T) {
	c, err := load(filepath.Join("..", "deploy", "flowhose.yaml"), nil)
	if err != nil {
		t.Fatalf("deploy/flowhose.yaml: %v", err)
	}
	if c.HTTP.Listen != "127.0.0.1:8080" {
		t.Errorf("example listens on %q", c.HTTP.Listen)
	}
}

func TestRedacted(t *testing.T) {
	c := Default()
	c.Sinks.NDJSON.Config.Path = "https://alice:hunter2@example.com/x?api_key=swordfish&q=1"
	c.Sinks.Elasticsearch.Config.APIKey = "opensesame"
	c.Sinks.Kafka.Config.SASL.Password = "kafkapass"
	c.Decode.Formats = []string{"${srcaddr}"}
	r := c.Redacted()
	out, err := c.YAML()
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"hunter2", "alice", "swordfish", "opensesame", "kafkapass"} {
		if strings.Contains(string(out), secret) {
			t.Errorf("%q not redacted:\n%s", secret, out)
		}
	}
	if want := "https://REDACTED@example.com/x?api_key=REDACTED&q=1"; r.Sinks.NDJSON.Config.Path != want {
		t.Errorf("URL redacted to %q, want %q", r.Sinks.NDJSON.Config.Path, want)
	}
	if c.Sinks.NDJSON.Config.Path != "https://alice:hunter2@example.com/x?api_key=swordfish&q=1" {
		t.Error("Redacted modified the original")
	}
}

func TestYAMLRoundTrip(t *testing.T) {
	c := Default()
	out, err := c.YAML()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "shutdown_timeout: 30s") {
		t.Errorf("durations should render as text:\n%s", out)
	}
	var back Config
	if err := decodeYAML(out, &back); err != nil {
		t.Fatalf("rendered config does not load back: %v", err)
	}
	assertEqualYAML(t, back, c)
}

// FuzzDecode checks that no file content or environment value makes
// loading panic, and that a loaded config that validates renders and
// loads back.
func FuzzDecode(f *testing.F) {
	for _, name := range []string{"valid.yaml", "typo.yaml", "bad_values.yaml", "wrong_type.yaml"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, "7")
	}
	f.Add([]byte("http: {listen: [1, 2]}"), "-1")
	f.Add([]byte("decode:\n  formats: ${"), "1e400")
	f.Fuzz(func(t *testing.T, data []byte, env string) {
		c := Default()
		if err := decodeYAML(data, &c); err != nil {
			return
		}
		applyEnv(&c, map[string]string{
			"FLOWHOSE_PIPELINE_WORKERS":   env,
			"FLOWHOSE_HTTP_IDLE_TIMEOUT":  env,
			"FLOWHOSE_DECODE_FORMATS":     env,
			"FLOWHOSE_SINKS_NDJSON_FSYNC": env,
		})
		if c.Validate() != nil {
			return
		}
		out, err := c.YAML()
		if err != nil {
			t.Fatal(err)
		}
		var back Config
		if err := decodeYAML(out, &back); err != nil {
			t.Fatalf("valid config does not load back: %v\n%s", err, out)
		}
	})
}

// Serving on a non-loopback address without access keys is refused unless
// explicitly allowed; the transformation endpoint counts too.
func TestAccessKeysRequiredOffLoopback(t *testing.T) {
	const wantErr = "sources.firehose.access_keys: required when http.listen"
	tests := []struct {
		name string
		env  map[string]string
		ok   bool
	}{
		{"default loopback", nil, true},
		{"localhost", map[string]string{"FLOWHOSE_HTTP_LISTEN": "localhost:8080"}, true},
		{"IPv6 loopback", map[string]string{"FLOWHOSE_HTTP_LISTEN": "[::1]:8080"}, true},
		{"all interfaces", map[string]string{"FLOWHOSE_HTTP_LISTEN": ":8080"}, false},
		{"unspecified address", map[string]string{"FLOWHOSE_HTTP_LISTEN": "0.0.0.0:8080"}, false},
		{"host name", map[string]string{"FLOWHOSE_HTTP_LISTEN": "flowhose.internal:8080"}, false},
		{"keys set", map[string]string{"FLOWHOSE_HTTP_LISTEN": ":8080", "FLOWHOSE_SOURCES_FIREHOSE_ACCESS_KEYS": "k1"}, true},
		{"explicitly open", map[string]string{"FLOWHOSE_HTTP_LISTEN": ":8080", "FLOWHOSE_SOURCES_FIREHOSE_ALLOW_UNAUTHENTICATED": "true"}, true},
		{"transform only", map[string]string{"FLOWHOSE_HTTP_LISTEN": ":8080", "FLOWHOSE_SOURCES_FIREHOSE_ENABLED": "false", "FLOWHOSE_SOURCES_TRANSFORM_ENABLED": "true"}, false},
		{"no endpoint", map[string]string{"FLOWHOSE_HTTP_LISTEN": ":8080", "FLOWHOSE_SOURCES_FIREHOSE_ENABLED": "false"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load("", tt.env)
			if tt.ok && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if !tt.ok && (err == nil || !strings.Contains(err.Error(), wantErr)) {
				t.Fatalf("error = %v, want %q", err, wantErr)
			}
		})
	}
}

func TestEnvNotKeysNameNoKey(t *testing.T) {
	for _, v := range EnvVars() {
		if isEnvNotKey(v.Name) {
			t.Errorf("%s (%s) matches EnvNotKeys and could not be set", v.Name, v.Key)
		}
	}
}

// TestEnvVariablesInRepo keeps EnvNotKeys complete: every FLOWHOSE_
// variable that the scripts, CI, documentation, deployment files or tests
// of other packages use must be a key or listed, or a developer who
// sourced it could not start flowhose.
func TestEnvVariablesInRepo(t *testing.T) {
	known := map[string]bool{}
	for _, v := range EnvVars() {
		known[v.Name] = true
	}
	name := regexp.MustCompile(`FLOWHOSE_[A-Z0-9_]*`)
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path == "../.git" || path == "../config" {
				return filepath.SkipDir // config's tests use unknown names on purpose
			}
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range name.FindAllIndex(data, -1) {
			v := string(data[m[0]:m[1]])
			next := byte(' ')
			if m[1] < len(data) {
				next = data[m[1]]
			}
			// FLOWHOSE_, FLOWHOSE_ENRICH_ or FLOWHOSE_<KEY> name families.
			if strings.HasSuffix(v, "_") || next == '<' || next == '*' || next == '{' || next == '$' {
				continue
			}
			if !known[v] && !isEnvNotKey(v) {
				t.Errorf("%s: %s is neither a key nor in EnvNotKeys", path, v)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestEditDistance(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"abc", "", 3}, {"", "ab", 2}, {"kitten", "sitting", 3}, {"FSNYC", "FSYNC", 2},
	} {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

// TestYAMLTypeErrorHidesSecrets: a value of the wrong type never reaches
// the Config, so the YAML error is what could show it.
func TestYAMLTypeErrorHidesSecrets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	data := "pipeline:\n  workers: many\nsources:\n  firehose:\n    access_keys: hunter2\nsinks:\n  elasticsearch:\n    urls: https://tok3n@h\n"
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := load(path, nil)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"line 2: cannot unmarshal !!str `many` into int", "line 5: cannot unmarshal !!str `REDACTED` into []string", "line 8: cannot unmarshal !!str `REDACTED` into []string"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not contain %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "tok3n") {
		t.Errorf("secret shown: %v", err)
	}
}

// TestScrub: whatever a component's message quotes, whole credential-
// shaped values of the Config come out redacted.
func TestScrub(t *testing.T) {
	c := Default()
	c.Sinks.Elasticsearch.Config.Password = "pa\"ss"
	c.Sinks.NDJSON.Config.Path = "https://tok@host/x"
	err := c.scrub(errors.Join(
		fmt.Errorf("a: got %q", "pa\"ss"),
		fmt.Errorf("b: got %s", "https://tok@host/x"),
		errors.New("sinks.elasticsearch.x: fine"),
	))
	want := "a: got \"REDACTED\"\nb: got https://REDACTED@host/x\nsinks.elasticsearch.x: fine"
	if err.Error() != want {
		t.Errorf("scrub = %q, want %q", err, want)
	}
}

func TestWarnings(t *testing.T) {
	if w := Default().Warnings(); len(w) != 0 {
		t.Errorf("defaults warn: %q", w)
	}
	c := Default()
	c.Decode.Formats = []string{"${version} ${interface-id} ${srcaddr}", "${version} ${srcaddr} ${dstaddr} ${action}"}
	w := c.Warnings()
	if len(w) != 1 || !strings.HasPrefix(w[0], "decode.formats[1] has no ${interface-id}") {
		t.Errorf("warnings = %q, want one for decode.formats[1]", w)
	}
}
