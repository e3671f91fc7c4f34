package elasticsearch

import (
	"compress/gzip"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/elastic/elastic-transport-go/v8/elastictransport"
	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/flowhose/flowhose/config/redact"
	"github.com/flowhose/flowhose/sinks/internal/retry"
)

// Target modes.
const (
	// TargetDataStream writes to the data stream logs-<dataset>-<namespace>.
	TargetDataStream = "data_stream"
	// TargetIndex writes to daily indices <index_prefix>YYYY.MM.DD, the day
	// taken from each document's @timestamp.
	TargetIndex = "index"
)

// maxFlushBytes is the largest flush_bytes: see Config.FlushBytes.
const maxFlushBytes = 64 << 20

// Config configures the Elasticsearch sink (sinks.elasticsearch).
type Config struct {
	// URLs are the nodes to send to; ignored when CloudID is set.
	URLs []string `yaml:"urls"`
	// CloudID is an Elastic Cloud deployment id, instead of URLs.
	CloudID string `yaml:"cloud_id"`
	// Username and Password enable basic authentication.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// APIKey is a base64 "id:key" API key; it wins over basic auth.
	APIKey string `yaml:"api_key"`
	// BearerToken is sent as "Authorization: Bearer" (service tokens).
	BearerToken string `yaml:"bearer_token"`
	// CAFile is a PEM file of certificate authorities trusted for HTTPS,
	// replacing the system pool.
	CAFile string `yaml:"ca_file"`

	// Target is "data_stream" or "index".
	Target string `yaml:"target"`
	// Dataset and Namespace name the data stream logs-<dataset>-<namespace>
	// and fill data_stream.* and event.dataset in every document.
	Dataset   string `yaml:"dataset"`
	Namespace string `yaml:"namespace"`
	// IndexPrefix names daily indices when Target is "index".
	IndexPrefix string `yaml:"index_prefix"`
	// EventOriginal adds event.original with the raw flow-log line.
	EventOriginal bool `yaml:"event_original"`

	// Template installs the composable index template at Setup when no
	// template of that name exists.
	Template bool `yaml:"template"`
	// TemplateOverwrite replaces an existing template of that name.
	TemplateOverwrite bool   `yaml:"template_overwrite"`
	TemplateName      string `yaml:"template_name"`
	// TemplatePriority must beat other templates matching the same pattern
	// (Elastic's built-in logs-*-* template has 100).
	TemplatePriority int `yaml:"template_priority"`
	Shards           int `yaml:"shards"`
	Replicas         int `yaml:"replicas"`

	// FlushBytes ends a bulk request when its uncompressed body reaches
	// this size (1 KiB to 64 MiB). Elasticsearch answers 413 to bodies over
	// http.max_content_length (100 MiB by default).
	// A request passes flush_bytes by the one document that reaches it
	// (with event_original that holds its raw line, up to
	// decode.max_line_bytes, at most 16 MiB): 64 MiB keeps the default limit
	// out of reach, and larger requests index no faster. A request over a
	// lower limit of the node or a proxy is split in halves until it fits.
	FlushBytes int64 `yaml:"flush_bytes"`
	// FlushDocs and FlushInterval also end a bulk request: whichever of the
	// three is reached first.
	FlushDocs     int           `yaml:"flush_docs"`
	FlushInterval time.Duration `yaml:"flush_interval"`
	// Workers is the number of concurrent bulk requests. Accept blocks
	// while all of them are busy and QueuedRequests more are waiting.
	Workers        int `yaml:"workers"`
	QueuedRequests int `yaml:"queued_requests"`
	// Compress gzips request bodies at CompressionLevel (1 fastest, 9 smallest).
	Compress         bool `yaml:"compress"`
	CompressionLevel int  `yaml:"compression_level"`
	// RequestTimeout bounds one bulk request.
	RequestTimeout time.Duration `yaml:"request_timeout"`

	retry.Policy `yaml:",inline"`
}

// DefaultConfig returns a configuration for a local node at
// http://127.0.0.1:9200 writing the data stream logs-aws.vpcflow-default.
func DefaultConfig() Config {
	return Config{
		URLs:             []string{"http://127.0.0.1:9200"},
		Target:           TargetDataStream,
		Dataset:          "aws.vpcflow",
		Namespace:        "default",
		IndexPrefix:      "flowhose-vpcflow-",
		Template:         true,
		TemplateName:     "flowhose-vpcflow",
		TemplatePriority: 200,
		Shards:           1,
		Replicas:         1,
		FlushBytes:       5 << 20,
		FlushDocs:        5000,
		FlushInterval:    time.Second,
		Workers:          2,
		QueuedRequests:   1,
		Compress:         true,
		CompressionLevel: gzip.BestSpeed,
		RequestTimeout:   time.Minute,
		Policy:           retry.DefaultPolicy(),
	}
}

// Elasticsearch's rules for index names, narrowed to what flowhose needs:
// lowercase, no separators that would break the logs-<dataset>-<namespace>
// scheme.
var (
	datasetRe   = regexp.MustCompile(`^[a-z0-9_.]{1,100}$`)
	namespaceRe = regexp.MustCompile(`^[a-z0-9_.]{1,100}$`)
	prefixRe    = regexp.MustCompile(`^[a-z0-9][a-z0-9_.\-]{0,200}$`)
)

// Validate reports the first invalid key.
func (c Config) Validate() error {
	if c.CloudID == "" {
		if len(c.URLs) == 0 {
			return errors.New("urls: at least one URL is required unless cloud_id is set")
		}
		for _, u := range c.URLs {
			p, err := url.Parse(u)
			if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
				return fmt.Errorf("urls: must be http:// or https:// URLs, got %q", redact.URL(u))
			}
		}
	}
	if (c.Username == "") != (c.Password == "") {
		return errors.New("username, password: set both or neither")
	}
	switch c.Target {
	case TargetDataStream, TargetIndex:
	default:
		return fmt.Errorf("target: must be %q or %q, got %q", TargetDataStream, TargetIndex, c.Target)
	}
	if !datasetRe.MatchString(c.Dataset) {
		return fmt.Errorf("dataset: must be 1 to 100 of a-z 0-9 _ ., got %q", c.Dataset)
	}
	if !namespaceRe.MatchString(c.Namespace) {
		return fmt.Errorf("namespace: must be 1 to 100 of a-z 0-9 _ ., got %q", c.Namespace)
	}
	if c.Target == TargetIndex && !prefixRe.MatchString(c.IndexPrefix) {
		return fmt.Errorf("index_prefix: must start with a-z or 0-9 and hold only a-z 0-9 _ . -, got %q", c.IndexPrefix)
	}
	if c.Template && c.TemplateName == "" {
		return errors.New("template_name: required when template is true")
	}
	if c.TemplatePriority < 0 {
		return fmt.Errorf("template_priority: must be at least 0, got %d", c.TemplatePriority)
	}
	if c.Shards < 1 || c.Shards > 1024 {
		return fmt.Errorf("shards: must be between 1 and 1024, got %d", c.Shards)
	}
	if c.Replicas < 0 || c.Replicas > 32 {
		return fmt.Errorf("replicas: must be between 0 and 32, got %d", c.Replicas)
	}
	if c.FlushBytes < 1024 || c.FlushBytes > maxFlushBytes {
		return fmt.Errorf("flush_bytes: must be between 1024 and %d, got %d", maxFlushBytes, c.FlushBytes)
	}
	if c.FlushDocs < 1 || c.FlushDocs > 1_000_000 {
		return fmt.Errorf("flush_docs: must be between 1 and 1000000, got %d", c.FlushDocs)
	}
	if c.FlushInterval < time.Millisecond {
		return fmt.Errorf("flush_interval: must be at least 1ms, got %s", c.FlushInterval)
	}
	if c.Workers < 1 || c.Workers > 256 {
		return fmt.Errorf("workers: must be between 1 and 256, got %d", c.Workers)
	}
	if c.QueuedRequests < 0 || c.QueuedRequests > 1024 {
		return fmt.Errorf("queued_requests: must be between 0 and 1024, got %d", c.QueuedRequests)
	}
	if c.Compress && (c.CompressionLevel < gzip.BestSpeed || c.CompressionLevel > gzip.BestCompression) {
		return fmt.Errorf("compression_level: must be between 1 and 9, got %d", c.CompressionLevel)
	}
	if c.RequestTimeout <= 0 {
		return fmt.Errorf("request_timeout: must be positive, got %s", c.RequestTimeout)
	}
	return c.Policy.Validate()
}

// dataStream is the data stream name for the configured dataset and namespace.
func (c Config) dataStream() string { return "logs-" + c.Dataset + "-" + c.Namespace }

// indexPattern is what the index template matches.
func (c Config) indexPattern() string {
	if c.Target == TargetDataStream {
		return "logs-" + c.Dataset + "-*"
	}
	return c.IndexPrefix + "*"
}

// newClient builds the transport the sink's esapi requests go through:
// elastic-transport-go alone, not the go-elasticsearch client, whose
// typed API (some 850 packages) the sink never calls. Retries are the
// sink's job, so the transport's own are off.
func (c Config) newClient() (*productCheck, error) {
	addrs := c.URLs
	if c.CloudID != "" {
		addr, err := cloudAddress(c.CloudID)
		if err != nil {
			return nil, fmt.Errorf("cloud_id: %w", err)
		}
		addrs = []string{addr}
	}
	urls := make([]*url.URL, len(addrs))
	for i, a := range addrs {
		u, err := url.Parse(strings.TrimRight(a, "/"))
		if err != nil {
			return nil, fmt.Errorf("urls: %w", err)
		}
		urls[i] = u
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	// One idle connection per worker, plus one for Setup and searches.
	t.MaxIdleConnsPerHost = c.Workers + 1
	t.ResponseHeaderTimeout = c.RequestTimeout
	opts := []elastictransport.Option{
		elastictransport.WithURLs(urls...),
		elastictransport.WithTransport(t),
		elastictransport.WithDisableRetry(),
		elastictransport.WithUserAgent("flowhose"),
	}
	switch {
	case c.APIKey != "":
		opts = append(opts, elastictransport.WithAPIKey(c.APIKey))
	case c.Username != "":
		opts = append(opts, elastictransport.WithBasicAuth(c.Username, c.Password))
	}
	if c.BearerToken != "" {
		opts = append(opts, elastictransport.WithServiceToken(c.BearerToken))
	}
	if c.Compress {
		opts = append(opts, elastictransport.WithCompression(c.CompressionLevel))
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		opts = append(opts, elastictransport.WithCACert(pem))
	}
	tp, err := elastictransport.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("elasticsearch client: %w", err)
	}
	return &productCheck{t: tp}, nil
}

// cloudAddress is the Elasticsearch URL of an Elastic Cloud id,
// "name:base64(host$es-id$kibana-id)": https://<es-id>.<host>.
func cloudAddress(id string) (string, error) {
	_, enc, ok := strings.Cut(id, ":")
	if !ok {
		return "", errors.New("want <name>:<base64>")
	}
	dec, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return "", fmt.Errorf("want <name>:<base64>: %w", err)
	}
	parts := strings.Split(string(dec), "$")
	if len(parts) < 2 || parts[0] == "" || parts[1] == "" {
		return "", errors.New("the encoded part must be <host>$<elasticsearch id>[$...]")
	}
	return "https://" + parts[1] + "." + parts[0], nil
}

// productCheck fails every 2xx answer without "X-Elastic-Product:
// Elasticsearch", which Elasticsearch sends since 7.14: a proxy or another
// product answering 200 must not acknowledge documents. (The
// go-elasticsearch client checks only the first answer.) OpenSearch sends
// no such header: an answer without it passes once GET / has shown an
// OpenSearch node (openSearch), asked by Setup or at the first such answer.
type productCheck struct {
	t          esapi.Transport
	openSearch atomic.Bool
}

// Perform implements esapi.Transport.
func (p *productCheck) Perform(req *http.Request) (*http.Response, error) {
	res, err := p.t.Perform(req)
	if err != nil || res.StatusCode < 200 || res.StatusCode >= 300 || isElasticsearch(res.Header) || p.openSearch.Load() {
		return res, err
	}
	if ok, _ := p.isOpenSearch(req.Context()); ok {
		return res, nil
	}
	res.Body.Close()
	return nil, fmt.Errorf("%s answered %s without the header X-Elastic-Product: Elasticsearch: not an Elasticsearch node", req.URL.Host, res.Status)
}

func isElasticsearch(h http.Header) bool {
	return h.Get("X-Elastic-Product") == "Elasticsearch"
}
