package config

import (
	"encoding"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flowhose/flowhose/config/redact"
)

// EnvPrefix starts every environment override.
const EnvPrefix = "FLOWHOSE_"

// EnvVar is one setting that the environment can override.
type EnvVar struct {
	Name string // e.g. FLOWHOSE_SOURCES_FIREHOSE_ACCESS_KEYS
	Key  string // e.g. sources.firehose.access_keys
	Type string // string, int, bool, float, duration or list
}

var (
	durationType    = reflect.TypeFor[time.Duration]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// section reports whether a field of type t is a section of keys rather
// than one setting. A struct that parses itself from text (a sink's
// routing filter) is one setting, given in YAML in the environment.
func section(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && t != durationType && !reflect.PointerTo(t).Implements(textUnmarshaler)
}

// EnvVars lists every overridable setting of Config, in struct order.
func EnvVars() []EnvVar {
	var out []EnvVar
	var c Config
	walk(reflect.ValueOf(&c).Elem(), "", func(key string, v reflect.Value) {
		out = append(out, EnvVar{Name: envName(key), Key: key, Type: kindName(v.Type())})
	})
	return out
}

// EnvNotKeys are the FLOWHOSE_ variables that name no key and yet are not
// errors; a trailing * matches any rest. FLOWHOSE_CONFIG names the file;
// the others belong to the test tooling (scripts/, .services/env), so a
// shell that sourced the services' environment can still start flowhose.
// No key may match one (a test checks), and a test fails when the scripts
// or tests use a FLOWHOSE_ variable that is neither a key nor listed here.
var EnvNotKeys = []string{
	"FLOWHOSE_CONFIG",
	"FLOWHOSE_CACHE",
	"FLOWHOSE_FUZZTIME",
	"FLOWHOSE_NO_SERVICES",
	"FLOWHOSE_REQUIRE_SERVICES",
	"FLOWHOSE_SERVICES_TIMEOUT",
	"FLOWHOSE_ES_*",
	"FLOWHOSE_OPENSEARCH_*",
	"FLOWHOSE_MOTO_*",
	"FLOWHOSE_SPLUNKHEC_*",
	"FLOWHOSE_KAFKA_*",
	"FLOWHOSE_TEST_*",
	"FLOWHOSE_BENCH_*", // scripts/bench-*
	"FLOWHOSE_LOAD_*",  // cmd/flowhose-load
}

// environment returns the FLOWHOSE_ variables of the process.
func environment() map[string]string {
	env := map[string]string{}
	for _, kv := range os.Environ() {
		if name, value, _ := strings.Cut(kv, "="); strings.HasPrefix(name, EnvPrefix) {
			env[name] = value
		}
	}
	return env
}

// applyEnv overrides every leaf of c named in env, and returns one error
// per unparsable value and per FLOWHOSE_ variable that names no key (a
// typo would otherwise leave the default silently in place).
func applyEnv(c *Config, env map[string]string) []error {
	var errs []error
	known := map[string]bool{}
	walk(reflect.ValueOf(c).Elem(), "", func(key string, v reflect.Value) {
		name := envName(key)
		known[name] = true
		s, ok := env[name]
		if !ok {
			return
		}
		if err := setFromString(v, s); err != nil {
			errs = append(errs, fmt.Errorf("environment %s (%s): %w", name, key, err))
		}
	})
	var unknown []string
	for name := range env {
		if strings.HasPrefix(name, EnvPrefix) && !known[name] && !isEnvNotKey(name) {
			unknown = append(unknown, name)
		}
	}
	slices.Sort(unknown)
	for _, name := range unknown {
		errs = append(errs, fmt.Errorf("environment %s: unknown; did you mean %s?", name, nearestEnvName(name)))
	}
	return errs
}

func isEnvNotKey(name string) bool {
	for _, n := range EnvNotKeys {
		if p, ok := strings.CutSuffix(n, "*"); ok && strings.HasPrefix(name, p) || name == n {
			return true
		}
	}
	return false
}

// nearestEnvName returns the key variable closest to name in edit distance,
// the first in struct order on a tie.
func nearestEnvName(name string) string {
	best, bestDist := "", -1
	for _, v := range EnvVars() {
		if d := editDistance(name, v.Name); bestDist < 0 || d < bestDist {
			best, bestDist = v.Name, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			sub := prev[j-1]
			if a[i-1] != b[j-1] {
				sub++
			}
			cur[j] = min(sub, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// walk calls leaf for every scalar or list field reachable from v through
// yaml-tagged struct fields, with its dotted key. Inline structs add no
// key segment.
func walk(v reflect.Value, prefix string, leaf func(key string, v reflect.Value)) {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		fv := v.Field(i)
		if strings.Contains(opts, "inline") {
			walk(fv, prefix, leaf)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		key := name
		if prefix != "" {
			key = prefix + "." + name
		}
		if section(f.Type) {
			walk(fv, key, leaf)
			continue
		}
		leaf(key, fv)
	}
}

func envName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

func kindName(t reflect.Type) string {
	if t == durationType {
		return "duration"
	}
	if reflect.PointerTo(t).Implements(textUnmarshaler) {
		return "yaml"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "bool"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "int"
	case reflect.Float32, reflect.Float64:
		return "float"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.String {
			return "list"
		}
	}
	return "unsupported " + t.String()
}

// setFromString parses s into v according to v's type. Lists are
// comma-separated with surrounding spaces trimmed; an empty string is an
// empty list.
func setFromString(v reflect.Value, s string) error {
	t := v.Type()
	if t == durationType {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("not a duration like 30s or 5m: %q", redact.URL(s))
		}
		v.SetInt(int64(d))
		return nil
	}
	if u, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok {
		return u.UnmarshalText([]byte(s))
	}
	switch t.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("not a boolean (true or false): %q", redact.URL(s))
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, t.Bits())
		if err != nil {
			return fmt.Errorf("not an integer of %d bits: %q", t.Bits(), redact.URL(s))
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(strings.TrimSpace(s), 10, t.Bits())
		if err != nil {
			return fmt.Errorf("not an unsigned integer of %d bits: %q", t.Bits(), redact.URL(s))
		}
		v.SetUint(n)
	case reflect.Float32, reflect.Float64:
		n, err := strconv.ParseFloat(strings.TrimSpace(s), t.Bits())
		if err != nil {
			return fmt.Errorf("not a number: %q", redact.URL(s))
		}
		v.SetFloat(n)
	case reflect.Slice:
		if t.Elem().Kind() != reflect.String {
			return fmt.Errorf("type %s cannot be set from the environment", t)
		}
		items := reflect.MakeSlice(t, 0, 0)
		if strings.TrimSpace(s) != "" {
			for item := range strings.SplitSeq(s, ",") {
				e := reflect.New(t.Elem()).Elem()
				e.SetString(strings.TrimSpace(item))
				items = reflect.Append(items, e)
			}
		}
		v.Set(items)
	default:
		return fmt.Errorf("type %s cannot be set from the environment", t)
	}
	return nil
}
