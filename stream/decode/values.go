package decode

import "github.com/flowhose/flowhose/stream"

// Value is one value of a row read from a columnar source (Parquet), whose
// column names were decoded as a header line.
type Value struct {
	// End is where the value's token ends in the row's line; the token
	// starts after the previous value's token and the space that follows
	// it. A token holds no whitespace; it is `-` when the value is absent.
	End int
	// Int is the value of an integer column when IsInt is set; a numeric
	// field takes it without parsing the token.
	Int   int64
	IsInt bool
}

// Values decodes one row of a columnar source into a new element of
// out.Records, or records why it could not, exactly as TextAt decodes
// line, the row's line: its values' tokens joined by single spaces. The
// tokens are not split out of line again and integer columns not parsed
// again; the rest of the work is the text decoder's own. A row that takes
// more than that (there is no header format, or the line is too long,
// looks like a header, or has a value its field rejects) is decoded from
// line, so the outcome is always the text decoder's.
func (d *Decoder) Values(line string, vals []Value, lineNo int, out *Output) {
	f := d.header
	if f == nil || len(vals) != len(f.fields) || len(line) > d.opts.MaxLineBytes || line == d.headerLine || !d.tokens(line, vals) {
		d.appendLine(line, lineNo, stream.Origin{}, out)
		return
	}
	r := out.newRecord()
	if r == nil {
		return
	}
	*r = stream.Record{}
	r.Raw = line
	if !decodeValues(f, line, vals, r) {
		out.Records = out.Records[:len(out.Records)-1]
		d.appendLine(line, lineNo, stream.Origin{}, out)
	}
}

// tokens reports whether the ends vals give cut line into its tokens (in
// order, each ended by a space or the line's end, none empty) that Line
// would not take for a header line.
func (d *Decoder) tokens(line string, vals []Value) bool {
	start := 0
	for i := range vals {
		end := vals[i].End
		if end <= start || end > len(line) || end < len(line) && line[end] != ' ' {
			return false
		}
		start = end + 1
	}
	if start != len(line)+1 {
		return false
	}
	if c := line[0]; c < 'a' || c > 'z' {
		return true
	}
	toks := d.toks[:len(vals)]
	start = 0
	for i := range vals {
		toks[i] = line[start:vals[i].End]
		start = vals[i].End + 1
	}
	return !isHeader(toks)
}

// decodeValues stores each value of line in its field as decodeFields
// stores the same tokens, and reports false where decodeFields would fail.
func decodeValues(f *Format, line string, vals []Value, r *stream.Record) bool {
	start := 0
	for i := range vals {
		v := &vals[i]
		tok := line[start:v.End]
		start = v.End + 1
		if tok == "-" {
			continue
		}
		field := f.fields[i]
		if max := uintMax[field]; max != 0 && v.IsInt {
			if v.Int < 0 || uint64(v.Int) > max {
				return false
			}
			setUint(r, field, uint64(v.Int))
			r.Present.Add(field)
			continue
		}
		if setField(f, i, tok, r) != "" {
			return false
		}
	}
	return true
}
