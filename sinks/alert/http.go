package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/detect"
)

// maxRetryAfter caps a Retry-After a receiver asks for: a broken header
// must not park a destination for days.
const maxRetryAfter = 10 * time.Minute

// Post sends body to url with the given headers and classifies the
// answer: 2xx is delivered; 408, 429 and 5xx (and transport errors) are
// retried, after Retry-After when the answer carries one; any other status
// is permanent (a bad payload or key, 410 gone). wantOK, when set, is the
// body a 200 must carry (Slack answers "ok").
func Post(ctx context.Context, c *http.Client, url string, body []byte, header http.Header, wantOK string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return stream.Permanent(fmt.Errorf("POST: %w", err))
	}
	// Only the host goes into errors: Slack's and others' webhook URLs
	// carry their secret in the path.
	where := req.URL.Scheme + "://" + req.URL.Host
	for k, v := range header {
		req.Header[k] = v
	}
	if req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", where, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	failure := &StatusError{Status: resp.StatusCode,
		err: fmt.Errorf("POST %s: %s: %s", where, resp.Status, strings.TrimSpace(string(answer)))}
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		if wantOK != "" && code == http.StatusOK && strings.TrimSpace(string(answer)) != wantOK {
			return stream.Permanent(failure)
		}
		return nil
	case code == http.StatusTooManyRequests || code == http.StatusRequestTimeout || code >= 500:
		return RetryAfter(failure, parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()))
	}
	return stream.Permanent(failure)
}

// StatusError is an answer Post did not take for a delivery.
type StatusError struct {
	Status int
	err    error
}

func (e *StatusError) Error() string { return e.err.Error() }

// parseRetryAfter reads seconds or an HTTP date; 0 when absent or bad.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	var d time.Duration
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
		// Capped in seconds, before the multiplication could overflow
		// into a negative wait.
		d = time.Duration(min(max(s, 0), int(maxRetryAfter/time.Second))) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = max(t.Sub(now), 0)
	}
	return min(d, maxRetryAfter)
}

// CheckURL is the validation of a destination's URL setting: absolute,
// http or https. The value is not quoted: webhook URLs (Slack's) carry
// their secret in the path.
func CheckURL(key, value string) error {
	if u, err := url.Parse(value); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s: must be an absolute http or https URL", key)
	}
	return nil
}

// JSONPoster is a destination that posts the JSON of what Body makes of
// each alert to URL (Slack, PagerDuty).
type JSONPoster struct {
	Dest   string
	URL    string
	Client *http.Client
	Body   func(*detect.Alert) any
	// WantOK is the body a 200 must carry, if any.
	WantOK string
}

// Name is the destination's name.
func (p *JSONPoster) Name() string { return p.Dest }

// Send posts a.
func (p *JSONPoster) Send(ctx context.Context, a *detect.Alert) error {
	body, err := json.Marshal(p.Body(a))
	if err != nil {
		return fmt.Errorf("encode %s message: %w", p.Dest, err)
	}
	return Post(ctx, p.Client, p.URL, body, nil, p.WantOK)
}
