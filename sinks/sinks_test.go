package sinks

import (
	"context"
	"errors"
	"strings"
	"testing"

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
