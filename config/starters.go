package config

import (
	"fmt"
	"maps"
	"reflect"
	"strings"

	"github.com/flowhose/flowhose/config/redact"
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
	// settings are the keys set, by key path. A secret key is written
	// empty, to be set from the environment.
	settings map[string]setting
}

// setting is one key a starter sets, with why it is set so there.
type setting struct {
	value any
	note  string
}

// Settings shared by several starters.
var (
	// firehoseServe serves the Firehose HTTP endpoint to a load balancer.
	firehoseServe = map[string]setting{
		"http.listen":                  {":8080", "Behind a load balancer that terminates TLS: Firehose sends only to HTTPS on port 443."},
		"http.shutdown_delay":          {"5s", "Lets the load balancer stop sending before the listener closes."},
		"sources.firehose.access_keys": {[]string{}, ""},
		"sinks.dead_letter.path":       {"/var/lib/flowhose/deadletter.ndjson", "On a persistent volume: dead letters are acknowledged input."},
	}
	// elasticsearchOnly delivers to Elasticsearch alone.
	elasticsearchOnly = map[string]setting{
		"sinks.ndjson.enabled":        {false, "Elasticsearch is the only sink."},
		"sinks.elasticsearch.enabled": {true, ""},
		"sinks.elasticsearch.urls":    {[]string{"https://elasticsearch.example.internal:9200"}, "Replace with your cluster; or set cloud_id (Elastic Cloud)."},
		"sinks.elasticsearch.api_key": {"", ""},
	}
)

// settings merges groups of settings; later groups win.
func settings(groups ...map[string]setting) map[string]setting {
	out := map[string]setting{}
	for _, g := range groups {
		maps.Copy(out, g)
	}
	return out
}

// Starters lists the starter configurations, for `flowhose config init`.
func Starters() []Starter {
	return []Starter{
		{
			Name:    "firehose-elasticsearch",
			Summary: "Firehose HTTP-endpoint destination → Elasticsearch (flowhose serve)",
			intro: "Amazon Data Firehose delivers to `flowhose serve` as an HTTP-endpoint destination; " +
				"every record goes to Elasticsearch, and Firehose gets its 200 only once " +
				"Elasticsearch has confirmed every document of the request.",
			settings: settings(firehoseServe, elasticsearchOnly),
		},
		{
			Name:    "firehose-splunk",
			Summary: "Firehose HTTP-endpoint destination → Splunk HEC with indexer acknowledgement (flowhose serve)",
			intro: "Amazon Data Firehose delivers to `flowhose serve` as an HTTP-endpoint destination; " +
				"every record goes to Splunk's HTTP Event Collector as the original flow-log line " +
				"(Splunk Add-on for AWS sourcetype) with the enrichment as indexed fields, and Firehose " +
				"gets its 200 only once Splunk has reported every event indexed. Splunk is priced by " +
				"volume: a sinks.splunk.filter can keep, say, every REJECT and every flow to the internet.",
			settings: settings(firehoseServe, map[string]setting{
				"sinks.ndjson.enabled": {false, "Splunk is the only sink."},
				"sinks.splunk.enabled": {true, ""},
				"sinks.splunk.urls":    {[]string{"https://splunk-idx1.example.internal:8088", "https://splunk-idx2.example.internal:8088"}, "Replace with your indexers (or one load balancer with sticky sessions); the token must have indexer acknowledgement on."},
				"sinks.splunk.token":   {"", ""},
				"sinks.splunk.index":   {"aws_vpc", "An index the token may write to."},
			}),
		},
		{
			Name:    "firehose-ndjson",
			Summary: "Firehose HTTP-endpoint destination → NDJSON on standard output (flowhose serve)",
			intro: "Amazon Data Firehose delivers to `flowhose serve` as an HTTP-endpoint destination; " +
				"every record is written as an ECS document, one per line, on standard output " +
				"for a log collector (or to a file).",
			settings: settings(firehoseServe, map[string]setting{
				"sinks.ndjson.path": {"-", "Standard output, or a file path."},
			}),
		},
		{
			Name:    "kafka-elasticsearch",
			Summary: "Kafka topics → Elasticsearch as one consumer group (flowhose serve)",
			intro: "`flowhose serve` consumes flow logs from Kafka as one consumer group and " +
				"indexes them into Elasticsearch; a partition's offset is committed only once " +
				"Elasticsearch has confirmed every document before it. Replicas with the same " +
				"group_id share the partitions. For SASL set sources.kafka.sasl.* from the " +
				"environment.",
			settings: settings(elasticsearchOnly, map[string]setting{
				"http.listen":               {":8080", "Only /healthz, /readyz and /metrics are served: no source listens on HTTP."},
				"sources.firehose.enabled":  {false, "Kafka is the only source."},
				"sources.kafka.enabled":     {true, ""},
				"sources.kafka.brokers":     {[]string{"kafka-1.example.internal:9094"}, "Replace with your bootstrap brokers."},
				"sources.kafka.topics":      {[]string{"vpc-flow-logs"}, ""},
				"sources.kafka.group_id":    {"flowhose", "Every replica with this id shares the topics' partitions: partitions bound the parallelism."},
				"sources.kafka.tls.enabled": {true, "Amazon MSK and most managed brokers take TLS only."},
				"sinks.dead_letter.path": {"/var/lib/flowhose/deadletter.ndjson", "On a persistent volume: " +
					"dead letters are committed input."},
			}),
		},
		{
			Name:    "lambda-transform",
			Summary: "Firehose data transformation in AWS Lambda",
			intro: "flowhose as the Firehose data-transformation Lambda function (runtime " +
				"provided.al2023, flowhose as the bootstrap): ship this file beside it and set " +
				"FLOWHOSE_CONFIG=/var/task/flowhose.yaml. The response is the delivery: no " +
				"HTTP server and no sink runs there.",
			settings: map[string]setting{
				"sources.transform.output": {"ecs", "Size Firehose's Lambda buffer for it: " +
					"at most 0.5 MB for ecs, 2 MB for splunk_hec, 3 MB for original."},
				"sources.transform.max_response_bytes": {6_000_000, "Lambda's own limit is 6 MB; " +
					"the records past it are kept by Firehose under its processing-failed prefix."},
				"sinks.dead_letter.path": {"-", "Standard error, which Lambda sends to CloudWatch Logs: " +
					"the function's file system is read-only outside /tmp."},
			},
		},
		{
			Name:    "s3-elasticsearch",
			Summary: "flow logs VPC writes to S3, live through SQS notifications → Elasticsearch (flowhose serve)",
			intro: "The bucket sends its object-created notifications to an SQS queue (directly, " +
				"through SNS or from EventBridge); `flowhose serve` reads each object it names " +
				"(text or Parquet) into Elasticsearch and deletes the message only once every " +
				"record is indexed. Give the queue a redrive policy: flowhose never deletes an " +
				"undelivered message. For the past, run flowhose -config flowhose.yaml replay " +
				"-since DATE -checkpoint FILE s3://BUCKET/PREFIX with the same file.",
			settings: settings(elasticsearchOnly, map[string]setting{
				"http.listen":              {":8080", "Health checks and metrics only: no Firehose endpoint is served."},
				"sources.firehose.enabled": {false, "Flow logs come from S3 here."},
				"sources.s3.enabled":       {true, ""},
				"sources.s3.queue_url":     {"https://sqs.eu-west-1.amazonaws.com/123456789012/flowlogs-created", "Replace with your queue."},
				"sources.s3.region":        {"eu-west-1", "The bucket's and the queue's region."},
				"sources.s3.concurrency":   {4, "Messages worked on at once per replica; replicas may share the queue."},
				"sinks.dead_letter.path":   {"/var/lib/flowhose/deadletter.ndjson", "On a persistent volume: dead letters (corrupt objects among them) are acknowledged input."},
			}),
		},
		{
			Name:    "replay-elasticsearch",
			Summary: "replay or backfill flow-log files into Elasticsearch (flowhose replay)",
			intro: "Replays S3-delivered flow-log files (plain or gzip text with header lines, " +
				"Parquet, Firehose error records) into Elasticsearch: flowhose -config flowhose.yaml " +
				"replay FILE... (or - for standard input, or s3://BUCKET/PREFIX... with sources.s3). " +
				"Document ids derive from the records, so replaying a file again creates no duplicates.",
			settings: settings(elasticsearchOnly, map[string]setting{
				"sources.file.max_in_flight": {4, "Raise it for a faster backfill of a large cluster."},
				"sinks.dead_letter.path": {"./flowhose-deadletter.ndjson", "replay exits 1 when it " +
					"dead-lettered a line; each entry names the file, line and reason."},
			}),
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
	values := map[string]any{}
	notes := map[string]string{}
	for key, set := range s.settings {
		if !known[key] {
			return "", fmt.Errorf("starter %s: %q is not a setting", s.Name, key)
		}
		values[key] = set.value
		var note []string
		if set.note != "" {
			note = append(note, "Here: "+set.note)
		}
		if redact.IsSecretKey(key) {
			if rv := reflect.ValueOf(set.value); !rv.IsZero() && (rv.Kind() != reflect.Slice || rv.Len() > 0) {
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
	return commentedYAML(keys, values, notes, header)
}
