// Package elasticsearch indexes alerts into an Elasticsearch index, so
// that Kibana shows them beside the flows. The alert id is the document
// id: a redelivered alert, or one raised by another replica, is the same
// document.
package elasticsearch

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/flowhose/flowhose/sinks/alert"
	"github.com/flowhose/flowhose/stream/detect"
)

// Config is the Elasticsearch alerts destination's settings.
type Config struct {
	// URL is a node of the cluster.
	URL string `yaml:"url"`
	// Index receives one document per alert (@timestamp is its last_seen).
	Index string `yaml:"index"`
	// Username and Password enable basic authentication.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// APIKey is a base64 "id:key" API key; it wins over basic auth.
	APIKey string `yaml:"api_key"`
}

// DefaultConfig writes to flowhose-alerts on a local node.
func DefaultConfig() Config { return Config{URL: "http://127.0.0.1:9200", Index: "flowhose-alerts"} }

// indexName is what Elasticsearch accepts as an index name, roughly:
// lower case, no leading -, _ or +, none of its reserved characters.
var indexName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,254}$`)

// Validate checks the URL and the index name.
func (c Config) Validate() error {
	var errs []error
	if err := alert.CheckURL("url", c.URL); err != nil {
		errs = append(errs, err)
	}
	if !indexName.MatchString(c.Index) {
		errs = append(errs, fmt.Errorf("index: must be a lower-case index name, got %q", c.Index))
	}
	if (c.Username == "") != (c.Password == "") {
		errs = append(errs, errors.New("username: username and password go together"))
	}
	return errors.Join(errs...)
}

type destination struct {
	cfg    Config
	target string
	header http.Header
	client *http.Client
}

// Open builds the destination; it does not reach the cluster before the
// first alert, which is retried like any other delivery.
func Open(_ context.Context, cfg Config, deps alert.Deps) (alert.Destination, error) {
	h := http.Header{}
	switch {
	case cfg.APIKey != "":
		h.Set("Authorization", "ApiKey "+cfg.APIKey)
	case cfg.Username != "":
		h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(cfg.Username+":"+cfg.Password)))
	}
	return &destination{cfg: cfg, header: h, client: deps.HTTP,
		target: strings.TrimRight(cfg.URL, "/") + "/" + cfg.Index + "/_create/"}, nil
}

func (d *destination) Name() string { return "elasticsearch" }

// document is the alert with the @timestamp Kibana sorts by.
type document struct {
	Timestamp time.Time `json:"@timestamp"`
	*detect.Alert
}

func (d *destination) Send(ctx context.Context, a *detect.Alert) error {
	body, err := json.Marshal(document{Timestamp: a.LastSeen, Alert: a})
	if err != nil {
		return fmt.Errorf("encode alert: %w", err)
	}
	err = alert.Post(ctx, d.client, d.target+url.PathEscape(a.ID), body, d.header, "")
	var se *alert.StatusError
	if errors.As(err, &se) && se.Status == http.StatusConflict {
		return nil // indexed before: by a retry that timed out, or another replica
	}
	return err
}
