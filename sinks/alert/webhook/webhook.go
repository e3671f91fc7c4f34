// Package webhook posts alerts as JSON to any HTTP endpoint, signed the
// way GitHub signs its webhooks (X-Hub-Signature-256) and as Standard
// Webhooks do (webhook-id, webhook-timestamp, webhook-signature).
package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/flowhose/flowhose/sinks/alert"
	"github.com/flowhose/flowhose/stream/detect"
)

// Config is the webhook destination's settings.
type Config struct {
	// URL receives a POST of each alert as JSON.
	URL string `yaml:"url"`
	// Secret signs each body (HMAC-SHA256); a value starting with whsec_
	// is a Standard Webhooks key (base64 after the prefix). Empty sends
	// unsigned requests.
	Secret string `yaml:"secret"`
}

// DefaultConfig has no URL: one must be set.
func DefaultConfig() Config { return Config{} }

// Validate checks the URL and the secret's form.
func (c Config) Validate() error {
	var errs []error
	if err := alert.CheckURL("url", c.URL); err != nil {
		errs = append(errs, err)
	}
	if _, err := standardKey(c.Secret); err != nil {
		errs = append(errs, fmt.Errorf("secret: %w", err))
	}
	return errors.Join(errs...)
}

// standardKey is the Standard Webhooks signing key: the base64 after
// whsec_, or the secret's bytes.
func standardKey(secret string) ([]byte, error) {
	if k, ok := strings.CutPrefix(secret, "whsec_"); ok {
		b, err := base64.StdEncoding.DecodeString(k)
		if err != nil || len(b) == 0 {
			return nil, errors.New("a whsec_ secret must be base64 after the prefix")
		}
		return b, nil
	}
	return []byte(secret), nil
}

type destination struct {
	cfg    Config
	key    []byte
	client *http.Client
	now    func() time.Time
}

// Open builds the destination.
func Open(_ context.Context, cfg Config, deps alert.Deps) (alert.Destination, error) {
	key, err := standardKey(cfg.Secret)
	if err != nil {
		return nil, err
	}
	return &destination{cfg: cfg, key: key, client: deps.HTTP, now: time.Now}, nil
}

func (d *destination) Name() string { return "webhook" }

func (d *destination) Send(ctx context.Context, a *detect.Alert) error {
	body, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("encode alert: %w", err)
	}
	h := http.Header{}
	if d.cfg.Secret != "" {
		h.Set("X-Hub-Signature-256", GitHubSignature([]byte(d.cfg.Secret), body))
		ts := strconv.FormatInt(d.now().Unix(), 10)
		// The alert id is the message id: receivers de-duplicate on it, so
		// a redelivered alert (or one raised by another replica) is one.
		h.Set("webhook-id", a.ID)
		h.Set("webhook-timestamp", ts)
		h.Set("webhook-signature", StandardSignature(d.key, a.ID, ts, body))
	}
	return alert.Post(ctx, d.client, d.cfg.URL, body, h, "")
}

// GitHubSignature is X-Hub-Signature-256: sha256= and the hex HMAC-SHA256
// of the raw body.
func GitHubSignature(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// StandardSignature is Standard Webhooks' webhook-signature: v1, and the
// base64 HMAC-SHA256 of "id.timestamp.body".
func StandardSignature(key []byte, id, ts string, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + ts + "."))
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}
