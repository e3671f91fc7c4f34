package config

import (
	"fmt"
	"reflect"
	"strings"
)

// A Starter is a commented starter configuration for one common
// deployment, printed by `flowhose config init NAME`. It sets only the keys
// that deployment needs, each under its reference documentation (the same
// text as config/README.md) and a note on why it is set so.
type Starter struct {
	// Name selects the starter on the command line.
	Name string
	// Summary describes the deployment in one line.
	Summary string
	// intro heads the file: what runs and how (wrapped when rendered).
	intro string
	// values are the keys set. A secret key is written empty, to be set
	// from the environment.
	values map[string]any
	// notes explain a value for this deployment, by key.
	notes map[string]string
}

const (
	serveListenNote   = "Behind a load balancer that terminates TLS: Firehose sends only to HTTPS on port 443."
	shutdownDelayNote = "Lets the load balancer stop sending before the listener closes."
	esURLNote         = "Replace with your cluster; or set cloud_id (Elastic Cloud)."
)

// Starters lists the starter configurations, for `flowhose config init`.
func Starters() []Starter {
	return []Starter{
		{
			Name:    "firehose-elasticsearch",
			Summary: "Firehose HTTP-endpoint destination → Elasticsearch (flowhose serve)",
			intro: "Amazon Data Firehose delivers to `flowhose serve` as an HTTP-endpoint destination; " +
				"every record goes to Elasticsearch, and Firehose gets its 200 only once " +
				"Elasticsearch has confirmed every document of the request.",
			values: map[string]any{
				"http.listen":                  ":8080",
				"http.shutdown_delay":          "5s",
				"sources.firehose.access_keys": []string{},
				"sinks.ndjson.enabled":         false,
				"sinks.dead_letter.path":       "/var/lib/flowhose/deadletter.ndjson",
				"sinks.elasticsearch.enabled":  true,
				"sinks.elasticsearch.urls":     []string{"https://elasticsearch.example.internal:9200"},
				"sinks.elasticsearch.api_key":  "",
			},
			notes: map[string]string{
				"http.listen":              serveListenNote,
				"http.shutdown_delay":      shutdownDelayNote,
				"sinks.ndjson.enabled":     "Elasticsearch is the only sink.",
				"sinks.dead_letter.path":   "On a persistent volume: dead letters are acknowledged input.",
				"sinks.elasticsearch.urls": esURLNote,
			},
		},
		{
			Name:    "firehose-ndjson",
			Summary: "Firehose HTTP-endpoint destination → NDJSON on standard output (flowhose serve)",
			intro: "Amazon Data Firehose delivers to `flowhose serve` as an HTTP-endpoint destination; " +
				"every record is written as an ECS document, one per line, on standard output " +
				"for a log collector (or to a file).",
			values: map[string]any{
				"http.listen":                  ":8080",
				"http.shutdown_delay":          "5s",
				"sources.firehose.access_keys": []string{},
				"sinks.ndjson.path":            "-",
				"sinks.dead_letter.path":       "/var/lib/flowhose/deadletter.ndjson",
			},
			notes: map[string]string{
				"http.listen":            serveListenNote,
				"http.shutdown_delay":    shutdownDelayNote,
				"sinks.ndjson.path":      "Standard output, or a file path.",
				"sinks.dead_letter.path": "On a persistent volume: dead letters are acknowledged input.",
			},
		},
		{
			Name:    "lambda-transform",
			Summary: "Firehose data transformation in AWS Lambda",
			intro: "flowhose as the Firehose data-transformation Lambda function (runtime " +
				"provided.al2023, flowhose as the bootstrap): ship this file beside it and set " +
				"FLOWHOSE_CONFIG=/var/task/flowhose.yaml. The response is the delivery: no " +
				"HTTP server and no sink runs there.",
			values: map[string]any{
				"sources.transform.output":             "ecs",
				"sources.transform.max_response_bytes": 6_000_000,
				"sinks.dead_letter.path":               "-",
			},
			notes: map[string]string{
				"sources.transform.output": "Size Firehose's Lambda buffer for it: at most 0.5 MB for ecs, " +
					"2 MB for splunk_hec, 3 MB for original.",
				"sources.transform.max_response_bytes": "Lambda's own limit is 6 MB; the records past it are kept " +
					"by Firehose under its processing-failed prefix.",
				"sinks.dead_letter.path": "Standard error, which Lambda sends to CloudWatch Logs: the " +
					"function's file system is read-only outside /tmp.",
			},
		},
		{
			Name:    "replay-elasticsearch",
			Summary: "replay or backfill flow-log files into Elasticsearch (flowhose replay)",
			intro: "Replays S3-delivered flow-log files (plain or gzip, header lines detected) " +
				"into Elasticsearch: flowhose -config flowhose.yaml replay FILE... (or - for " +
				"standard input). Document ids derive from the records, so replaying a file " +
				"again creates no duplicates.",
			values: map[string]any{
				"sources.file.max_in_flight":  4,
				"sinks.ndjson.enabled":        false,
				"sinks.dead_letter.path":      "./flowhose-deadletter.ndjson",
				"sinks.elasticsearch.enabled": true,
				"sinks.elasticsearch.urls":    []string{"https://elasticsearch.example.internal:9200"},
				"sinks.elasticsearch.api_key": "",
			},
			notes: map[string]string{
				"sources.file.max_in_flight": "Raise it for a faster backfill of a large cluster.",
				"sinks.ndjson.enabled":       "Elasticsearch is the only sink; replay prints its summary on standard error.",
				"sinks.dead_letter.path":     "replay exits 1 when it dead-lettered a line; each entry names the file, line and reason.",
				"sinks.elasticsearch.urls":   esURLNote,
			},
		},
	}
}

// YAML renders the starter: its keys in reference order, each under its
// documentation.
func (s Starter) YAML() (string, error) {
	keys := documentedKeys()
	known := map[string]bool{}
	for _, k := range keys {
		known[k.key] = !k.section
	}
	notes := map[string]string{}
	for key, v := range s.values {
		if !known[key] {
			return "", fmt.Errorf("starter %s: %q is not a setting", s.Name, key)
		}
		var note []string
		if n := s.notes[key]; n != "" {
			note = append(note, "Here: "+n)
		}
		if isSecretKey(key) {
			if rv := reflect.ValueOf(v); !rv.IsZero() && (rv.Kind() != reflect.Slice || rv.Len() > 0) {
				return "", fmt.Errorf("starter %s: secret %s must be left empty", s.Name, key)
			}
			note = append(note, "Secret: set "+envName(key)+" in the environment, which overrides the file.")
		}
		notes[key] = strings.Join(note, " ")
	}
	header := strings.Join([]string{
		wrap("flowhose starter configuration " + s.Name + ": " + s.Summary + "."),
		"",
		wrap(s.intro),
		"",
		wrap("Generated by `flowhose config init " + s.Name + "`. Keys left out keep their " +
			"defaults; config/README.md lists them all. Any key can be overridden from " +
			"the environment as FLOWHOSE_<KEY_PATH>. Check the result with:"),
		"  flowhose config check -config flowhose.yaml",
	}, "\n")
	return commentedYAML(keys, s.values, notes, header)
}
