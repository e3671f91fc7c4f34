package awsip

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestReloadFromURL(t *testing.T) {
	small, err := os.ReadFile("testdata/small.json")
	if err != nil {
		t.Fatal(err)
	}
	var broken atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if broken.Load() {
			w.Write([]byte(`{"prefixes": [`))
			return
		}
		w.Write(small)
	}))
	defer srv.Close()

	cfg := DefaultConfig()
	cfg.URL = srv.URL
	reg := prometheus.NewRegistry()
	r, err := New(cfg, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.MustParseAddr("198.51.100.9")
	if _, ok := r.Lookup(addr); ok {
		t.Fatal("documentation address matched the embedded table")
	}
	if err := r.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if rg, ok := r.Lookup(addr); !ok || rg.Service != "S3" {
		t.Fatalf("after reload got %+v, want S3", rg)
	}
	broken.Store(true)
	if err := r.Reload(context.Background()); err == nil {
		t.Fatal("truncated document accepted")
	}
	if rg, ok := r.Lookup(addr); !ok || rg.Service != "S3" {
		t.Fatalf("failed reload lost the table: %+v", rg)
	}
	if got := testutil.ToFloat64(r.loads.WithLabelValues("error")); got != 1 {
		t.Errorf("error count = %v, want 1", got)
	}
	if got := testutil.ToFloat64(r.syncToken); got != 1700000000 {
		t.Errorf("sync token gauge = %v", got)
	}
}

func TestReloadFromFileLimits(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ip-ranges.json")
	big := `{"syncToken":"2","prefixes":[` + strings.Repeat(`{"ip_prefix":"192.0.2.0/24","service":"S3"},`, 100) + `{"ip_prefix":"192.0.2.0/24","service":"S3"}]}`
	if err := os.WriteFile(path, []byte(big), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.File = path
	cfg.MaxBytes = 1024
	r, err := New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = r.Reload(context.Background())
	if err == nil || !strings.Contains(err.Error(), "max_bytes") {
		t.Fatalf("err = %v, want a max_bytes error", err)
	}
	cfg.MaxBytes = 1 << 20
	r, _ = New(cfg, nil, nil)
	if err := r.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r.Table().SyncToken != "2" {
		t.Errorf("sync token %q", r.Table().SyncToken)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"default", func(*Config) {}, ""},
		{"both", func(c *Config) { c.URL, c.File = "https://x/y", "/f" }, "url, file"},
		{"bad url", func(c *Config) { c.URL = "ftp://x" }, "url:"},
		{"short refresh", func(c *Config) { c.Refresh = 1 }, "refresh:"},
		{"timeout", func(c *Config) { c.Timeout = 0 }, "timeout:"},
		{"max bytes", func(c *Config) { c.MaxBytes = 0 }, "max_bytes:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mod(&c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
