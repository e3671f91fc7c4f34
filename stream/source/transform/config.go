package transform

import (
	"errors"
	"fmt"
	"strings"

	"github.com/flowhose/flowhose/stream/hec"
)

// Output formats.
const (
	OutputECS       = "ecs"        // ECS JSON documents, one per line
	OutputOriginal  = "original"   // the flow-log lines as received
	OutputSplunkHEC = "splunk_hec" // Splunk HEC event objects, one per line
)

// Config configures the Firehose data-transformation handler
// (root key sources.transform).
type Config struct {
	// Path is where the server mounts the HTTP handler.
	Path string `yaml:"path"`
	// Output is ecs, original or splunk_hec.
	Output string `yaml:"output"`
	// MaxBodyBytes bounds an HTTP request body (Lambda bounds its own).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// MaxResponseBytes bounds the JSON response; Lambda refuses responses
	// over 6 MB. Records that do not fit are returned ProcessingFailed.
	MaxResponseBytes int64 `yaml:"max_response_bytes"`
	// MaxRecords bounds the flow-log records (and failed lines) one
	// invocation may decode to, checked while decoding: gzip records can
	// expand far past the request's size. The input record that reaches
	// it and all later ones are returned ProcessingFailed.
	MaxRecords int `yaml:"max_records"`
	// ECS configures the ecs output.
	ECS ECSConfig `yaml:"ecs"`
	// HEC configures the splunk_hec output.
	HEC hec.Config `yaml:"hec"`
}

// ECSConfig configures ECS documents.
type ECSConfig struct {
	Dataset   string `yaml:"dataset"`   // event.dataset, default aws.vpcflow
	Namespace string `yaml:"namespace"` // data_stream.namespace, default "default"
	Original  bool   `yaml:"original"`  // add event.original
}

const (
	maxLimit        = 1 << 30
	maxRecordsLimit = 100_000_000
)

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		Path:             "/firehose/transform",
		Output:           OutputECS,
		MaxBodyBytes:     8 << 20,
		MaxResponseBytes: 6_000_000,
		MaxRecords:       100_000,
		ECS:              ECSConfig{Dataset: "aws.vpcflow", Namespace: "default"},
		HEC:              hec.DefaultConfig(),
	}
}

// Validate reports every bad key.
func (c Config) Validate() error {
	var errs []error
	if !strings.HasPrefix(c.Path, "/") {
		errs = append(errs, fmt.Errorf("path: must start with /, got %q", c.Path))
	}
	switch c.Output {
	case OutputECS, OutputOriginal, OutputSplunkHEC:
	default:
		errs = append(errs, fmt.Errorf("output: must be %s, %s or %s, got %q", OutputECS, OutputOriginal, OutputSplunkHEC, c.Output))
	}
	if c.MaxBodyBytes < 1 || c.MaxBodyBytes > maxLimit {
		errs = append(errs, fmt.Errorf("max_body_bytes: must be between 1 and %d, got %d", maxLimit, c.MaxBodyBytes))
	}
	if c.MaxResponseBytes < 1 || c.MaxResponseBytes > maxLimit {
		errs = append(errs, fmt.Errorf("max_response_bytes: must be between 1 and %d, got %d", maxLimit, c.MaxResponseBytes))
	}
	if c.MaxRecords < 1 || c.MaxRecords > maxRecordsLimit {
		errs = append(errs, fmt.Errorf("max_records: must be between 1 and %d, got %d", maxRecordsLimit, c.MaxRecords))
	}
	if err := c.HEC.Validate(); err != nil {
		errs = append(errs, prefix("hec.", err))
	}
	return errors.Join(errs...)
}

// prefix puts p before the key named by each of err's joined errors.
func prefix(p string, err error) error {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			errs = append(errs, fmt.Errorf("%s%w", p, e))
		}
		return errors.Join(errs...)
	}
	return fmt.Errorf("%s%w", p, err)
}

// HTTPPath is where serve mounts the HTTP handler.
func (c Config) HTTPPath() string { return c.Path }
