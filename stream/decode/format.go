package decode

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/flowhose/flowhose/stream"
)

// MaxFormatFields bounds the fields of a format (and so the tokens of a
// line). AWS formats have at most a few dozen; the bound keeps the token
// buffer fixed-size.
const MaxFormatFields = 128

// Format is a compiled flow-log format: the ordered fields of a
// `${field} ${field} ...` string or of an S3 header line.
type Format struct {
	fields  []stream.Field
	names   []string // as written, for Extra names and error messages
	unknown int      // fields flowhose does not model, kept in Record.Extra
}

// DefaultFormatString is the fixed version-2 default format.
const DefaultFormatString = "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status}"

var defaultFormat = mustParseFormat(DefaultFormatString)

// isV2 reports whether f is the version-2 default format (whatever its
// names' spelling); nil is not.
func (f *Format) isV2() bool {
	return f != nil && slices.Equal(f.fields, defaultFormat.fields)
}

func mustParseFormat(s string) *Format {
	f, err := ParseFormat(s)
	if err != nil {
		panic(err) // only called on constants
	}
	return f
}

// ParseFormat compiles a `${a} ${b}` format string, or a header line `a b`.
// Names may be hyphenated (format strings, S3 headers) or underscored
// (document keys). Names flowhose does not model are accepted; their values
// land in Record.Extra. Duplicates and empty formats are errors.
func ParseFormat(s string) (*Format, error) {
	f := &Format{}
	seen := make(map[string]bool)
	for tok := range strings.FieldsSeq(s) {
		name := tok
		if strings.HasPrefix(tok, "${") {
			if !strings.HasSuffix(tok, "}") || len(tok) < 4 {
				return nil, fmt.Errorf("format: malformed token %q: want ${name}", tok)
			}
			name = tok[2 : len(tok)-1]
		}
		if !plausibleName(name) {
			return nil, fmt.Errorf("format: %q is not a field name", tok)
		}
		field := stream.LookupField(name)
		key := name
		if field != stream.FieldUnknown {
			key = field.String() // so account-id and account_id clash
		}
		if seen[key] {
			return nil, fmt.Errorf("format: field %q appears twice", name)
		}
		seen[key] = true
		if len(f.fields) == MaxFormatFields {
			return nil, fmt.Errorf("format: more than %d fields", MaxFormatFields)
		}
		if field == stream.FieldUnknown {
			f.unknown++
		}
		f.fields = append(f.fields, field)
		f.names = append(f.names, name)
	}
	if len(f.fields) == 0 {
		return nil, errors.New("format: no fields")
	}
	return f, nil
}

// Len returns the number of fields, which is the token count of a line.
func (f *Format) Len() int { return len(f.fields) }

// Has reports whether the format has field f.
func (f *Format) Has(field stream.Field) bool { return slices.Contains(f.fields, field) }

// String returns the format as a `${a} ${b}` string.
func (f *Format) String() string {
	var b strings.Builder
	for i, n := range f.names {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("${")
		b.WriteString(n)
		b.WriteByte('}')
	}
	return b.String()
}

// sameNames reports whether a header's tokens spell exactly this format, so
// a repeated header does not recompile it.
func (f *Format) sameNames(toks []string) bool {
	if f == nil || len(toks) != len(f.names) {
		return false
	}
	for i, t := range toks {
		if f.names[i] != t {
			return false
		}
	}
	return true
}

// plausibleName accepts field-name shaped words: lowercase ASCII segments
// separated by '-' or '_', each segment all letters or a short number
// ("instance-tag-2"). Values rarely look like that: IDs mix letters and
// digits (eni-0a1b…), numbers and addresses have no letters first, and
// vocabularies such as ACCEPT or IPv4 carry capitals.
func plausibleName(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	letters, digits := 0, 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '-' || s[i] == '_' {
			switch {
			case letters > 0 && digits == 0:
			case digits > 0 && digits <= 2 && letters == 0:
			default:
				return false
			}
			letters, digits = 0, 0
			continue
		}
		switch c := s[i]; {
		case c >= 'a' && c <= 'z':
			letters++
		case c >= '0' && c <= '9':
			digits++
		default:
			return false
		}
	}
	return true
}

// isHeader reports whether a line's tokens are a header line: every token a
// plausible field name, no duplicates, and the first token a field flowhose
// models or at least half the tokens modelled fields. The last rule keeps
// data lines of all-lowercase values (an ECS service called "web") out.
func isHeader(toks []string) bool {
	// Shape first: it is cheap and rejects data lines at their first value,
	// before any name lookup.
	for _, t := range toks {
		if !plausibleName(t) {
			return false
		}
	}
	known := 0
	for i, t := range toks {
		if stream.LookupField(t) != stream.FieldUnknown {
			known++
		}
		if slices.Contains(toks[:i], t) {
			return false
		}
	}
	if known == 0 {
		return false
	}
	return stream.LookupField(toks[0]) != stream.FieldUnknown || 2*known >= len(toks)
}
