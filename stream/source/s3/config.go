package s3

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/flowhose/flowhose/config/redact"
	"github.com/flowhose/flowhose/stream/source/file"
)

// Config configures reading flow logs from S3: the live SQS consumer
// (serve) and `flowhose replay s3://…` backfills.
type Config struct {
	// QueueURL is the SQS queue that receives the bucket's object-created
	// notifications (directly, through SNS or from EventBridge); required
	// for the live source.
	QueueURL string `yaml:"queue_url"`
	// Region of the bucket and queue; empty takes the AWS SDK's (AWS_REGION,
	// the shared configuration).
	Region string `yaml:"region"`
	// S3Endpoint overrides the S3 endpoint (VPC endpoints, S3-compatible
	// stores, tests).
	S3Endpoint string `yaml:"s3_endpoint"`
	// SQSEndpoint overrides the SQS endpoint.
	SQSEndpoint string `yaml:"sqs_endpoint"`
	// PathStyle addresses buckets as endpoint/bucket instead of
	// bucket.endpoint, as S3-compatible stores and emulators need.
	PathStyle bool `yaml:"path_style"`
	// Concurrency is how many objects a backfill reads at once, and how many
	// SQS messages the live source works on at once. Each object has up to
	// max_in_flight batches in flight.
	Concurrency int `yaml:"concurrency"`
	// VisibilityTimeout is how long a received message stays hidden from
	// other consumers; it is extended by as much every half of it while
	// the message's objects are still being delivered.
	VisibilityTimeout time.Duration `yaml:"visibility_timeout"`
	// WaitTime is the SQS long-polling wait of one receive call (0 to 20s);
	// with 0 an empty receive is followed by a one-second pause.
	WaitTime time.Duration `yaml:"wait_time"`
	// MaxObjectsPerMessage bounds the objects one message may name; a
	// message naming more is dead-lettered and deleted.
	MaxObjectsPerMessage int `yaml:"max_objects_per_message"`
	// MaxMessageBytes bounds the SQS message body that is parsed.
	MaxMessageBytes int `yaml:"max_message_bytes"`
	// Objects are read as `flowhose replay` reads files, with these
	// settings (batch_size, chunk_bytes, max_in_flight per object,
	// max_spool_bytes, spool_dir); drain_timeout bounds the wait for
	// batches in flight when a backfill is interrupted (the live source is
	// bounded by http.shutdown_timeout instead).
	file.Config `yaml:",inline"`
}

// Limits enforced by Validate.
const (
	maxConcurrency   = 1024
	minVisibility    = 2 * time.Second
	maxVisibility    = 12 * time.Hour // SQS's own maximum
	maxWaitTime      = 20 * time.Second
	maxObjectsPerMsg = 10000
	maxMessageBytes  = 1 << 20 // SQS's own maximum
)

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{Concurrency: 4, VisibilityTimeout: 5 * time.Minute, WaitTime: 20 * time.Second,
		MaxObjectsPerMessage: 100, MaxMessageBytes: maxMessageBytes, Config: file.DefaultConfig()}
}

// Validate reports every bad key of the live source.
func (c Config) Validate() error {
	err := c.ValidateBackfill()
	if c.QueueURL == "" {
		err = errors.Join(err, errors.New("queue_url: required for the live source"))
	}
	return err
}

// ValidateBackfill reports every bad key a backfill uses; it needs no
// queue.
func (c Config) ValidateBackfill() error {
	errs := []error{c.Config.Validate()}
	if c.QueueURL != "" {
		if u, err := url.Parse(c.QueueURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("queue_url: must be an SQS queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME), got %q", redact.URL(c.QueueURL)))
		}
	}
	if strings.ContainsAny(c.Region, " /") {
		errs = append(errs, fmt.Errorf("region: must be a region code such as us-east-1, got %q", c.Region))
	}
	for _, e := range []struct{ key, val string }{{"s3_endpoint", c.S3Endpoint}, {"sqs_endpoint", c.SQSEndpoint}} {
		if e.val == "" {
			continue
		}
		if u, err := url.Parse(e.val); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("%s: must be an absolute http or https URL, got %q", e.key, redact.URL(e.val)))
		}
	}
	if c.Concurrency < 1 || c.Concurrency > maxConcurrency {
		errs = append(errs, fmt.Errorf("concurrency: must be between 1 and %d, got %d", maxConcurrency, c.Concurrency))
	}
	if c.VisibilityTimeout < minVisibility || c.VisibilityTimeout > maxVisibility || c.VisibilityTimeout%time.Second != 0 {
		errs = append(errs, fmt.Errorf("visibility_timeout: must be whole seconds between %s and %s, got %s", minVisibility, maxVisibility, c.VisibilityTimeout))
	}
	if c.WaitTime < 0 || c.WaitTime > maxWaitTime || c.WaitTime%time.Second != 0 {
		errs = append(errs, fmt.Errorf("wait_time: must be whole seconds between 0s and %s, got %s", maxWaitTime, c.WaitTime))
	}
	if c.MaxObjectsPerMessage < 1 || c.MaxObjectsPerMessage > maxObjectsPerMsg {
		errs = append(errs, fmt.Errorf("max_objects_per_message: must be between 1 and %d, got %d", maxObjectsPerMsg, c.MaxObjectsPerMessage))
	}
	if c.MaxMessageBytes < 1<<10 || c.MaxMessageBytes > maxMessageBytes {
		errs = append(errs, fmt.Errorf("max_message_bytes: must be between %d and %d, got %d", 1<<10, maxMessageBytes, c.MaxMessageBytes))
	}
	return errors.Join(errs...)
}
