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

	"github.com/flowhose/flowhose/sinks/deadletter"
	"github.com/flowhose/flowhose/sinks/ndjson"
	"github.com/flowhose/flowhose/stream/decode"
	"github.com/flowhose/flowhose/stream/source/firehose"
)

// Config is the whole configuration of a flowhose process.
type Config struct {
	Log      Log      `yaml:"log"`
	HTTP     HTTP     `yaml:"http"`
	Pipeline Pipeline `yaml:"pipeline"`
	Decode   Decode   `yaml:"decode"`
	Sources  Sources  `yaml:"sources"`
	Sinks    Sinks    `yaml:"sinks"`
}

// Log configures the process's structured logs on standard error.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn or error
	Format string `yaml:"format"` // json or text
}

// HTTP configures the server behind `flowhose serve`.
type HTTP struct {
	Listen            string        `yaml:"listen"`
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	ReadTimeout       time.Duration `yaml:"read_timeout"`
	// WriteTimeout must outlast the Firehose acknowledgement timeout, since
	// a request's response is written only after its records are delivered.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	IdleTimeout  time.Duration `yaml:"idle_timeout"`
	// ShutdownDelay keeps serving, with readiness failing, for this long
	// after SIGTERM so load balancers stop sending before the listener
	// closes.
	ShutdownDelay time.Duration `yaml:"shutdown_delay"`
	// ShutdownTimeout bounds the whole drain after SIGTERM: in-flight
	// requests, queued batches and closing the sinks.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	MaxHeaderBytes  int           `yaml:"max_header_bytes"`
}

// Pipeline sizes the worker pool between sources and sinks.
type Pipeline struct {
	Workers    int `yaml:"workers"`
	QueueDepth int `yaml:"queue_depth"`
}

// Decode configures flow-log decoding for every source.
type Decode struct {
	// Formats are the `${field} …` formats expected on lines without a
	// header, told apart by their field counts.
	Formats              []string `yaml:"formats"`
	MaxLineBytes         int      `yaml:"max_line_bytes"`
	MaxDecompressedBytes int64    `yaml:"max_decompressed_bytes"`
}

// Sources holds each source's settings and switch.
type Sources struct {
	Firehose Firehose `yaml:"firehose"`
	// TODO(ops): transform and file land here as their packages do.
}

// Firehose is the Firehose HTTP-endpoint source with its switch.
type Firehose struct {
	Enabled         bool `yaml:"enabled"`
	firehose.Config `yaml:",inline"`
}

// Sinks holds each sink's settings and switch. The dead-letter file has
// no switch: the pipeline always needs somewhere to put bad input.
type Sinks struct {
	NDJSON     NDJSON            `yaml:"ndjson"`
	DeadLetter deadletter.Config `yaml:"dead_letter"`
	// TODO(ops): elasticsearch lands here when its package does.
}

// NDJSON is the NDJSON sink with its switch.
type NDJSON struct {
	Enabled       bool `yaml:"enabled"`
	ndjson.Config `yaml:",inline"`
}

// Default returns the built-in configuration: the Firehose endpoint on
// :8080 writing ECS NDJSON to standard output.
func Default() Config {
	return Config{
		Log: Log{Level: "info", Format: "json"},
		HTTP: HTTP{
			Listen:            ":8080",
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       2 * time.Minute,
			WriteTimeout:      3 * time.Minute,
			IdleTimeout:       2 * time.Minute,
			ShutdownTimeout:   30 * time.Second,
			MaxHeaderBytes:    1 << 20,
		},
		Pipeline: Pipeline{Workers: 2 * runtime.GOMAXPROCS(0), QueueDepth: 64},
		Decode: Decode{
			Formats:              []string{decode.DefaultFormatString},
			MaxLineBytes:         decode.DefaultMaxLineBytes,
			MaxDecompressedBytes: decode.DefaultMaxDecompressedBytes,
		},
		Sources: Sources{
			Firehose: Firehose{Enabled: true, Config: firehose.DefaultConfig()},
		},
		Sinks: Sinks{
			NDJSON:     NDJSON{Enabled: true, Config: ndjson.DefaultConfig()},
			DeadLetter: deadletter.DefaultConfig(),
		},
	}
}

// Load returns the defaults overlaid with the YAML file at path (none when
// path is empty) and the FLOWHOSE_* environment, validated. The error joins
// every problem found; the returned Config is usable only when it is nil.
func Load(path string) (Config, error) {
	return load(path, os.LookupEnv)
}

func load(path string, lookup func(string) (string, bool)) (Config, error) {
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
	errs := applyEnv(&cfg, lookup)
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	return cfg, errors.Join(errs...)
}

// decodeYAML overlays data on cfg, refusing keys that do not exist so a
// typo is reported instead of silently leaving a default in place.
func decodeYAML(data []byte, cfg *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
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
