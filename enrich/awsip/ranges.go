package awsip

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/flowhose/flowhose/config/redact"
)

// Config selects where the table comes from and how often it is reloaded.
type Config struct {
	// URL to download ip-ranges.json from; empty disables downloads.
	URL string `yaml:"url"`
	// File to read ip-ranges.json from instead of URL; empty disables it.
	File string `yaml:"file"`
	// Refresh is the reload interval for URL or File; 0 loads once at start.
	Refresh time.Duration `yaml:"refresh"`
	// Timeout bounds one download.
	Timeout time.Duration `yaml:"timeout"`
	// MaxBytes bounds the document size (the 2026 file is about 2.6 MB).
	MaxBytes int64 `yaml:"max_bytes"`
}

// DefaultConfig uses the embedded snapshot only: no download unless a URL
// or file is configured.
func DefaultConfig() Config {
	return Config{Refresh: 12 * time.Hour, Timeout: 30 * time.Second, MaxBytes: 32 << 20}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.URL != "" && c.File != "" {
		errs = append(errs, fmt.Errorf("url, file: set at most one, got url %q and file %q", redact.URL(c.URL), c.File))
	}
	if c.URL != "" {
		u, err := url.Parse(c.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("url: must be an absolute http or https URL, got %q", redact.URL(c.URL)))
		}
	}
	if c.Refresh < 0 {
		errs = append(errs, fmt.Errorf("refresh: must be 0 (load once) or positive, got %s", c.Refresh))
	}
	if c.Refresh > 0 && c.Refresh < time.Minute {
		errs = append(errs, fmt.Errorf("refresh: must be at least 1m to stay polite, got %s", c.Refresh))
	}
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("timeout: must be positive, got %s", c.Timeout))
	}
	if c.MaxBytes < 1024 || c.MaxBytes > 1<<30 {
		errs = append(errs, fmt.Errorf("max_bytes: must be between 1024 and 1073741824, got %d", c.MaxBytes))
	}
	return errors.Join(errs...)
}

// Ranges holds the current Table and swaps in a new one atomically when a
// reload succeeds; a failed reload keeps the old table.
type Ranges struct {
	cfg    Config
	client *http.Client
	log    *slog.Logger
	cur    atomic.Pointer[Table]

	loads     *prometheus.CounterVec
	syncToken prometheus.Gauge
}

// New starts from the embedded snapshot. Call Run to load the configured
// URL or file and keep refreshing it.
func New(cfg Config, reg prometheus.Registerer, log *slog.Logger) (*Ranges, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("awsip: %w", err)
	}
	t, err := Default()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	f := promauto.With(reg)
	r := &Ranges{
		cfg:    cfg,
		client: &http.Client{Timeout: cfg.Timeout},
		log:    log,
		loads: f.NewCounterVec(prometheus.CounterOpts{
			Name: "flowhose_enrich_awsip_loads_total",
			Help: "ip-ranges reload attempts by result (ok, unchanged, error).",
		}, []string{"result"}),
		syncToken: f.NewGauge(prometheus.GaugeOpts{
			Name: "flowhose_enrich_awsip_sync_token",
			Help: "syncToken (publication time, Unix seconds) of the ip-ranges table in use.",
		}),
	}
	r.swap(t)
	return r, nil
}

// Table returns the table in use.
func (r *Ranges) Table() *Table { return r.cur.Load() }

// Lookup looks a up in the table in use.
func (r *Ranges) Lookup(a netip.Addr) (*Range, bool) { return r.cur.Load().Lookup(a) }

func (r *Ranges) swap(t *Table) {
	r.cur.Store(t)
	if n, err := strconv.ParseFloat(t.SyncToken, 64); err == nil {
		r.syncToken.Set(n)
	}
}

// Run loads the configured source now and then every Refresh until ctx
// ends. Without a URL or file it returns at once.
func (r *Ranges) Run(ctx context.Context) {
	if r.cfg.URL == "" && r.cfg.File == "" {
		return
	}
	r.Reload(ctx)
	if r.cfg.Refresh == 0 {
		return
	}
	tick := time.NewTicker(r.cfg.Refresh)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			r.Reload(ctx)
		}
	}
}

// Reload loads the configured source once and swaps the table in if its
// syncToken differs. Errors are logged, counted and returned.
func (r *Ranges) Reload(ctx context.Context) error {
	t, err := r.load(ctx)
	if err != nil {
		r.loads.WithLabelValues("error").Inc()
		r.log.Warn("ip-ranges reload failed; keeping the current table", "err", err, "sync_token", r.Table().SyncToken)
		return err
	}
	if t.SyncToken != "" && t.SyncToken == r.Table().SyncToken {
		r.loads.WithLabelValues("unchanged").Inc()
		return nil
	}
	r.swap(t)
	r.loads.WithLabelValues("ok").Inc()
	r.log.Info("ip-ranges table loaded", "sync_token", t.SyncToken, "create_date", t.CreateDate, "prefixes", t.Len())
	return nil
}

func (r *Ranges) load(ctx context.Context) (*Table, error) {
	if r.cfg.File != "" {
		f, err := os.Open(r.cfg.File)
		if err != nil {
			return nil, fmt.Errorf("ip-ranges file: %w", err)
		}
		defer f.Close()
		return r.parseLimited(f, r.cfg.File)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.cfg.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("ip-ranges request: %w", err)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("ip-ranges download: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("ip-ranges download %s: status %s", r.cfg.URL, resp.Status)
	}
	return r.parseLimited(resp.Body, r.cfg.URL)
}

func (r *Ranges) parseLimited(rd io.Reader, from string) (*Table, error) {
	lr := &io.LimitedReader{R: rd, N: r.cfg.MaxBytes + 1}
	t, err := Parse(lr)
	if lr.N == 0 {
		return nil, fmt.Errorf("ip-ranges %s: larger than max_bytes %d", from, r.cfg.MaxBytes)
	}
	if err != nil {
		return nil, fmt.Errorf("ip-ranges %s: %w", from, err)
	}
	return t, nil
}
