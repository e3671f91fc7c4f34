// Package decode turns flow-log payloads (plain lines, {"message":...}
// wrappers, CloudWatch Logs subscription data, gzip or not) into records.
//
// Decoding is the hot path: a line is split without allocating, numbers are
// parsed by hand, and records are decoded in place into Output.Records with
// their strings pointing into the input.
package decode

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/flowhose/flowhose/stream"
)

// Defaults for zero Options.
const (
	DefaultMaxLineBytes         = 64 << 10
	DefaultMaxDecompressedBytes = 64 << 20
)

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
	// Ref is copied into Failures: where in the source the input came from
	// (a file path, for example).
	Ref string
}

// Output accumulates what decoding produced.
type Output struct {
	Records  []stream.Record
	Failures []stream.Failure
	Skipped  int // header lines and CloudWatch control messages

	// MaxRecords stops decoding once Records and Failures together hold
	// this many (0: no limit). The limit is checked line by line, so one
	// small gzip payload cannot decode to millions of records before a
	// caller gets to count them.
	MaxRecords int
	// Reserve, when set, is asked before the decoder allocates what it
	// keeps: a copy of each payload (the records' strings point into it),
	// each gunzipped payload as it is read, and new record slots. An error
	// stops decoding and becomes Err.
	Reserve func(bytes int64) error
	// Keep, when set, makes the copy of a payload that records' strings
	// point into, and reserves what that copy costs, instead of one string
	// allocation per payload: a source that decodes many small payloads
	// can copy them into larger blocks of its own. The copy must stay
	// unchanged for as long as any record or failure may be used.
	Keep func(data []byte) (string, error)
	// Err says why decoding stopped early: ErrTooManyRecords or an error
	// from Reserve. Once it is set, further calls decode nothing.
	Err error
}

// ErrTooManyRecords is Output.Err once MaxRecords is reached.
var ErrTooManyRecords = errors.New("too many flow-log records")

// RecordBytes is what one record slot costs in Output.Records.
const RecordBytes = int64(unsafe.Sizeof(stream.Record{}))

// reserve asks Reserve for n bytes, recording its refusal in Err.
func (o *Output) reserve(n int64) bool {
	if o.Err != nil {
		return false
	}
	if o.Reserve == nil || n <= 0 {
		return true
	}
	if err := o.Reserve(n); err != nil {
		o.Err = err
		return false
	}
	return true
}

// keep returns the copy of data that records' strings point into, made by
// Keep when set, else reserved and allocated here.
func (o *Output) keep(data []byte) (string, bool) {
	if o.Keep == nil {
		if !o.reserve(int64(len(data))) {
			return "", false
		}
		return string(data), true
	}
	if o.Err != nil {
		return "", false
	}
	s, err := o.Keep(data)
	if err != nil {
		o.Err = err
		return "", false
	}
	return s, true
}

// room reports whether one more record or failure may be added.
func (o *Output) room() bool {
	if o.Err != nil {
		return false
	}
	if o.MaxRecords > 0 && len(o.Records)+len(o.Failures) >= o.MaxRecords {
		o.Err = fmt.Errorf("%w: more than %d", ErrTooManyRecords, o.MaxRecords)
		return false
	}
	return true
}

// fail adds f unless MaxRecords is reached.
func (o *Output) fail(f stream.Failure) {
	if o.room() {
		o.Failures = append(o.Failures, f)
	}
}

// newRecord adds a record slot to Records and returns it, or nil when
// MaxRecords or Reserve stop decoding.
func (o *Output) newRecord() *stream.Record {
	if !o.room() {
		return nil
	}
	n := len(o.Records)
	if n == cap(o.Records) && !o.growRecords(1) {
		return nil
	}
	o.Records = o.Records[:n+1]
	return &o.Records[n]
}

// growRecords makes room for need more records beyond cap, reserving the
// new array first, in full: the array it replaces stays garbage until the
// collector gets to it. It grows by half the capacity at a time (fewer
// copies of big records than doubling would need memory for), never past
// MaxRecords.
func (o *Output) growRecords(need int) bool {
	add := max(need, cap(o.Records)/2, 16)
	if o.MaxRecords > 0 {
		add = min(add, max(need, o.MaxRecords-len(o.Records)))
	}
	want := cap(o.Records) + add
	if !o.reserve(int64(want) * RecordBytes) {
		return false
	}
	o.Records = slices.Grow(o.Records, want-len(o.Records))
	// The allocator rounds up to its size classes; what it added is kept
	// too, so it is reserved as well (a refusal stops at the next record).
	return o.reserve(int64(cap(o.Records)-want) * RecordBytes)
}

// Decoder decodes payloads. It remembers the format named by the last header
// line it saw, so use one Decoder per stream of input (file, request). Not
// safe for concurrent use.
type Decoder struct {
	opts Options
	// byCount[n] is the candidate format with n fields, if any.
	byCount []*Format
	// header is the format adopted from the last header line; it overrides
	// the candidates.
	header *Format
	// headerLine is the text of the last header line, so that the same
	// line again, as at the start of every record of a Firehose stream of
	// S3-object shaped records, is known without splitting it and checking
	// its names. A copy: the line would pin the block of its payload for
	// as long as the decoder lives.
	headerLine string
	// v2 says a line of 14 tokens would be decoded with the version-2
	// default format, so Line may try lineV2 first.
	v2   bool
	toks [MaxFormatFields]string
	// For gzip payloads, until Release: the inflater and the buffer
	// payloads are inflated into.
	inflater *inflater
	plain    []byte
	// Scratch of the JSON fast paths: where each envelope's line is, and
	// a CloudWatch Logs document's strings gathered for one Keep.
	spans []span
	buf   []byte
}

// New validates opts and returns a Decoder.
func New(opts Options) (*Decoder, error) {
	if opts.MaxLineBytes < 0 {
		return nil, fmt.Errorf("decode: MaxLineBytes must not be negative, got %d", opts.MaxLineBytes)
	}
	if opts.MaxLineBytes == 0 {
		opts.MaxLineBytes = DefaultMaxLineBytes
	}
	if opts.MaxDecompressedBytes < 0 {
		return nil, fmt.Errorf("decode: MaxDecompressedBytes must not be negative, got %d", opts.MaxDecompressedBytes)
	}
	if opts.MaxDecompressedBytes == 0 {
		opts.MaxDecompressedBytes = DefaultMaxDecompressedBytes
	}
	if len(opts.Formats) == 0 {
		opts.Formats = []*Format{defaultFormat}
	}
	d := &Decoder{opts: opts}
	for i, f := range opts.Formats {
		if f == nil || len(f.fields) == 0 {
			return nil, fmt.Errorf("decode: format %d is empty", i+1)
		}
		n := len(f.fields)
		if n >= len(d.byCount) {
			d.byCount = append(d.byCount, make([]*Format, n+1-len(d.byCount))...)
		}
		if g := d.byCount[n]; g != nil {
			return nil, fmt.Errorf("decode: formats %q and %q both have %d fields; candidate formats must have distinct field counts", g, f, n)
		}
		d.byCount[n] = f
	}
	d.v2 = d.formatFor(len(defaultFormat.fields)).isV2()
	return d, nil
}

// Reset forgets the format adopted from a header line, so that the next
// payload is decoded as the start of an input of its own (a Kafka message
// that may be redelivered to a consumer that never saw the one before).
func (d *Decoder) Reset() { d.header = nil }

// ErrHeader is returned by Line for a header line; the decoder adopts its format.
var ErrHeader = errors.New("header line")

// Error is a malformed line: which line, which field, why.
type Error struct {
	Line   int // 1-based; 0 when unknown (Line was called directly)
	Field  string
	Reason string
}

// Error formats the error as `line 3: field dstport: "70000" out of range
// 0-65535`, leaving out the parts that are unknown.
func (e *Error) Error() string {
	var b strings.Builder
	if e.Line > 0 {
		b.WriteString("line ")
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString("field ")
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Reason)
	return b.String()
}

// Text decodes newline-separated plain lines; records' strings are
// substrings of s (no copy).
func (d *Decoder) Text(s string, out *Output) { d.TextAt(s, 1, out) }

// TextAt is Text for a chunk of a larger input whose first line has number
// firstLine, so Failures carry line numbers of the whole input.
func (d *Decoder) TextAt(s string, firstLine int, out *Output) {
	d.lines(s, firstLine, stream.Origin{}, out)
}

// appendLine decodes one line into a new element of out.Records, or records
// why it could not. Blank lines are ignored.
func (d *Decoder) appendLine(line string, lineNo int, origin stream.Origin, out *Output) {
	line = strings.TrimSuffix(line, "\r")
	if isBlank(line) {
		return
	}
	r := out.newRecord()
	if r == nil {
		return
	}
	err := d.Line(line, r)
	if err == nil {
		r.Origin = origin
		return
	}
	out.Records = out.Records[:len(out.Records)-1]
	if err == ErrHeader {
		out.Skipped++
		return
	}
	e := err.(*Error) // Line returns nothing else
	out.Failures = append(out.Failures, d.failure(line, lineNo, e.Field, e.Reason))
}

// failure builds a Failure, base64-encoding input that is not valid UTF-8
// so that it survives JSON dead-letter sinks byte for byte.
func (d *Decoder) failure(input string, line int, field, reason string) stream.Failure {
	if !utf8.ValidString(input) {
		input = base64.StdEncoding.EncodeToString([]byte(input))
		reason += " (input is base64: not valid UTF-8)"
	}
	return stream.Failure{Source: d.opts.Source, Ref: d.opts.Ref, Input: input, Line: line, Field: field, Reason: reason}
}

// isSpace tests c <= ' ' first: one compare rejects nearly every byte of a line.
func isSpace(c byte) bool { return c <= ' ' && (c == ' ' || c == '\t' || c == '\r') }

func isBlank(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isSpace(s[i]) {
			return false
		}
	}
	return true
}

// Line decodes one line into r, overwriting it. Runs of spaces and tabs
// separate tokens; surrounding whitespace and a final CR are ignored. It
// returns a *Error for a malformed line (r is then partly filled and must
// not be used) and ErrHeader for a header line, whose format the decoder
// adopts for the lines after it.
func (d *Decoder) Line(line string, r *stream.Record) error {
	*r = stream.Record{}
	line = strings.TrimSuffix(line, "\r")
	if len(line) > d.opts.MaxLineBytes {
		return &Error{Reason: fmt.Sprintf("line of %d bytes exceeds MaxLineBytes (%d)", len(line), d.opts.MaxLineBytes)}
	}
	if d.header != nil && line == d.headerLine {
		return ErrHeader
	}
	if d.v2 {
		if lineV2(line, r) {
			return nil
		}
		*r = stream.Record{} // drop what lineV2 filled before it gave up
	}

	n := d.split(line)
	if n == 0 {
		return &Error{Reason: "empty line"}
	}
	if n <= len(d.toks) {
		toks := d.toks[:n]
		if c := toks[0][0]; c >= 'a' && c <= 'z' && isHeader(toks) {
			if !d.header.sameNames(toks) {
				d.header = headerFormat(toks)
				d.v2 = d.header.isV2()
			}
			d.headerLine = strings.Clone(line)
			return ErrHeader
		}
	}
	f := d.formatFor(n)
	if f == nil {
		return &Error{Reason: d.countReason(n)}
	}
	r.Raw = line
	return decodeFields(f, d.toks[:n], r)
}

// lineV2 decodes a line of the version-2 default format in one pass,
// parsing each token as it is found instead of storing the tokens and
// dispatching on each field: most flow logs use that format. It reports
// false on anything irregular (another token count, a token that does not
// parse) and the general path then decodes the line or says why not. A
// line of that format never looks like a header: its first token is a
// number or "-".
func lineV2(line string, r *stream.Record) bool {
	c := cursor{s: line}
	var set stream.FieldSet
	var ok bool
	var v uint64
	if v, ok = c.uint(math.MaxInt32, stream.FieldVersion, &set); !ok {
		return false
	}
	r.Version = int(v)
	if r.AccountID, ok = c.str(stream.FieldAccountID, &set); !ok {
		return false
	}
	if r.InterfaceID, ok = c.str(stream.FieldInterfaceID, &set); !ok {
		return false
	}
	if r.SrcAddr, ok = c.addr(stream.FieldSrcAddr, &set); !ok {
		return false
	}
	if r.DstAddr, ok = c.addr(stream.FieldDstAddr, &set); !ok {
		return false
	}
	if v, ok = c.uint(math.MaxUint16, stream.FieldSrcPort, &set); !ok {
		return false
	}
	r.SrcPort = uint16(v)
	if v, ok = c.uint(math.MaxUint16, stream.FieldDstPort, &set); !ok {
		return false
	}
	r.DstPort = uint16(v)
	if v, ok = c.uint(math.MaxUint8, stream.FieldProtocol, &set); !ok {
		return false
	}
	r.Protocol = uint8(v)
	if r.Packets, ok = c.uint(math.MaxUint64, stream.FieldPackets, &set); !ok {
		return false
	}
	if r.Bytes, ok = c.uint(math.MaxUint64, stream.FieldBytes, &set); !ok {
		return false
	}
	if v, ok = c.uint(math.MaxInt64, stream.FieldStart, &set); !ok {
		return false
	}
	r.Start = int64(v)
	if v, ok = c.uint(math.MaxInt64, stream.FieldEnd, &set); !ok {
		return false
	}
	r.End = int64(v)
	if r.Action, ok = c.str(stream.FieldAction, &set); !ok {
		return false
	}
	if r.LogStatus, ok = c.str(stream.FieldLogStatus, &set); !ok {
		return false
	}
	if _, more := c.next(); more {
		return false
	}
	r.Raw = line
	r.Present = set
	return true
}

// cursor walks the tokens of a line for lineV2. Each method reads the
// next token as field f, adds f to set unless the token is "-" (absent,
// zero value), and reports false if there is no token or it does not
// parse.
type cursor struct {
	s string
	i int
}

// next returns the next token, or false at the end of the line.
func (c *cursor) next() (string, bool) {
	i := c.i
	for i < len(c.s) && isSpace(c.s[i]) {
		i++
	}
	if i == len(c.s) {
		return "", false
	}
	j := tokenEnd(c.s, i)
	c.i = j
	return c.s[i:j], true
}

func (c *cursor) str(f stream.Field, set *stream.FieldSet) (string, bool) {
	tok, ok := c.next()
	if !ok || tok == "-" {
		return "", ok
	}
	set.Add(f)
	return tok, true
}

// uint parses the digits as it finds them rather than scanning the token
// twice. Past 19 digits a value may overflow, so such tokens are left to
// the general path, as are leading signs and any other byte.
func (c *cursor) uint(max uint64, f stream.Field, set *stream.FieldSet) (uint64, bool) {
	s, i := c.s, c.i
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	start := i
	var v uint64
	more := true // digits may follow
	if i+8 <= len(s) {
		var k int
		v, k = digits8(load64(s, i))
		i += k
		more = k == 8
	}
	for ; more && i < len(s); i++ {
		d := s[i] - '0'
		if d > 9 {
			break
		}
		v = v*10 + uint64(d)
	}
	if i < len(s) && !isSpace(s[i]) {
		// Only "-" (absent) is regular here.
		if i == start && s[i] == '-' && (i+1 == len(s) || isSpace(s[i+1])) {
			c.i = i + 1
			return 0, true
		}
		return 0, false
	}
	if n := i - start; n == 0 || n > 19 || v > max {
		return 0, false
	}
	c.i = i
	set.Add(f)
	return v, true
}

// digits8 returns the value of the leading decimal digits of the eight
// bytes of w (loaded little-endian, so the first byte is the most
// significant digit) and how many there are, with no per-digit branch.
// Non-digits are found with nibble tests that never carry between bytes.
func digits8(w uint64) (uint64, int) {
	const (
		low  = 0x0f0f0f0f0f0f0f0f
		high = 0xf0f0f0f0f0f0f0f0
		msb  = 0x8080808080808080
		ones = 0x7f7f7f7f7f7f7f7f
	)
	// A byte is a digit iff its high nibble is 3 and its low nibble plus 6
	// stays below 16.
	bad := (w&high ^ 0x3030303030303030) | ((w&low + 0x0606060606060606) & 0x1010101010101010)
	nonzero := ((bad&ones + ones) | bad) & msb
	k := bits.TrailingZeros64(nonzero) / 8 // 8 when all are digits
	if k == 0 {
		return 0, 0
	}
	// Shift the digits to the top so the bytes below read as leading
	// zeros, then combine pairs, quads and octets of digits.
	x := (w & low) << (64 - 8*k)
	x = (x * (10<<8 + 1)) >> 8 & 0x00ff00ff00ff00ff
	x = (x * (100<<16 + 1)) >> 16 & 0x0000ffff0000ffff
	x = (x * (10000<<32 + 1)) >> 32
	return x, k
}

// addr reads a dotted-quad IPv4 address as it scans it; IPv6 and
// anything unusual take the token path through parseAddr.
func (c *cursor) addr(f stream.Field, set *stream.FieldSet) (netip.Addr, bool) {
	for c.i < len(c.s) && isSpace(c.s[c.i]) {
		c.i++
	}
	if a, end, ok := scanIPv4(c.s, c.i); ok {
		c.i = end
		set.Add(f)
		return a, true
	}
	tok, ok := c.next()
	if !ok || tok == "-" {
		return netip.Addr{}, ok
	}
	a, bad := parseAddr(tok)
	if bad != "" {
		return netip.Addr{}, false
	}
	set.Add(f)
	return a, true
}

// scanIPv4 is parseIPv4 for the token starting at s[i]: it returns the
// address and the index after it, or false when the token is not a
// dotted quad parseIPv4 would accept.
func scanIPv4(s string, i int) (netip.Addr, int, bool) {
	var ip [4]byte
	field, val, digits := 0, 0, 0
	for ; i < len(s); i++ {
		c := s[i]
		if c == '.' {
			if digits == 0 || field == 3 {
				return netip.Addr{}, 0, false
			}
			ip[field] = byte(val)
			field, val, digits = field+1, 0, 0
			continue
		}
		d := c - '0'
		if d > 9 {
			break
		}
		if digits == 1 && val == 0 {
			return netip.Addr{}, 0, false
		}
		val = val*10 + int(d)
		digits++
		if val > 255 {
			return netip.Addr{}, 0, false
		}
	}
	if field != 3 || digits == 0 || i < len(s) && !isSpace(s[i]) {
		return netip.Addr{}, 0, false
	}
	ip[3] = byte(val)
	return netip.AddrFrom4(ip), i, true
}

// split stores the tokens of line in d.toks without allocating and returns
// how many there are, counting past the buffer so the error can say so.
func (d *Decoder) split(line string) int {
	n := 0
	for i := 0; i < len(line); {
		for i < len(line) && isSpace(line[i]) {
			i++
		}
		if i == len(line) {
			break
		}
		start := i
		i = tokenEnd(line, i)
		if n < len(d.toks) {
			d.toks[n] = line[start:i]
		}
		n++
	}
	return n
}

// tokenEnd returns the index of the first separator in s at or after i,
// or len(s). It tests eight bytes at a time for one below '!' (the "has
// byte less than n" bit trick), which rules out the usual token bytes
// with a few instructions; the first such byte is found exactly because
// the subtraction only borrows upward from bytes that are themselves
// below '!'. A control byte that is not a separator stays in the token.
func tokenEnd(s string, i int) int {
	const lsb, msb = 0x0101010101010101, 0x8080808080808080
	for i+8 <= len(s) {
		w := load64(s, i)
		m := (w - lsb*'!') & ^w & msb
		if m == 0 {
			i += 8
			continue
		}
		j := i + bits.TrailingZeros64(m)/8
		if isSpace(s[j]) {
			return j
		}
		i = j + 1
	}
	for i < len(s) && !isSpace(s[i]) {
		i++
	}
	return i
}

// load64 reads s[i:i+8] as a little-endian word (one load once compiled).
func load64(s string, i int) uint64 {
	_ = s[i+7]
	return uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
		uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
}

func headerFormat(toks []string) *Format {
	f := &Format{fields: make([]stream.Field, len(toks)), names: make([]string, len(toks))}
	for i, t := range toks {
		// Clone: the format outlives the payload the header came in.
		f.names[i] = strings.Clone(t)
		f.fields[i] = stream.LookupField(t)
		if f.fields[i] == stream.FieldUnknown {
			f.unknown++
		}
	}
	return f
}

func (d *Decoder) formatFor(n int) *Format {
	if d.header != nil {
		if n == len(d.header.fields) {
			return d.header
		}
		return nil
	}
	if n < len(d.byCount) {
		return d.byCount[n]
	}
	return nil
}

func (d *Decoder) countReason(n int) string {
	got := strconv.Itoa(n)
	if n > MaxFormatFields {
		got = "more than " + strconv.Itoa(MaxFormatFields)
	}
	if d.header != nil {
		return fmt.Sprintf("got %s fields, want %d (format of the header line)", got, len(d.header.fields))
	}
	var want []string
	for c, f := range d.byCount {
		if f != nil {
			want = append(want, strconv.Itoa(c))
		}
	}
	if len(want) == 1 {
		return fmt.Sprintf("got %s fields, want %s", got, want[0])
	}
	return fmt.Sprintf("got %s fields, want one of %s", got, strings.Join(want, ", "))
}

// decodeFields stores each token in its field. `-` leaves a field absent.
func decodeFields(f *Format, toks []string, r *stream.Record) error {
	for i, tok := range toks[:len(f.fields)] {
		if tok == "-" {
			continue
		}
		if bad := setField(f, i, tok, r); bad != "" {
			return &Error{Field: f.names[i], Reason: bad}
		}
	}
	return nil
}

// uintMax is the largest value of each numeric field; 0 for the others.
var uintMax = [stream.NumFields]uint64{
	stream.FieldVersion:     math.MaxInt32,
	stream.FieldSrcPort:     math.MaxUint16,
	stream.FieldDstPort:     math.MaxUint16,
	stream.FieldProtocol:    math.MaxUint8,
	stream.FieldPackets:     math.MaxUint64,
	stream.FieldBytes:       math.MaxUint64,
	stream.FieldStart:       math.MaxInt64,
	stream.FieldEnd:         math.MaxInt64,
	stream.FieldTCPFlags:    math.MaxUint16,
	stream.FieldTrafficPath: math.MaxUint8,
}

// setUint stores v, no greater than uintMax[field], in numeric field.
func setUint(r *stream.Record, field stream.Field, v uint64) {
	switch field {
	case stream.FieldVersion:
		r.Version = int(v)
	case stream.FieldSrcPort:
		r.SrcPort = uint16(v)
	case stream.FieldDstPort:
		r.DstPort = uint16(v)
	case stream.FieldProtocol:
		r.Protocol = uint8(v)
	case stream.FieldPackets:
		r.Packets = v
	case stream.FieldBytes:
		r.Bytes = v
	case stream.FieldStart:
		r.Start = int64(v)
	case stream.FieldEnd:
		r.End = int64(v)
	case stream.FieldTCPFlags:
		r.TCPFlags = uint16(v)
	case stream.FieldTrafficPath:
		r.TrafficPath = uint8(v)
	}
}

// setField stores tok, a token other than `-`, in the field of f's column
// i and adds the field to r.Present, or returns why tok does not fit it.
func setField(f *Format, i int, tok string, r *stream.Record) (bad string) {
	field := f.fields[i]
	if max := uintMax[field]; max != 0 {
		v, bad := parseUint(tok, max)
		if bad != "" {
			return bad
		}
		setUint(r, field, v)
		r.Present.Add(field)
		return ""
	}
	switch field {
	case stream.FieldAccountID:
		r.AccountID = tok
	case stream.FieldInterfaceID:
		r.InterfaceID = tok
	case stream.FieldSrcAddr:
		r.SrcAddr, bad = parseAddr(tok)
	case stream.FieldDstAddr:
		r.DstAddr, bad = parseAddr(tok)
	case stream.FieldAction:
		r.Action = tok
	case stream.FieldLogStatus:
		r.LogStatus = tok
	case stream.FieldVPCID:
		r.VPCID = tok
	case stream.FieldSubnetID:
		r.SubnetID = tok
	case stream.FieldInstanceID:
		r.InstanceID = tok
	case stream.FieldType:
		r.Type = tok
	case stream.FieldPktSrcAddr:
		r.PktSrcAddr, bad = parseAddr(tok)
	case stream.FieldPktDstAddr:
		r.PktDstAddr, bad = parseAddr(tok)
	case stream.FieldRegion:
		r.Region = tok
	case stream.FieldAZID:
		r.AZID = tok
	case stream.FieldSublocationType:
		r.SublocationType = tok
	case stream.FieldSublocationID:
		r.SublocationID = tok
	case stream.FieldPktSrcAWSService:
		r.PktSrcAWSService = tok
	case stream.FieldPktDstAWSService:
		r.PktDstAWSService = tok
	case stream.FieldFlowDirection:
		r.FlowDirection = tok
	case stream.FieldECSClusterARN:
		r.ECSClusterARN = tok
	case stream.FieldECSClusterName:
		r.ECSClusterName = tok
	case stream.FieldECSContainerInstanceARN:
		r.ECSContainerInstanceARN = tok
	case stream.FieldECSContainerInstanceID:
		r.ECSContainerInstanceID = tok
	case stream.FieldECSContainerID:
		r.ECSContainerID = tok
	case stream.FieldECSSecondContainerID:
		r.ECSSecondContainerID = tok
	case stream.FieldECSServiceName:
		r.ECSServiceName = tok
	case stream.FieldECSTaskDefinitionARN:
		r.ECSTaskDefinitionARN = tok
	case stream.FieldECSTaskARN:
		r.ECSTaskARN = tok
	case stream.FieldECSTaskID:
		r.ECSTaskID = tok
	case stream.FieldRejectReason:
		r.RejectReason = tok
	default:
		if r.Extra == nil {
			r.Extra = make([]stream.ExtraField, 0, f.unknown)
		}
		r.Extra = append(r.Extra, stream.ExtraField{Name: f.names[i], Value: tok})
		return ""
	}
	if bad == "" {
		r.Present.Add(field)
	}
	return bad
}

// parseUint parses a decimal token no greater than max. It returns a reason
// instead of an error so the caller can attach the field name once.
func parseUint(s string, max uint64) (uint64, string) {
	if len(s) == 0 {
		return 0, "empty number"
	}
	var v uint64
	overflow := false
	for i := 0; i < len(s); i++ {
		c := s[i] - '0'
		if c > 9 {
			return 0, strconv.Quote(s) + " is not an unsigned integer"
		}
		// Constant bounds: a division by max per digit costs more than the
		// rest of the loop. After an overflow keep checking the syntax, so
		// "99…9x" is reported as not a number.
		if v > math.MaxUint64/10 || (v == math.MaxUint64/10 && c > math.MaxUint64%10) {
			overflow = true
		}
		v = v*10 + uint64(c)
	}
	if overflow || v > max {
		return 0, fmt.Sprintf("%q out of range 0-%d", s, max)
	}
	return v, ""
}

func parseAddr(s string) (netip.Addr, string) {
	if a, ok := parseIPv4(s); ok {
		return a, ""
	}
	// IPv6, zones and every error case go through the standard parser.
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, strconv.Quote(s) + " is not an IP address"
	}
	return a, ""
}

// parseIPv4 is a fast path for dotted-quad IPv4, the bulk of flow logs: it
// accepts a subset of what netip.ParseAddr accepts (no leading zeros) and
// reports false for anything else.
func parseIPv4(s string) (netip.Addr, bool) {
	var ip [4]byte
	field, val, digits := 0, 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '.' {
			if digits == 0 || field == 3 {
				return netip.Addr{}, false
			}
			ip[field] = byte(val)
			field, val, digits = field+1, 0, 0
			continue
		}
		if c < '0' || c > '9' || (digits == 1 && val == 0) {
			return netip.Addr{}, false
		}
		val = val*10 + int(c-'0')
		digits++
		if val > 255 {
			return netip.Addr{}, false
		}
	}
	if field != 3 || digits == 0 {
		return netip.Addr{}, false
	}
	ip[3] = byte(val)
	return netip.AddrFrom4(ip), true
}
