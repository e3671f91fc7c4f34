package firehose

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Config configures the Firehose HTTP-endpoint destination
// (root key sources.firehose).
type Config struct {
	// Path is where the server mounts the handler.
	Path string `yaml:"path"`
	// AccessKeys are the accepted X-Amz-Firehose-Access-Key values, for
	// this endpoint and the transformation endpoint. Required when
	// http.listen is not a loopback address, unless
	// allow_unauthenticated is set.
	AccessKeys []string `yaml:"access_keys"`
	// AllowUnauthenticated serves without access keys on any address
	// (logged as a warning at start-up). Anyone who reaches the port can
	// then deliver records, and flush real dead letters out by sending bad
	// ones.
	AllowUnauthenticated bool `yaml:"allow_unauthenticated"`
	// MaxBodyBytes bounds the request body as received (compressed or not).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// MaxDecompressedBytes bounds the JSON body after gunzip.
	MaxDecompressedBytes int64 `yaml:"max_decompressed_bytes"`
	// MaxRecords bounds the flow-log records one request may decode to
	// (about 1 KiB of memory each): gzip records inside a request can
	// expand far beyond max_decompressed_bytes, which bounds only the JSON
	// body. A request over it gets 413 and Firehose backs it up to S3.
	MaxRecords int `yaml:"max_records"`
	// BatchSize is the most records per batch handed to the pipeline.
	BatchSize int `yaml:"batch_size"`
	// AckTimeout bounds one request from its start: reading the body,
	// queueing and delivery. Firehose gives up after 3 minutes.
	AckTimeout time.Duration `yaml:"ack_timeout"`
}

// Limits enforced by Validate.
const (
	maxBodyLimit    = 1 << 30 // 1 GiB
	maxBatchSize    = 100_000
	maxMaxRecords   = 100_000_000
	maxAccessKeyLen = 4096 // Firehose's own limit on the key
	maxAckTimeout   = 10 * time.Minute
)

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		Path:                 "/firehose",
		MaxBodyBytes:         64 << 20,
		MaxDecompressedBytes: 256 << 20,
		MaxRecords:           1_000_000,
		BatchSize:            500,
		AckTimeout:           170 * time.Second,
	}
}

// Validate reports every bad key.
func (c Config) Validate() error {
	var errs []error
	if !strings.HasPrefix(c.Path, "/") {
		errs = append(errs, fmt.Errorf("path: must start with /, got %q", c.Path))
	}
	for i, k := range c.AccessKeys {
		if k == "" || len(k) > maxAccessKeyLen {
			errs = append(errs, fmt.Errorf("access_keys[%d]: must be 1 to %d bytes, got %d", i, maxAccessKeyLen, len(k)))
		}
	}
	if c.MaxBodyBytes < 1 || c.MaxBodyBytes > maxBodyLimit {
		errs = append(errs, fmt.Errorf("max_body_bytes: must be between 1 and %d, got %d", maxBodyLimit, c.MaxBodyBytes))
	}
	if c.MaxDecompressedBytes < 1 || c.MaxDecompressedBytes > 4*maxBodyLimit {
		errs = append(errs, fmt.Errorf("max_decompressed_bytes: must be between 1 and %d, got %d", 4*maxBodyLimit, c.MaxDecompressedBytes))
	}
	if c.MaxRecords < 1 || c.MaxRecords > maxMaxRecords {
		errs = append(errs, fmt.Errorf("max_records: must be between 1 and %d, got %d", maxMaxRecords, c.MaxRecords))
	}
	if c.BatchSize < 1 || c.BatchSize > maxBatchSize {
		errs = append(errs, fmt.Errorf("batch_size: must be between 1 and %d, got %d", maxBatchSize, c.BatchSize))
	}
	if c.AckTimeout <= 0 || c.AckTimeout > maxAckTimeout {
		errs = append(errs, fmt.Errorf("ack_timeout: must be between 1ns and %s, got %s", maxAckTimeout, c.AckTimeout))
	}
	return errors.Join(errs...)
}

// HTTPPath is where serve mounts the endpoint.
func (c Config) HTTPPath() string { return c.Path }
