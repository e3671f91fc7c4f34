package source

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
)

type testConfig struct {
	Path string
	Bad  bool
}

func (c testConfig) Validate() error {
	if c.Bad {
		return errors.New("bad: must be false")
	}
	return nil
}

func (c testConfig) HTTPPath() string { return c.Path }

type loopConfig struct{}

func (loopConfig) Validate() error { return nil }

func TestFactory(t *testing.T) {
	var s Section[testConfig]
	var got Deps
	f := Register("test", &s, func() testConfig { return testConfig{Path: "/in"} },
		func(_ context.Context, cfg testConfig, deps Deps) (Source, error) {
			got = deps
			return Source{Path: cfg.Path, Handler: http.NotFoundHandler()}, nil
		})
	f.SetDefault()
	if f.Enabled() || f.Path() != "/in" {
		t.Fatalf("after SetDefault: enabled %v path %q", f.Enabled(), f.Path())
	}
	s.Config.Bad = true
	if err := f.Validate(); err != nil {
		t.Errorf("a disabled section is not validated, got %v", err)
	}
	s.Enabled = true
	if err := f.Validate(); err == nil || !strings.HasPrefix(err.Error(), "bad:") {
		t.Errorf("Validate = %v, want the config's error", err)
	}
	srcs, err := OpenAll(context.Background(), []Factory{f}, Deps{})
	if err != nil || len(srcs) != 1 || srcs[0].Path != "/in" {
		t.Fatalf("OpenAll = %+v, %v", srcs, err)
	}
	if got.Decode.Source != "test" {
		t.Errorf("decode source = %q, want the source's name", got.Decode.Source)
	}
}

func TestFactoryWithoutPath(t *testing.T) {
	s := Section[loopConfig]{Enabled: true}
	f := Register("loop", &s, func() loopConfig { return loopConfig{} },
		func(context.Context, loopConfig, Deps) (Source, error) {
			return Source{Handler: http.NotFoundHandler()}, nil
		})
	if f.Path() != "" {
		t.Errorf("Path = %q for a config without HTTPPath", f.Path())
	}
	if _, err := f.Open(context.Background(), Deps{}); err == nil || !strings.Contains(err.Error(), "source loop: a handler without a path") {
		t.Errorf("Open = %v, want the missing path refused", err)
	}
}
