package config

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/decode"
	kafkasource "github.com/flowhose/flowhose/stream/source/kafka"
)

// Limits of the root settings.
const (
	maxTimeout       = time.Hour
	minHeaderBytes   = 1 << 10
	maxHeaderBytes   = 64 << 20
	maxWorkers       = 1024
	maxQueueDepth    = 1 << 16
	maxLineBytes     = 16 << 20
	maxDecompressed  = 4 << 30
	maxDecodeFormats = 32
	minMemoryBudget  = 1 << 20
	maxMemoryBudget  = 1 << 40
)

// Validate reports every invalid setting, each prefixed with its full key
// path, joined into one error. Disabled components are not validated.
func (c Config) Validate() error {
	var errs []error
	add := func(prefix string, err error) { errs = append(errs, prefixed(prefix, err)...) }

	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log.level: must be debug, info, warn or error, got %q", c.Log.Level))
	}
	switch c.Log.Format {
	case "json", "text":
	default:
		errs = append(errs, fmt.Errorf("log.format: must be json or text, got %q", c.Log.Format))
	}

	if _, _, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
		errs = append(errs, fmt.Errorf("http.listen: must be host:port or :port, got %q", c.HTTP.Listen))
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"read_header_timeout", c.HTTP.ReadHeaderTimeout},
		{"read_timeout", c.HTTP.ReadTimeout},
		{"write_timeout", c.HTTP.WriteTimeout},
		{"idle_timeout", c.HTTP.IdleTimeout},
		{"shutdown_timeout", c.HTTP.ShutdownTimeout},
	} {
		if d.v <= 0 || d.v > maxTimeout {
			errs = append(errs, fmt.Errorf("http.%s: must be between 1ns and %s, got %s", d.key, maxTimeout, d.v))
		}
	}
	if c.HTTP.ShutdownTimeout > 0 && (c.HTTP.ShutdownDelay < 0 || c.HTTP.ShutdownDelay >= c.HTTP.ShutdownTimeout) {
		errs = append(errs, fmt.Errorf("http.shutdown_delay: must be at least 0s and less than http.shutdown_timeout (%s), got %s", c.HTTP.ShutdownTimeout, c.HTTP.ShutdownDelay))
	}
	if c.HTTP.MaxHeaderBytes < minHeaderBytes || c.HTTP.MaxHeaderBytes > maxHeaderBytes {
		errs = append(errs, fmt.Errorf("http.max_header_bytes: must be between %d and %d, got %d", minHeaderBytes, maxHeaderBytes, c.HTTP.MaxHeaderBytes))
	}

	if c.Pipeline.Workers < 0 || c.Pipeline.Workers > maxWorkers {
		errs = append(errs, fmt.Errorf("pipeline.workers: must be between 0 (twice GOMAXPROCS) and %d, got %d", maxWorkers, c.Pipeline.Workers))
	}
	if c.Pipeline.QueueDepth < 1 || c.Pipeline.QueueDepth > maxQueueDepth {
		errs = append(errs, fmt.Errorf("pipeline.queue_depth: must be between 1 and %d, got %d", maxQueueDepth, c.Pipeline.QueueDepth))
	}
	if b := c.Pipeline.MemoryBudget; b != 0 && (b < minMemoryBudget || b > maxMemoryBudget) {
		errs = append(errs, fmt.Errorf("pipeline.memory_budget: must be 0 (automatic) or between %d and %d bytes, got %d", minMemoryBudget, int64(maxMemoryBudget), b))
	}

	if n := len(c.Decode.Formats); n > maxDecodeFormats {
		errs = append(errs, fmt.Errorf("decode.formats: at most %d formats, got %d", maxDecodeFormats, n))
	} else if _, err := c.DecodeOptions(""); err != nil {
		errs = append(errs, err)
	}
	if c.Decode.MaxLineBytes < 1 || c.Decode.MaxLineBytes > maxLineBytes {
		errs = append(errs, fmt.Errorf("decode.max_line_bytes: must be between 1 and %d, got %d", maxLineBytes, c.Decode.MaxLineBytes))
	}
	if c.Decode.MaxDecompressedBytes < 1 || c.Decode.MaxDecompressedBytes > maxDecompressed {
		errs = append(errs, fmt.Errorf("decode.max_decompressed_bytes: must be between 1 and %d, got %d", int64(maxDecompressed), c.Decode.MaxDecompressedBytes))
	}

	add("enrich", c.Enrich.Validate())
	add("sinks.dead_letter", c.Sinks.DeadLetter.Validate())
	enabled := false
	for _, f := range c.Sinks.Factories() {
		add("sinks."+f.Name(), f.Validate())
		enabled = enabled || f.Enabled()
	}
	if !enabled {
		errs = append(errs, errors.New("sinks: at least one sink must be enabled"))
	}
	errs = append(errs, c.validateSources()...)
	return errors.Join(errs...)
}

// Warnings lists settings that are valid but probably not what the user
// wants, for the commands to log at start-up.
func (c Config) Warnings() []string {
	var out []string
	for i, s := range c.Decode.Formats {
		if f, err := decode.ParseFormat(s); err == nil && !f.Has(stream.FieldInterfaceID) {
			out = append(out, fmt.Sprintf("decode.formats[%d] has no ${interface-id}: records of two ENIs with the same line get one document id, and Elasticsearch keeps only the first, unless they arrive through CloudWatch Logs (whose log stream names the ENI; see stream/ecs/README.md)", i))
		}
	}
	return out
}

// ReservedPaths are served by flowhose itself; no source may use them.
var ReservedPaths = []string{"/healthz", "/readyz", "/metrics"}

// validateSources checks the enabled sources and how they fit the server.
func (c Config) validateSources() []error {
	var errs []error
	paths := map[string]string{} // HTTP path -> key that claimed it
	for _, p := range ReservedPaths {
		paths[p] = "a built-in endpoint"
	}
	claim := func(key, path string) {
		if other, ok := paths[path]; ok {
			errs = append(errs, fmt.Errorf("%s: %q is already used by %s", key, path, other))
			return
		}
		paths[path] = key
	}
	for _, f := range c.Sources.Factories() {
		if !f.Enabled() {
			continue
		}
		errs = append(errs, prefixed("sources."+f.Name(), f.Validate())...)
		if p := f.Path(); p != "" {
			claim("sources."+f.Name()+".path", p)
		}
	}
	if fh := c.Sources.Firehose; fh.Enabled && c.HTTP.WriteTimeout <= fh.Config.AckTimeout {
		errs = append(errs, fmt.Errorf("http.write_timeout: must exceed sources.firehose.ack_timeout (%s) or responses are cut off, got %s", fh.Config.AckTimeout, c.HTTP.WriteTimeout))
	}
	if k := c.Sources.Kafka; k.Enabled && k.Config.DrainTimeout+kafkasource.LeaveGrace >= c.HTTP.ShutdownTimeout {
		errs = append(errs, fmt.Errorf("sources.kafka.drain_timeout: must be below http.shutdown_timeout (%s) minus %s (the source's last commits and leaving the group), or shutdown gives up before the delivered offsets are committed, got %s", c.HTTP.ShutdownTimeout, kafkasource.LeaveGrace, k.Config.DrainTimeout))
	}
	if c.Unauthenticated() && !c.Sources.Firehose.Config.AllowUnauthenticated && !loopback(c.HTTP.Listen) {
		errs = append(errs, fmt.Errorf("sources.firehose.access_keys: required when http.listen (%q) is not a loopback address: set keys, listen on 127.0.0.1, or set sources.firehose.allow_unauthenticated: true", c.HTTP.Listen))
	}
	errs = append(errs, prefixed("sources.file", c.Sources.File.Validate())...)
	if !c.Sources.S3.Enabled {
		// Backfills (replay s3://) use the section when it is off.
		errs = append(errs, prefixed("sources.s3", c.Sources.S3.Config.ValidateBackfill())...)
	}
	return errs
}

// Unauthenticated reports whether serve mounts an endpoint that Firehose
// calls without any access key.
func (c Config) Unauthenticated() bool {
	return (c.Sources.Firehose.Enabled || c.Sources.Transform.Enabled) && len(c.Sources.Firehose.Config.AccessKeys) == 0
}

// loopback reports whether listen (host:port) accepts connections from
// this machine only. An empty host means every interface; host names other
// than localhost are not trusted to stay local.
func loopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// prefixed flattens err (joined errors become separate entries) and puts
// "prefix." before each message. Component errors already start with their
// key relative to the component.
func prefixed(prefix string, err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, prefixed(prefix, e)...)
		}
		return out
	}
	var out []error
	for line := range strings.Lines(err.Error()) {
		out = append(out, fmt.Errorf("%s.%s", prefix, strings.TrimRight(line, "\n")))
	}
	return out
}
