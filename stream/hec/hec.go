// Package hec encodes records as Splunk HTTP Event Collector events: one
// JSON object per record whose event is the original flow-log line, so the
// Splunk Add-on for AWS extracts fields as it does for CloudWatch Logs,
// optionally with the enrichment as indexed fields, or whose event is the
// record's ECS document.
package hec

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/ecs"
	"github.com/flowhose/flowhose/stream/jsonenc"
)

// Shape is what an event carries.
type Shape uint8

// Event shapes.
const (
	// Line is the original flow-log line as the event, nothing more (the
	// transformation's splunk_hec output).
	Line Shape = iota
	// LineIDField is the line with the document id as an indexed field.
	LineIDField
	// LineFields is the line plus the document id and the enrichment as
	// indexed fields (strings or arrays of strings, as HEC requires).
	LineFields
	// Document is the record's ECS document as a JSON event, with the
	// document id as an indexed field.
	Document
)

// IDField is the indexed field holding the record's document id (the
// Elasticsearch _id): a redelivered record has the same one, so
// duplicates can be found.
const IDField = "flowhose_id"

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
	meta  []byte
	shape Shape
	doc   ecs.Encoder
}

// NewEncoder returns an Encoder of Line events for cfg.
func NewEncoder(cfg Config) (*Encoder, error) { return NewShaped(cfg, Line, ecs.Encoder{}) }

// NewShaped returns an Encoder of shape events for cfg; doc encodes the
// Document shape's events.
func NewShaped(cfg Config, shape Shape, doc ecs.Encoder) (*Encoder, error) {
	if shape > Document {
		return nil, fmt.Errorf("hec: unknown event shape %d", shape)
	}
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
	return &Encoder{meta: meta, shape: shape, doc: doc}, nil
}

// Append appends r as one HEC event object (no trailing newline) to dst:
// time is the record's end (or start) in Unix seconds, left out when the
// record has neither; event is the raw line (the ECS document for the
// Document shape); fields follows the metadata for the LineFields and
// Document shapes.
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
	if e.shape == Document {
		dst = e.doc.Append(dst, r)
	} else {
		dst = jsonenc.AppendString(dst, r.Raw)
	}
	dst = append(dst, e.meta...)
	switch e.shape {
	case LineFields:
		dst = appendFields(dst, r)
	case LineIDField, Document:
		dst = append(dst, `,"fields":{"`+IDField+`":"`...)
		dst = ecs.AppendID(dst, r)
		dst = append(dst, `"}`...)
	}
	return append(dst, '}')
}
