package file

import (
	"errors"
	"fmt"
	"time"
)

// Config configures `flowhose replay`.
type Config struct {
	// BatchSize is the most lines per batch handed to the pipeline.
	BatchSize int `yaml:"batch_size"`
	// ChunkBytes is the most bytes read per batch; a line longer than this
	// is a failure.
	ChunkBytes int64 `yaml:"chunk_bytes"`
	// MaxInFlight is the most batches submitted and not yet acknowledged.
	MaxInFlight int `yaml:"max_in_flight"`
	// DrainTimeout bounds how long `flowhose replay` waits, after SIGTERM or
	// SIGINT, for the batches in flight; then the sinks are closed and give
	// up on what they hold, and replay exits 1.
	DrainTimeout time.Duration `yaml:"drain_timeout"`
	// MaxSpoolBytes bounds the temporary copy of a Parquet file that is not
	// a local file (an S3 object, gzip, standard input): Parquet is read
	// from its end, so a stream is copied to disk first. A larger file is
	// dead-lettered. VPC writes files of at most 75 MB.
	MaxSpoolBytes int64 `yaml:"max_spool_bytes"`
	// SpoolDir is where those copies go; empty is the system's temporary
	// directory.
	SpoolDir string `yaml:"spool_dir"`
	// MaxErrorRecordBytes bounds one JSON object of a Firehose error-record
	// file (processing-failed, http-endpoint-failed): a longer one is
	// dead-lettered and the next one read. Firehose records are at most
	// 1000 KiB, about 1.3 MiB in base64, plus the error message.
	MaxErrorRecordBytes int `yaml:"max_error_record_bytes"`
}

// Limits enforced by Validate.
const (
	minChunkBytes  = 4 << 10
	maxChunkBytes  = 1 << 30
	maxBatchSize   = 1_000_000
	maxMaxInFlight = 1024
	minSpoolBytes  = 1 << 10
	maxSpoolBytes  = 1 << 40
	minErrorRecord = 1 << 10
	maxErrorRecord = 1 << 30
	minDrain       = time.Second
	maxDrain       = 24 * time.Hour
)

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{BatchSize: 1000, ChunkBytes: 1 << 20, MaxInFlight: 4, DrainTimeout: 30 * time.Second, MaxSpoolBytes: 1 << 30,
		MaxErrorRecordBytes: 4 << 20}
}

// Validate reports every bad key.
func (c Config) Validate() error {
	var errs []error
	if c.BatchSize < 1 || c.BatchSize > maxBatchSize {
		errs = append(errs, fmt.Errorf("batch_size: must be between 1 and %d, got %d", maxBatchSize, c.BatchSize))
	}
	if c.ChunkBytes < minChunkBytes || c.ChunkBytes > maxChunkBytes {
		errs = append(errs, fmt.Errorf("chunk_bytes: must be between %d and %d, got %d", minChunkBytes, maxChunkBytes, c.ChunkBytes))
	}
	if c.MaxInFlight < 1 || c.MaxInFlight > maxMaxInFlight {
		errs = append(errs, fmt.Errorf("max_in_flight: must be between 1 and %d, got %d", maxMaxInFlight, c.MaxInFlight))
	}
	if c.DrainTimeout < minDrain || c.DrainTimeout > maxDrain {
		errs = append(errs, fmt.Errorf("drain_timeout: must be between %s and %s, got %s", minDrain, maxDrain, c.DrainTimeout))
	}
	if c.MaxSpoolBytes < minSpoolBytes || c.MaxSpoolBytes > maxSpoolBytes {
		errs = append(errs, fmt.Errorf("max_spool_bytes: must be between %d and %d, got %d", minSpoolBytes, maxSpoolBytes, c.MaxSpoolBytes))
	}
	if c.MaxErrorRecordBytes < minErrorRecord || c.MaxErrorRecordBytes > maxErrorRecord {
		errs = append(errs, fmt.Errorf("max_error_record_bytes: must be between %d and %d, got %d", minErrorRecord, maxErrorRecord, c.MaxErrorRecordBytes))
	}
	return errors.Join(errs...)
}
