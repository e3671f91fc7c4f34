package splunk

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/flowhose/flowhose/config/redact"
	"github.com/flowhose/flowhose/sinks/internal/retry"
	"github.com/flowhose/flowhose/stream/hec"
)

// Event shapes (Config.Shape).
const (
	// ShapeLine sends the original flow-log line as the event, with the
	// Splunk Add-on for AWS sourcetype, and the enrichment as indexed fields.
	ShapeLine = "line"
	// ShapeECS sends the enriched ECS document as a JSON event.
	ShapeECS = "ecs"
)

// DefaultECSSourcetype is the sourcetype of ECS-document events.
const DefaultECSSourcetype = "flowhose:vpcflow:ecs"

// maxTokenFileBytes bounds token_file: a HEC token is a GUID.
const maxTokenFileBytes = 4096

// Config configures the Splunk HEC sink (sinks.splunk).
type Config struct {
	// URLs are the HEC base URLs (indexers or a load balancer with
	// sticky sessions), e.g. https://splunk:8088; batches are spread over
	// the healthy ones.
	URLs []string `yaml:"urls"`
	// Token is the HEC token; TokenFile reads it from a file instead
	// (trailing whitespace ignored). Set one.
	Token     string `yaml:"token"`
	TokenFile string `yaml:"token_file"`

	// Shape is "line" (the flow-log line with the Add-on's sourcetype,
	// enrichment as indexed fields) or "ecs" (the ECS document as a JSON
	// event).
	Shape string `yaml:"shape"`
	// IndexedFields adds the enrichment as indexed fields to line events
	// (the document id is always added).
	IndexedFields bool `yaml:"indexed_fields"`
	// Index, Source and Host are the events' metadata; empty leaves the
	// token's default.
	Index  string `yaml:"index"`
	Source string `yaml:"source"`
	Host   string `yaml:"host"`
	// Sourcetype of the events; empty is aws:cloudwatchlogs:vpcflow for
	// shape line and flowhose:vpcflow:ecs for shape ecs.
	Sourcetype string `yaml:"sourcetype"`

	// FlushBytes ends a request before its uncompressed body would pass
	// this size (1 KiB to 64 MiB); 1 MB is the portable ceiling of HEC
	// deployments (Splunk Cloud).
	FlushBytes int `yaml:"flush_bytes"`
	// FlushEvents and FlushInterval also end a request: whichever of the
	// three is reached first.
	FlushEvents   int           `yaml:"flush_events"`
	FlushInterval time.Duration `yaml:"flush_interval"`
	// Workers is the number of concurrent requests, each with its own
	// channel. Accept blocks while all of them are busy and
	// QueuedRequests more are waiting.
	Workers        int `yaml:"workers"`
	QueuedRequests int `yaml:"queued_requests"`
	// Compress gzips request bodies at CompressionLevel (1 fastest, 9 smallest).
	Compress         bool `yaml:"compress"`
	CompressionLevel int  `yaml:"compression_level"`
	// RequestTimeout bounds one HTTP request.
	RequestTimeout time.Duration `yaml:"request_timeout"`

	// Ack uses indexer acknowledgement (it must be enabled on the token):
	// a batch is acknowledged upstream only when Splunk reports its events
	// indexed. Off, a 200 answer with code 0 is the delivery.
	Ack bool `yaml:"ack"`
	// AckPollInterval is how often pending ackIds are queried, in one
	// request per URL and channel.
	AckPollInterval time.Duration `yaml:"ack_poll_interval"`
	// AckTimeout is how long a request waits for its ack before it is
	// sent again (Splunk may index it twice: at-least-once).
	AckTimeout time.Duration `yaml:"ack_timeout"`
	// MaxPendingAcks bounds the requests sent and awaiting their ack;
	// workers wait for a free slot beyond it.
	MaxPendingAcks int `yaml:"max_pending_acks"`

	// HealthCheckInterval is how often an unhealthy URL's
	// /services/collector/health is asked whether it is back.
	HealthCheckInterval time.Duration `yaml:"health_check_interval"`

	// Policy retries requests HEC answered busy, with a server or a
	// configuration error, or not at all.
	retry.Policy `yaml:",inline"`

	// CAFile is a PEM file of certificate authorities trusted for HTTPS,
	// replacing the system pool.
	CAFile string `yaml:"ca_file"`
	// ClientCertFile and ClientKeyFile are a PEM client certificate and
	// its key, for HEC inputs that require one.
	ClientCertFile string `yaml:"client_cert_file"`
	ClientKeyFile  string `yaml:"client_key_file"`
	// InsecureSkipVerify turns certificate verification off (logged as a
	// warning at start-up).
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// DefaultConfig returns a configuration for a local HEC input at
// https://127.0.0.1:8088 with indexer acknowledgement.
func DefaultConfig() Config {
	return Config{
		URLs:                []string{"https://127.0.0.1:8088"},
		Shape:               ShapeLine,
		IndexedFields:       true,
		FlushBytes:          1_000_000,
		FlushEvents:         10_000,
		FlushInterval:       time.Second,
		Workers:             4,
		QueuedRequests:      2,
		Compress:            true,
		CompressionLevel:    gzip.BestSpeed,
		RequestTimeout:      30 * time.Second,
		Ack:                 true,
		AckPollInterval:     time.Second,
		AckTimeout:          2 * time.Minute,
		MaxPendingAcks:      64,
		HealthCheckInterval: 5 * time.Second,
		Policy:              retry.DefaultPolicy(),
	}
}

// Validate reports every invalid key.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if len(c.URLs) == 0 {
		bad("urls: at least one URL is required")
	}
	seen := map[string]bool{}
	for _, u := range c.URLs {
		p, err := url.Parse(u)
		switch {
		case err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "":
			bad("urls: must be http:// or https:// URLs, got %q", redact.URL(u))
		case p.User != nil || p.RawQuery != "" || p.Fragment != "":
			bad("urls: must not carry credentials, a query or a fragment (the token goes in token), got %q", redact.URL(u))
		case seen[baseURL(u)]:
			bad("urls: %q is listed twice", redact.URL(u))
		}
		seen[baseURL(u)] = true
	}
	if (c.Token == "") == (c.TokenFile == "") {
		bad("token, token_file: set exactly one")
	}
	if strings.ContainsAny(c.Token, "\r\n") {
		bad("token: must be one line")
	}
	switch c.Shape {
	case ShapeLine, ShapeECS:
	default:
		bad("shape: must be %q or %q, got %q", ShapeLine, ShapeECS, c.Shape)
	}
	if err := c.hecConfig().Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.FlushBytes < 1024 || c.FlushBytes > 64<<20 {
		bad("flush_bytes: must be between 1024 and %d, got %d", 64<<20, c.FlushBytes)
	}
	if c.FlushEvents < 1 || c.FlushEvents > 1_000_000 {
		bad("flush_events: must be between 1 and 1000000, got %d", c.FlushEvents)
	}
	if c.FlushInterval < time.Millisecond {
		bad("flush_interval: must be at least 1ms, got %s", c.FlushInterval)
	}
	if c.Workers < 1 || c.Workers > 256 {
		bad("workers: must be between 1 and 256, got %d", c.Workers)
	}
	if c.QueuedRequests < 0 || c.QueuedRequests > 1024 {
		bad("queued_requests: must be between 0 and 1024, got %d", c.QueuedRequests)
	}
	if c.Compress && (c.CompressionLevel < gzip.BestSpeed || c.CompressionLevel > gzip.BestCompression) {
		bad("compression_level: must be between 1 and 9, got %d", c.CompressionLevel)
	}
	if c.RequestTimeout <= 0 {
		bad("request_timeout: must be positive, got %s", c.RequestTimeout)
	}
	if c.AckPollInterval < time.Millisecond {
		bad("ack_poll_interval: must be at least 1ms, got %s", c.AckPollInterval)
	}
	if c.AckTimeout <= c.AckPollInterval {
		bad("ack_timeout: must be longer than ack_poll_interval (%s), got %s", c.AckPollInterval, c.AckTimeout)
	}
	if c.MaxPendingAcks < 1 || c.MaxPendingAcks > 100_000 {
		bad("max_pending_acks: must be between 1 and 100000, got %d", c.MaxPendingAcks)
	}
	if c.HealthCheckInterval < time.Millisecond {
		bad("health_check_interval: must be at least 1ms, got %s", c.HealthCheckInterval)
	}
	if err := c.Policy.Validate(); err != nil {
		errs = append(errs, err)
	}
	if (c.ClientCertFile == "") != (c.ClientKeyFile == "") {
		bad("client_cert_file, client_key_file: set both or neither")
	}
	return errors.Join(errs...)
}

// hecConfig is the events' metadata, with the shape's default sourcetype.
func (c Config) hecConfig() hec.Config {
	st := c.Sourcetype
	if st == "" {
		st = hec.DefaultSourcetype
		if c.Shape == ShapeECS {
			st = DefaultECSSourcetype
		}
	}
	return hec.Config{Source: c.Source, Sourcetype: st, Index: c.Index, Host: c.Host}
}

// shape is the encoder's event shape.
func (c Config) shape() hec.Shape {
	switch {
	case c.Shape == ShapeECS:
		return hec.Document
	case c.IndexedFields:
		return hec.LineFields
	}
	return hec.LineIDField
}

// token returns the HEC token, from token or token_file.
func (c Config) token() (string, error) {
	if c.TokenFile == "" {
		return c.Token, nil
	}
	f, err := os.Open(c.TokenFile)
	if err != nil {
		return "", fmt.Errorf("token_file: %w", err)
	}
	defer f.Close()
	b := make([]byte, maxTokenFileBytes+1)
	n, _ := f.Read(b)
	tok := strings.TrimSpace(string(b[:n]))
	switch {
	case n > maxTokenFileBytes:
		return "", fmt.Errorf("token_file: %s is larger than %d bytes: not a HEC token", c.TokenFile, maxTokenFileBytes)
	case tok == "" || strings.ContainsAny(tok, "\r\n"):
		return "", fmt.Errorf("token_file: %s must hold one non-empty line", c.TokenFile)
	}
	return tok, nil
}

// tlsConfig builds the client TLS settings; nil when none is set.
func (c Config) tlsConfig(log *slog.Logger) (*tls.Config, error) {
	if c.CAFile == "" && c.ClientCertFile == "" && !c.InsecureSkipVerify {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file: no PEM certificate in %s", c.CAFile)
		}
	}
	if c.ClientCertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.ClientCertFile, c.ClientKeyFile)
		if err != nil {
			return nil, fmt.Errorf("client_cert_file, client_key_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	if c.InsecureSkipVerify {
		log.Warn("TLS certificate verification is off (insecure_skip_verify): anyone on the path can read the token and the events")
		tc.InsecureSkipVerify = true
	}
	return tc, nil
}

// baseURL is u without trailing slashes.
func baseURL(u string) string { return strings.TrimRight(u, "/") }
