package decode

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// checkValues decodes s with Text and, line by line, with Values as a
// Parquet reader calls it (the first line through Text, as the column
// names; integer tokens also as Int; every fifth line with one token end
// moved off its token), and fails unless both give the same records,
// failures and skipped lines. Lines are first normalised to tokens joined
// by single spaces, as a row's line is.
func checkValues(t *testing.T, s string) {
	var norm []string
	for line := range strings.SplitSeq(s, "\n") {
		toks := strings.FieldsFunc(line, func(c rune) bool { return c == ' ' || c == '\t' || c == '\r' })
		if len(toks) > 0 {
			norm = append(norm, strings.Join(toks, " "))
		}
	}
	if len(norm) == 0 {
		return
	}
	want := Output{}
	newDecoder(t, DefaultFormatString, natFormat, v5Format).Text(strings.Join(norm, "\n"), &want)

	d := newDecoder(t, DefaultFormatString, natFormat, v5Format)
	var got Output
	d.TextAt(norm[0], 1, &got)
	for i, line := range norm[1:] {
		vals := rowValues(line)
		if i%5 == 4 {
			vals[i%len(vals)].End--
		}
		d.Values(line, vals, i+2, &got)
	}
	if !reflect.DeepEqual(got.Records, want.Records) && len(got.Records)+len(want.Records) > 0 {
		t.Fatalf("records from Values:\n%+v\nfrom Text:\n%+v", got.Records, want.Records)
	}
	if !reflect.DeepEqual(got.Failures, want.Failures) || got.Skipped != want.Skipped {
		t.Fatalf("failures from Values (%d skipped):\n%+v\nfrom Text (%d skipped):\n%+v", got.Skipped, got.Failures, want.Skipped, want.Failures)
	}
}

// rowValues returns the values of line, tokens joined by single spaces, as
// a Parquet reader gives them: integer tokens also as Int.
func rowValues(line string) []Value {
	var vals []Value
	end := 0
	for tok := range strings.SplitSeq(line, " ") {
		end += len(tok)
		v := Value{End: end}
		if n, err := strconv.ParseInt(tok, 10, 64); err == nil && strconv.FormatInt(n, 10) == tok {
			v.Int, v.IsInt = n, true
		}
		vals = append(vals, v)
		end++
	}
	return vals
}

// TestValuesAsText: rows given as values decode as their lines do, in
// every format (the column names as a header line or not), with absent,
// rejected and unmodelled values and rows that look like header lines.
func TestValuesAsText(t *testing.T) {
	for _, s := range []string{
		string(readTestdata(t, sampleFile)),
		string(readTestdata(t, "sample-v8.log")),
		string(readTestdata(t, "sample-custom.log")),
		"version srcport packets srcaddr encryption-status\n2 80 -1 1.2.3.4 3\n2 70000 1 - -\n- - - - -\n2 80 18446744073709551615 ::1 x",
		"srcaddr action\nregion type\n1.2.3.4 ACCEPT",                    // a row taken for a header line
		"srcaddr action\n" + strings.Repeat("1", 70<<10) + " OK",         // too long
		"SRCADDR ACTION\n" + lineA,                                       // not a header: candidate formats
		"interface-id version\neni-0a1b2c 9223372036854775807\neni-1 -2", // version out of range
	} {
		checkValues(t, s)
	}
}

// TestValuesTakeInts: a numeric field takes Int rather than parsing its
// token, the work Values saves.
func TestValuesTakeInts(t *testing.T) {
	d := newDecoder(t)
	var out Output
	d.Text("version srcport action", &out)
	d.Values("2 80 ACCEPT", []Value{{End: 1, Int: 3, IsInt: true}, {End: 4, Int: 81, IsInt: true}, {End: 11}}, 2, &out)
	if len(out.Records) != 1 {
		t.Fatalf("output %+v", out)
	}
	if r := out.Records[0]; r.Version != 3 || r.SrcPort != 81 || r.Action != "ACCEPT" || r.Raw != "2 80 ACCEPT" {
		t.Errorf("record %+v", r)
	}
}

// FuzzValues checks that Values agrees with Text on any input.
func FuzzValues(f *testing.F) {
	seedLines(f)
	f.Fuzz(checkValues)
}
