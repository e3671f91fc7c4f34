package hec

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/flowhose/flowhose/stream"
)

const line = "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK"

func rec(raw string, fields ...stream.Field) *stream.Record {
	r := &stream.Record{Raw: raw, Start: 1418530010, End: 1418530070}
	for _, f := range fields {
		r.Present.Add(f)
	}
	return r
}

func TestAppend(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		rec  *stream.Record
		want string
	}{
		{"defaults, end time", DefaultConfig(), rec(line, stream.FieldStart, stream.FieldEnd),
			`{"time":1418530070,"event":"` + line + `","sourcetype":"aws:cloudwatchlogs:vpcflow"}`},
		{"start only", DefaultConfig(), rec("x", stream.FieldStart),
			`{"time":1418530010,"event":"x","sourcetype":"aws:cloudwatchlogs:vpcflow"}`},
		{"no time", Config{}, rec("x"), `{"event":"x"}`},
		{"all metadata", Config{Source: "vpcflow:fl-1", Sourcetype: "st", Index: "aws_vpc", Host: "h\"1"}, rec("x", stream.FieldEnd),
			`{"time":1418530070,"event":"x","host":"h\"1","source":"vpcflow:fl-1","sourcetype":"st","index":"aws_vpc"}`},
		{"escapes", Config{}, rec("a\"b\\c\td\x01\xffé"), `{"event":"a\"b\\c\td\u0001` + "\uFFFD" + `é"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := NewEncoder(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			got := string(e.Append(nil, tt.rec))
			if got != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
			if !json.Valid([]byte(got)) {
				t.Fatal("invalid JSON")
			}
		})
	}
}

func TestValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	err := Config{Index: strings.Repeat("x", 1025), Host: "\xff"}.Validate()
	for _, want := range []string{"index: must be valid UTF-8 of at most 1024 bytes, got 1025 bytes", "host:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want %q", err, want)
		}
	}
	if _, err := NewEncoder(Config{Host: "\xff"}); err == nil {
		t.Error("NewEncoder accepted an invalid config")
	}
}

func BenchmarkAppend(b *testing.B) {
	e, _ := NewEncoder(DefaultConfig())
	r := rec(line, stream.FieldStart, stream.FieldEnd)
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = e.Append(buf[:0], r)
	}
}
