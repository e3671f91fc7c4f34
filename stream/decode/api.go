// Package decode turns flow-log payloads (plain lines, {"message":...}
// wrappers, CloudWatch Logs subscription data, gzip or not) into records.
//
// API CONTRACT (implementation in progress; signatures are fixed):
package decode

import (
	"errors"

	"github.com/flowhose/flowhose/stream"
)

// Format is a compiled flow-log format: the ordered fields of a
// `${field} ${field} ...` string or of an S3 header line.
type Format struct {
	fields []stream.Field
	names  []string
}

// DefaultFormatString is the fixed version-2 default format.
const DefaultFormatString = "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status}"

// ParseFormat compiles a `${a} ${b}` format string, or a header line `a b`.
func ParseFormat(s string) (*Format, error) { return nil, errors.New("TODO") }

// Options configure a Decoder. Zero values mean the documented defaults.
type Options struct {
	// Formats are the candidate formats for lines with no header, chosen by
	// token count; each must have a distinct count. Default: the v2 format.
	Formats []*Format
	// MaxLineBytes rejects longer lines (default 64 KiB).
	MaxLineBytes int
	// MaxDecompressedBytes bounds a gunzipped payload (default 64 MiB).
	MaxDecompressedBytes int64
	// Source names the source in Failures.
	Source string
}

// Output accumulates what decoding produced.
type Output struct {
	Records  []stream.Record
	Failures []stream.Failure
	Skipped  int // header lines and CloudWatch control messages
}

// Decoder decodes payloads. It remembers the format named by the last header
// line it saw, so use one Decoder per stream of input (file, request). Not
// safe for concurrent use.
type Decoder struct{ opts Options }

// New validates opts and returns a Decoder.
func New(opts Options) (*Decoder, error) { return &Decoder{opts: opts}, nil }

// Payload decodes one unit of input: a Firehose record's data, a Kafka
// message, a chunk of a file. Gzip is detected from the bytes; a JSON
// {"message":...} wrapper or CloudWatch Logs subscription document is
// unwrapped; otherwise the bytes are newline-separated lines. Records'
// strings point into one copy of the payload. It never panics; everything
// that fails is appended to out.Failures.
func (d *Decoder) Payload(data []byte, out *Output) {}

// Text decodes newline-separated plain lines; records' strings are
// substrings of s (no copy).
func (d *Decoder) Text(s string, out *Output) {}

// ErrHeader is returned by Line for a header line; the decoder adopts its format.
var ErrHeader = errors.New("header line")

// Line decodes one line into r.
func (d *Decoder) Line(line string, r *stream.Record) error { return errors.New("TODO") }

// Error is a malformed line: which line, which field, why.
type Error struct {
	Line   int
	Field  string
	Reason string
}

func (e *Error) Error() string { return "TODO" }
