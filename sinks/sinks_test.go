package sinks

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/flowhose/flowhose/stream"
)

type testConfig struct{ Bad bool }

func (c testConfig) Validate() error {
	if c.Bad {
		return errors.New("bad: must be false")
	}
	return nil
}

type testSink struct{ closed *[]string }

func (testSink) Name() string                                { return "test" }
func (testSink) Accept(context.Context, *stream.Batch) error { return nil }
func (s testSink) Close(context.Context) error               { *s.closed = append(*s.closed, "closed"); return nil }

func TestOpenAllClosesWhatOpenedWhenOneFails(t *testing.T) {
	var closed []string
	ok := func(context.Context, testConfig, Deps) (stream.Sink, error) { return testSink{&closed}, nil }
	fail := func(context.Context, testConfig, Deps) (stream.Sink, error) { return nil, errors.New("cannot reach") }
	def := func() testConfig { return testConfig{} }
	var a, b, c Section[testConfig]
	fs := []Factory{Register("a", &a, def, ok), Register("b", &b, def, ok), Register("c", &c, def, fail)}
	a.Enabled, c.Enabled = true, true
	_, err := OpenAll(context.Background(), fs, Deps{})
	if err == nil || !strings.Contains(err.Error(), "sink c: cannot reach") {
		t.Fatalf("err = %v", err)
	}
	if len(closed) != 1 {
		t.Errorf("closed %d sinks, want the one opened (b is disabled)", len(closed))
	}
}

func TestSectionValidatesOnlyWhenEnabled(t *testing.T) {
	s := Section[testConfig]{Config: testConfig{Bad: true}}
	f := Register("x", &s, func() testConfig { return testConfig{} }, nil)
	if err := f.Validate(); err != nil {
		t.Errorf("disabled section: %v", err)
	}
	s.Enabled = true
	if err := f.Validate(); err == nil {
		t.Error("enabled bad section passed")
	}
	f.SetDefault()
	if s.Enabled || s.Config.Bad {
		t.Errorf("SetDefault left %+v", s)
	}
}

func TestOpenAllAppliesTheFilter(t *testing.T) {
	var got []string
	rec := func(context.Context, testConfig, Deps) (stream.Sink, error) { return recordingSink{&got}, nil }
	s := Section[testConfig]{Enabled: true}
	if err := s.Filter.UnmarshalText([]byte("keep: [{action: REJECT}]")); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	opened, err := OpenAll(context.Background(), []Factory{Register("rec", &s, func() testConfig { return testConfig{} }, rec)}, Deps{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	b := &stream.Batch{Records: []stream.Record{{Raw: "a", Action: "ACCEPT"}, {Raw: "r", Action: "REJECT"}}, Ack: stream.NewAck()}
	b.Records[0].Present.Add(stream.FieldAction)
	b.Records[1].Present.Add(stream.FieldAction)
	b.Ack.Add(1)
	if err := opened[0].Accept(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	b.Ack.Done(nil)
	if err := b.Ack.Wait(context.Background()); err != nil || len(got) != 1 || got[0] != "r" {
		t.Errorf("sink got %q (ack %v), want the REJECT only", got, err)
	}
	want := `
# HELP flowhose_sink_filter_records_total Records a sink's routing filter kept or dropped (sinks with a filter only).
# TYPE flowhose_sink_filter_records_total counter
flowhose_sink_filter_records_total{decision="dropped",sink="rec"} 1
flowhose_sink_filter_records_total{decision="kept",sink="rec"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "flowhose_sink_filter_records_total"); err != nil {
		t.Error(err)
	}
}

type recordingSink struct{ got *[]string }

func (recordingSink) Name() string { return "rec" }
func (s recordingSink) Accept(_ context.Context, b *stream.Batch) error {
	for _, r := range b.Records {
		*s.got = append(*s.got, r.Raw)
	}
	b.Ack.Done(nil)
	return nil
}
func (recordingSink) Close(context.Context) error { return nil }
