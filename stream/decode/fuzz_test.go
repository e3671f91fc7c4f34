package decode

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/flowhose/flowhose/stream"
)

// seedLines adds every sample line, with its format's header on top, and a
// few malformed variants.
func seedLines(f *testing.F) {
	var doc struct {
		Sections []struct {
			Format  string
			Records []struct{ Record string }
		}
	}
	if err := json.Unmarshal(readTestdata(f, "aws-docs-flow-log-record-examples.json"), &doc); err != nil {
		f.Fatal(err)
	}
	for _, sec := range doc.Sections {
		var b strings.Builder
		b.WriteString(sec.Format + "\n")
		for _, r := range sec.Records {
			b.WriteString(r.Record + "\n")
			f.Add(r.Record)
		}
		f.Add(b.String())
	}
	f.Add(string(readTestdata(f, sampleFile))[:2000])
	f.Add(lineA + "\r\n\t\n" + v2Header + "\n" + lineN)
	f.Add("2 1 eni-1 10.0.0.1 10.0.0.2 70000 2 6 3 4 5 6 ACCEPT OK")
	f.Add("version srcaddr resource-id\n7 ::1 x\n9 1.2.3.4 -")
}

// FuzzText checks that Text never panics, that records, failures and
// skipped headers account for every non-blank line, that Text agrees with
// Line called line by line, and that every record re-renders to a line that
// decodes to the same record.
func FuzzText(f *testing.F) {
	seedLines(f)
	f.Fuzz(func(t *testing.T, s string) {
		d := newDecoder(t, DefaultFormatString, natFormat, v5Format)
		var out Output
		d.Text(s, &out)

		ref := newDecoder(t, DefaultFormatString, natFormat, v5Format)
		nonBlank, records, skipped := 0, 0, 0
		for _, line := range strings.Split(s, "\n") {
			if strings.Trim(line, " \t\r") == "" {
				continue
			}
			nonBlank++
			var r stream.Record
			switch err := ref.Line(line, &r); {
			case err == ErrHeader:
				skipped++
			case err != nil:
			default:
				if records >= len(out.Records) || !reflect.DeepEqual(out.Records[records], r) {
					t.Fatalf("Text and Line disagree on %q", line)
				}
				records++
				checkRoundTrip(t, ref, line, &r)
			}
		}
		if records != len(out.Records) || skipped != out.Skipped || nonBlank != records+len(out.Failures)+skipped {
			t.Fatalf("%d non-blank lines, Text gave %d records, %d failures, %d skipped; Line gave %d records, %d skipped",
				nonBlank, len(out.Records), len(out.Failures), out.Skipped, records, skipped)
		}
		for _, fl := range out.Failures {
			if fl.Reason == "" || !utf8.ValidString(fl.Input) {
				t.Fatalf("bad failure %+v", fl)
			}
		}
	})
}

// checkRoundTrip renders r with the format that decoded it and decodes the
// result again: a field that landed in the wrong slot or was mis-parsed
// shows up as a difference. String fields must equal their input tokens.
func checkRoundTrip(t *testing.T, d *Decoder, line string, r *stream.Record) {
	toks := strings.FieldsFunc(line, func(c rune) bool { return c == ' ' || c == '\t' || c == '\r' })
	f := d.formatFor(len(toks))
	if f == nil {
		t.Fatalf("decoded %q without a format for %d tokens", line, len(toks))
	}
	for i, field := range f.fields {
		switch field {
		case stream.FieldAccountID, stream.FieldInterfaceID, stream.FieldAction, stream.FieldLogStatus,
			stream.FieldInstanceID, stream.FieldType, stream.FieldRegion, stream.FieldFlowDirection:
			if got := fieldText(r, field); got != toks[i] {
				t.Fatalf("%s = %q, token was %q", field, got, toks[i])
			}
		}
	}
	again := render(f, r)
	var r2 stream.Record
	if err := d.Line(again, &r2); err != nil {
		t.Fatalf("re-rendered %q as %q which fails: %v", line, again, err)
	}
	r2.Raw = r.Raw
	if !reflect.DeepEqual(*r, r2) {
		t.Fatalf("round trip of %q via %q changed the record:\n%+v\n%+v", line, again, *r, r2)
	}
}

// FuzzPayload checks that Payload never panics on any bytes, keeps failure
// inputs valid UTF-8, yields one line per record, treats plain text
// exactly as Text does and JSON exactly as encoding/json (jsonEnvelopes)
// does.
func FuzzPayload(f *testing.F) {
	f.Add([]byte(lineA + "\n" + lineB))
	f.Add([]byte(`{"message":"` + lineA + `"}` + "\n" + `{"message":"` + lineN + `"}`))
	f.Add([]byte(cwl(f, "DATA_MESSAGE", lineA, "bad", lineB)))
	f.Add(gz(f, cwl(f, "DATA_MESSAGE", lineA, lineN)))
	f.Add(gz(f, cwl(f, "CONTROL_MESSAGE", "CWL CONTROL MESSAGE")))
	f.Add(gz(f, v2Header+"\n"+lineA+"\n"))
	f.Add(readTestdata(f, "cloudwatch-logs-event.json"))
	f.Add([]byte(`{"messageType":"DATA_MESSAGE","logEvents":[{"message":5}]}{"message":`))
	f.Add([]byte{0x1f, 0x8b, 0x08, 0x00})
	f.Add([]byte(`{"message":"2 1 eni-1 - - - - - - - 5 6 - NODATA"} {"message":"\u0032 x"}`))
	for _, v := range cwlVariants {
		f.Add([]byte(v.doc))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d := newDecoderOpts(t, Options{MaxDecompressedBytes: 1 << 20, Source: "fuzz"})
		var out Output
		d.Payload(data, &out)
		for _, fl := range out.Failures {
			if fl.Reason == "" || !utf8.ValidString(fl.Input) || fl.Source != "fuzz" {
				t.Fatalf("bad failure %+v", fl)
			}
		}
		for i := range out.Records {
			if r := &out.Records[i]; r.Raw == "" || strings.ContainsAny(r.Raw, "\n") {
				t.Fatalf("record %d has Raw %q", i, r.Raw)
			}
		}
		// The wrapper and CloudWatch Logs fast paths must agree with the
		// general JSON decoder.
		if isJSON(data) {
			var want Output
			newDecoderOpts(t, Options{MaxDecompressedBytes: 1 << 20, Source: "fuzz"}).jsonEnvelopes(data, 1, &want)
			if !reflect.DeepEqual(out, want) {
				t.Fatalf("fast path and JSON decoder disagree:\n%+v\n%+v", out, want)
			}
		}
		// Plain text must decode exactly as Text decodes it.
		if !isJSON(data) && !(len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b) {
			var want Output
			newDecoderOpts(t, Options{MaxDecompressedBytes: 1 << 20, Source: "fuzz"}).Text(string(data), &want)
			if !reflect.DeepEqual(out, want) {
				t.Fatalf("Payload and Text disagree on plain input")
			}
		}
	})
}

func newDecoderOpts(t *testing.T, opts Options) *Decoder {
	t.Helper()
	d, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// FuzzParseAddr cross-checks the IPv4 fast path against netip.ParseAddr:
// whatever it accepts, netip must accept as the same address.
func FuzzParseAddr(f *testing.F) {
	for _, s := range []string{"10.0.0.1", "255.255.255.255", "0.0.0.0", "01.2.3.4", "1.2.3.256", "1.2.3", "1.2.3.4.5",
		"1..2.3", "1.2.3.4.", "::1", "::ffff:1.2.3.4", "1.2.3.-4", "1.2.3.04", "a.b.c.d", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := netip.ParseAddr(s)
		got, ok := parseIPv4(s)
		if ok && (err != nil || got != want) {
			t.Fatalf("parseIPv4(%q) = %v, netip says %v, %v", s, got, want, err)
		}
		if !ok && err == nil && want.Is4() {
			t.Fatalf("parseIPv4(%q) rejected a valid IPv4 address", s)
		}
	})
}

// FuzzCloudWatch puts fuzzed text, raw, into the places of a CloudWatch
// Logs document, so that the fast path meets near misses of the shape it
// takes (escapes, control characters, odd keys and values), and checks it
// against encoding/json, which FuzzPayload's random bytes rarely get to.
func FuzzCloudWatch(f *testing.F) {
	f.Add("DATA_MESSAGE", "vpc-flow-logs", "subscriptionFilters", `["to-firehose"]`, lineA)
	f.Add("CONTROL_MESSAGE", "", "policyLevel", `"ACCOUNT_LEVEL_POLICY"`, "CWL CONTROL MESSAGE")
	f.Add("DATA_MESSAGE", `a\"b`, "LogGroup", `"x"`, lineA+`\n`+lineN)
	f.Add("DATA_MESSAGE", "grüße", "n", "-0.5e+10", "2 \xff")
	f.Add("DATA_MESSAGE", "g", "logEvents", "[]", lineA)
	f.Fuzz(func(t *testing.T, messageType, group, key, value, message string) {
		doc := `{"messageType":"` + messageType + `","logGroup":"` + group + `","` + key + `":` + value +
			`,"logEvents":[{"id":"1","timestamp":1,"message":"` + message + `"},{"message":"` + lineB + `"}]}`
		data := []byte(doc + "\n" + doc)
		var got, want Output
		newDecoderOpts(t, Options{Source: "fuzz"}).Payload(data, &got)
		newDecoderOpts(t, Options{Source: "fuzz"}).jsonEnvelopes(data, 1, &want)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q\nfast path %+v\nencoding/json %+v", data, got, want)
		}
	})
}
