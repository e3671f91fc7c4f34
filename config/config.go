// Package config assembles flowhose's configuration: built-in defaults, then
// a strictly decoded YAML file, then FLOWHOSE_* environment overrides, then
// validation that reports every bad key by its full path.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/flowhose/flowhose/enrich"
	"github.com/flowhose/flowhose/sinks"
	"github.com/flowhose/flowhose/sinks/deadletter"
	"github.com/flowhose/flowhose/sinks/detections"
	"github.com/flowhose/flowhose/sinks/elasticsearch"
	"github.com/flowhose/flowhose/sinks/kafka"
	"github.com/flowhose/flowhose/sinks/ndjson"
	"github.com/flowhose/flowhose/sinks/splunk"
	"github.com/flowhose/flowhose/stream/decode"
	"github.com/flowhose/flowhose/stream/source"
	"github.com/flowhose/flowhose/stream/source/file"
	"github.com/flowhose/flowhose/stream/source/firehose"
	kafkasource "github.com/flowhose/flowhose/stream/source/kafka"
	"github.com/flowhose/flowhose/stream/source/s3"
	"github.com/flowhose/flowhose/stream/source/transform"
)

// Config is the whole configuration of a flowhose process.
type Config struct {
	// Log configures the structured logs on standard error.
	Log Log `yaml:"log"`
	// HTTP configures the server of `flowhose serve`.
	HTTP HTTP `yaml:"http"`
	// Pipeline sizes the worker pool between sources and sinks.
	Pipeline Pipeline `yaml:"pipeline"`
	// Decode configures flow-log decoding for every source.
	Decode Decode `yaml:"decode"`
	// Sources are where flow logs come from.
	Sources Sources `yaml:"sources"`
	// Enrich adds ENI inventory, AWS service, GeoIP and derived fields to
	// every record (see enrich/README.md).
	Enrich enrich.Config `yaml:"enrich"`
	// Sinks are where records go.
	Sinks Sinks `yaml:"sinks"`
}

// Log configures the process's structured logs on standard error.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is json (one object per line) or text.
	Format string `yaml:"format"`
}

// HTTP configures the server behind `flowhose serve`.
type HTTP struct {
	// Listen is the address to serve on, host:port or :port.
	Listen string `yaml:"listen"`
	// ReadHeaderTimeout bounds reading a request's headers.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// ReadTimeout bounds reading a whole request (Firehose bodies reach
	// 64 MiB).
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout counts from the end of a request's headers and must
	// outlast sources.firehose.ack_timeout, which counts from the same
	// moment (reading the body included), since a response is written only
	// after its records are delivered.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// IdleTimeout closes idle keep-alive connections.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// ShutdownDelay keeps serving, with /readyz failing, for this long
	// after SIGTERM so load balancers stop sending before the listener
	// closes (about 5s behind a load balancer); below shutdown_timeout.
	ShutdownDelay time.Duration `yaml:"shutdown_delay"`
	// ShutdownTimeout bounds the whole drain after SIGTERM (in-flight
	// requests, queued batches, closing the sinks); past it the process
	// exits with status 1. Keep it below the orchestrator's grace period.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// MaxHeaderBytes limits request headers (1 KiB to 64 MiB).
	MaxHeaderBytes int `yaml:"max_header_bytes"`
}

// Pipeline sizes the worker pool between sources and sinks.
type Pipeline struct {
	// Workers enrich batches and hand them to the sinks; 0 means twice
	// GOMAXPROCS.
	Workers int `yaml:"workers"`
	// QueueDepth is how many batches wait for a worker before sources
	// block (back-pressure).
	QueueDepth int `yaml:"queue_depth"`
	// MemoryBudget bounds the bytes that all HTTP requests and Kafka
	// batches hold at once (body, decompressed data, decoded records,
	// encoded output, and the batches still queued for them); a request
	// that would go over it gets 503 and Firehose retries it, one that
	// alone needs more gets 413; a Kafka partition pauses until there is
	// room. 0
	// picks half the container's memory limit, or 1 GiB without one; the
	// Go runtime's memory limit is then set to 90% of the container limit
	// (or twice the budget) unless GOMEMLIMIT is set.
	MemoryBudget int64 `yaml:"memory_budget"`
}

// WorkerCount resolves Workers, 0 meaning twice GOMAXPROCS.
func (p Pipeline) WorkerCount() int {
	if p.Workers == 0 {
		return 2 * runtime.GOMAXPROCS(0)
	}
	return p.Workers
}

// Decode configures flow-log decoding for every source.
type Decode struct {
	// Formats are the `${field} ...` formats expected on lines without a
	// header line, told apart by their field counts (each count once, at
	// most 32). Keep the default format if you still receive it.
	Formats []string `yaml:"formats"`
	// MaxLineBytes dead-letters longer lines (1 B to 16 MiB).
	MaxLineBytes int `yaml:"max_line_bytes"`
	// MaxDecompressedBytes bounds one gunzipped payload, a guard against
	// gzip bombs (1 B to 4 GiB).
	MaxDecompressedBytes int64 `yaml:"max_decompressed_bytes"`
}

// Sources holds each source's section, sources.<name>, and the settings
// of `flowhose replay`. A new source of `serve` adds its field here and its
// line to Factories.
type Sources struct {
	// Firehose is the Firehose HTTP-endpoint destination.
	Firehose source.Section[firehose.Config] `yaml:"firehose"`
	// Transform is the Firehose data-transformation handler, served over
	// HTTP when enabled (it has no authentication of its own: it takes
	// the Firehose endpoint's access keys); in AWS Lambda it always runs.
	Transform source.Section[transform.Config] `yaml:"transform"`
	// Kafka consumes flow logs from Kafka topics as one consumer group,
	// committing only what every sink has acknowledged.
	Kafka source.Section[kafkasource.Config] `yaml:"kafka"`
	// File configures `flowhose replay`, which is its only user and so
	// needs no switch.
	File file.Config `yaml:"file"`
	// S3 reads flow logs from S3: live through SQS notifications in
	// `serve` (when enabled), and in `flowhose replay s3://…` backfills,
	// which need no switch.
	S3 source.Section[s3.Config] `yaml:"s3"`
}

// Factories lists every source of `serve` with its defaults and
// constructor. It is the one place sources are registered.
func (s *Sources) Factories() []source.Factory {
	return []source.Factory{
		source.Register("firehose", &s.Firehose, firehose.DefaultConfig, firehose.Open),
		source.Register("transform", &s.Transform, transform.DefaultConfig, transform.Open),
		source.Register("s3", &s.S3, s3.DefaultConfig, s3.Open),
		source.Register("kafka", &s.Kafka, kafkasource.DefaultConfig, kafkasource.Open),
	}
}

// defaultSources sets every source to its defaults; only the Firehose
// endpoint is on.
func defaultSources() Sources {
	s := Sources{File: file.DefaultConfig()}
	for _, f := range s.Factories() {
		f.SetDefault()
	}
	s.Firehose.Enabled = true
	return s
}

// Sinks holds each sink's section, sinks.<name>. The dead-letter file has
// no switch: the pipeline always needs somewhere to put bad input. A new
// sink adds its field here and its line to Factories.
type Sinks struct {
	// NDJSON writes ECS documents, one per line.
	NDJSON sinks.Section[ndjson.Config] `yaml:"ndjson"`
	// DeadLetter stores input that could not be decoded or delivered.
	DeadLetter deadletter.Config `yaml:"dead_letter"`
	// Elasticsearch indexes ECS documents with the bulk API; when enabled,
	// start-up fails if the cluster cannot be reached to install the index
	// template.
	Elasticsearch sinks.Section[elasticsearch.Config] `yaml:"elasticsearch"`
	// Splunk sends events to Splunk's HTTP Event Collector, acknowledged
	// upstream once Splunk has indexed them.
	Splunk sinks.Section[splunk.Config] `yaml:"splunk"`
	// Kafka writes one message per record (ECS document or original
	// line) to a topic, keyed by a document field; when enabled, start-up
	// fails if the topic cannot be reached.
	Kafka sinks.Section[kafka.Config] `yaml:"kafka"`
	// Detections runs the rule engine (scans, sweeps, brute force, reject
	// bursts, exposed ports, threat-intel matches, exfiltration) beside
	// the other sinks and sends its alerts to webhook, Slack, PagerDuty
	// or SNS (see stream/detect/README.md).
	Detections sinks.Section[detections.Config] `yaml:"detections"`
}

// Factories lists every sink with its defaults and constructor, in the
// order the pipeline hands batches to them. It is the one place sinks are
// registered.
func (s *Sinks) Factories() []sinks.Factory {
	return []sinks.Factory{
		sinks.Register("ndjson", &s.NDJSON, ndjson.DefaultConfig, ndjson.Open),
		sinks.Register("elasticsearch", &s.Elasticsearch, elasticsearch.DefaultConfig, elasticsearch.Open),
		sinks.Register("splunk", &s.Splunk, splunk.DefaultConfig, splunk.Open),
		sinks.Register("kafka", &s.Kafka, kafka.DefaultConfig, kafka.Open),
		sinks.Register("detections", &s.Detections, detections.DefaultConfig, detections.Open),
	}
}

// defaultSinks sets every sink to its defaults; only NDJSON (to standard
// output) is on.
func defaultSinks() Sinks {
	s := Sinks{DeadLetter: deadletter.DefaultConfig()}
	for _, f := range s.Factories() {
		f.SetDefault()
	}
	s.NDJSON.Enabled = true
	return s
}

// Default returns the built-in configuration: the Firehose endpoint on
// 127.0.0.1:8080 writing ECS NDJSON to standard output. Listening on other
// addresses takes access keys (or an explicit allow_unauthenticated).
func Default() Config {
	return Config{
		Log: Log{Level: "info", Format: "json"},
		HTTP: HTTP{
			Listen:            "127.0.0.1:8080",
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       2 * time.Minute,
			WriteTimeout:      3 * time.Minute,
			IdleTimeout:       2 * time.Minute,
			ShutdownTimeout:   30 * time.Second,
			MaxHeaderBytes:    1 << 20,
		},
		Pipeline: Pipeline{QueueDepth: 64},
		Decode: Decode{
			Formats:              []string{decode.DefaultFormatString},
			MaxLineBytes:         decode.DefaultMaxLineBytes,
			MaxDecompressedBytes: decode.DefaultMaxDecompressedBytes,
		},
		Sources: defaultSources(),
		Enrich:  enrich.DefaultConfig(),
		Sinks:   defaultSinks(),
	}
}

// Load returns the defaults overlaid with the YAML file at path (none when
// path is empty) and the FLOWHOSE_* environment, validated. The error joins
// every problem found; the returned Config is usable only when it is nil.
func Load(path string) (Config, error) {
	return load(path, environment())
}

func load(path string, env map[string]string) (Config, error) {
	cfg := Default()
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("config: %w", err)
		}
		if err := decodeYAML(data, &cfg); err != nil {
			return cfg, fmt.Errorf("config %s: %w", path, err)
		}
	}
	errs := applyEnv(&cfg, env)
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	return cfg, cfg.scrub(errors.Join(errs...))
}

// decodeYAML overlays data on cfg, refusing keys that do not exist so a
// typo is reported instead of silently leaving a default in place.
func decodeYAML(data []byte, cfg *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		if te, ok := err.(*yaml.TypeError); ok {
			return redactTypeError(data, te)
		}
		return err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return errors.New("more than one YAML document; put everything in one")
	}
	return nil
}

// DecodeOptions compiles the decode section into options for source.
func (c Config) DecodeOptions(source string) (decode.Options, error) {
	opts := decode.Options{
		MaxLineBytes:         c.Decode.MaxLineBytes,
		MaxDecompressedBytes: c.Decode.MaxDecompressedBytes,
		Source:               source,
	}
	for i, s := range c.Decode.Formats {
		f, err := decode.ParseFormat(s)
		if err != nil {
			return opts, fmt.Errorf("decode.formats[%d]: %w", i, err)
		}
		opts.Formats = append(opts.Formats, f)
	}
	if _, err := decode.New(opts); err != nil {
		return opts, fmt.Errorf("decode.formats: %w", err)
	}
	return opts, nil
}

// YAML renders c as YAML with secrets redacted, for `config check`.
func (c Config) YAML() ([]byte, error) {
	r := c.Redacted()
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&r); err != nil {
		return nil, fmt.Errorf("render config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("render config: %w", err)
	}
	return buf.Bytes(), nil
}
