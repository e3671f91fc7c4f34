// Package hec encodes records as Splunk HTTP Event Collector events: one
// JSON object per record whose event is the original flow-log line, so the
// Splunk Add-on for AWS extracts fields as it does for CloudWatch Logs.
package hec

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/jsonenc"
)

// DefaultSourcetype is the Splunk Add-on for AWS sourcetype of flow records.
const DefaultSourcetype = "aws:cloudwatchlogs:vpcflow"

// maxValueLen bounds each metadata value.
const maxValueLen = 1024

// Config holds the event metadata. Empty values are left out of the event,
// so the HEC token's defaults apply.
type Config struct {
	Source     string `yaml:"source"`
	Sourcetype string `yaml:"sourcetype"`
	Index      string `yaml:"index"`
	Host       string `yaml:"host"`
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config { return Config{Sourcetype: DefaultSourcetype} }

// Validate reports every bad key.
func (c Config) Validate() error {
	var errs []error
	for _, kv := range [...][2]string{{"source", c.Source}, {"sourcetype", c.Sourcetype}, {"index", c.Index}, {"host", c.Host}} {
		if len(kv[1]) > maxValueLen || !utf8.ValidString(kv[1]) {
			errs = append(errs, fmt.Errorf("%s: must be valid UTF-8 of at most %d bytes, got %d bytes", kv[0], maxValueLen, len(kv[1])))
		}
	}
	return errors.Join(errs...)
}

// Encoder appends HEC events. It is immutable, so goroutines may share it.
type Encoder struct {
	// meta is the pre-encoded metadata members, each starting with a comma.
	meta []byte
}

// NewEncoder returns an Encoder for cfg.
func NewEncoder(cfg Config) (*Encoder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("hec config: %w", err)
	}
	var meta []byte
	for _, kv := range [...][2]string{{"host", cfg.Host}, {"source", cfg.Source}, {"sourcetype", cfg.Sourcetype}, {"index", cfg.Index}} {
		if kv[1] != "" {
			meta = append(meta, `,"`+kv[0]+`":`...)
			meta = jsonenc.AppendString(meta, kv[1])
		}
	}
	return &Encoder{meta: meta}, nil
}

// Append appends r as one HEC event object (no trailing newline) to dst:
// time is the record's end (or start) in Unix seconds, left out when the
// record has neither, and event is the raw line.
func (e *Encoder) Append(dst []byte, r *stream.Record) []byte {
	dst = append(dst, '{')
	switch {
	case r.Has(stream.FieldEnd):
		dst = append(dst, `"time":`...)
		dst = strconv.AppendInt(dst, r.End, 10)
		dst = append(dst, ',')
	case r.Has(stream.FieldStart):
		dst = append(dst, `"time":`...)
		dst = strconv.AppendInt(dst, r.Start, 10)
		dst = append(dst, ',')
	}
	dst = append(dst, `"event":`...)
	dst = jsonenc.AppendString(dst, r.Raw)
	dst = append(dst, e.meta...)
	return append(dst, '}')
}
