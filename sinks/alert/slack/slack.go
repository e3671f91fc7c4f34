// Package slack posts alerts to a Slack incoming webhook as a readable
// message: the summary, the key facts and a link to the records in Kibana.
package slack

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/flowhose/flowhose/sinks/alert"
	"github.com/flowhose/flowhose/stream/detect"
)

// Config is the Slack destination's settings.
type Config struct {
	// WebhookURL is the incoming webhook (a secret: it carries its token).
	WebhookURL string `yaml:"webhook_url"`
	// KibanaURL is a link template: {query} becomes a KQL query for the
	// alert's sample documents (_id:(…)), URL-escaped, and {alert_id} the
	// alert id. Empty adds no link.
	KibanaURL string `yaml:"kibana_url"`
}

// DefaultConfig has no webhook URL: one must be set.
func DefaultConfig() Config { return Config{} }

// Validate checks the URLs.
func (c Config) Validate() error {
	var errs []error
	if err := alert.CheckURL("webhook_url", c.WebhookURL); err != nil {
		errs = append(errs, err)
	}
	if c.KibanaURL != "" && !strings.HasPrefix(c.KibanaURL, "http://") && !strings.HasPrefix(c.KibanaURL, "https://") {
		errs = append(errs, fmt.Errorf("kibana_url: must start with http:// or https://, got %q", c.KibanaURL))
	}
	return errors.Join(errs...)
}

// Open builds the destination.
func Open(_ context.Context, cfg Config, deps alert.Deps) (alert.Destination, error) {
	return &alert.JSONPoster{Dest: "slack", URL: cfg.WebhookURL, Client: deps.HTTP, WantOK: "ok",
		Body: func(a *detect.Alert) any { return Message(a, cfg.KibanaURL) }}, nil
}

// maxSectionText is Slack's limit on a section block's text.
const maxSectionText = 3000

type text struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type block struct {
	Type   string `json:"type"`
	Text   *text  `json:"text,omitempty"`
	Fields []text `json:"fields,omitempty"`
}

// Message is the webhook payload for a: a plain text for notifications
// and blocks for the channel.
func Message(a *detect.Alert, kibana string) map[string]any {
	head := fmt.Sprintf("%s *%s* (%s)\n%s", icon(a.Severity), a.Rule, a.Severity, a.Summary)
	facts := []text{
		{"mrkdwn", fmt.Sprintf("*Window*\n%s – %s", a.WindowStart.Format("2006-01-02 15:04"), a.WindowEnd.Format("15:04 MST"))},
		{"mrkdwn", fmt.Sprintf("*%s*\n%d (threshold %d)", a.Measure, a.Count, a.Threshold)},
	}
	for _, k := range a.Key {
		facts = append(facts, text{"mrkdwn", fmt.Sprintf("*%s*\n`%s`", k.Field, k.Value)})
	}
	if a.Asset.InstanceID != "" {
		facts = append(facts, text{"mrkdwn", fmt.Sprintf("*Instance*\n%s %s", a.Asset.InstanceID, a.Asset.InstanceName)})
	}
	if a.Asset.SubnetID != "" || a.Asset.VPCID != "" {
		facts = append(facts, text{"mrkdwn", fmt.Sprintf("*Subnet / VPC*\n%s / %s", a.Asset.SubnetID, a.Asset.VPCID)})
	}
	if a.Asset.AccountID != "" {
		facts = append(facts, text{"mrkdwn", fmt.Sprintf("*Account*\n%s %s", a.Asset.AccountID, a.Asset.Region)})
	}
	blocks := []block{
		{Type: "section", Text: &text{"mrkdwn", clip(head, maxSectionText)}},
		{Type: "section", Fields: facts[:min(len(facts), 10)]}, // Slack takes at most 10 fields
	}
	var more []string
	if n := a.NetworkACLEntry; n != nil {
		more = append(more, "*Network ACL deny entry:* `"+n.Command+"`")
	}
	if l := a.Listed; l != nil {
		more = append(more, fmt.Sprintf("*Listed:* %s in %s (%s)", l.Address, l.List, l.Prefix))
	}
	if a.Suppressed > 0 {
		more = append(more, fmt.Sprintf("%d similar alerts were suppressed since the last one.", a.Suppressed))
	}
	if link := kibanaLink(kibana, a); link != "" {
		more = append(more, "<"+link+"|Records in Kibana>")
	}
	more = append(more, "Alert id `"+a.ID+"`")
	blocks = append(blocks, block{Type: "section", Text: &text{"mrkdwn", clip(strings.Join(more, "\n"), maxSectionText)}})
	return map[string]any{"text": clip(a.Summary, maxSectionText), "blocks": blocks}
}

func kibanaLink(tmpl string, a *detect.Alert) string {
	if tmpl == "" {
		return ""
	}
	q := "_id:(" + strings.Join(a.SampleIDs, " or ") + ")"
	if len(a.SampleIDs) == 0 {
		q = ""
	}
	return strings.NewReplacer("{query}", url.QueryEscape(q), "{alert_id}", url.QueryEscape(a.ID)).Replace(tmpl)
}

func icon(severity string) string {
	switch severity {
	case "critical", "high":
		return ":rotating_light:"
	case "medium":
		return ":warning:"
	}
	return ":information_source:"
}

// clip shortens s to at most n bytes, at a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n-3]
	for len(s) > 0 && s[len(s)-1]&0xC0 == 0x80 {
		s = s[:len(s)-1]
	}
	if len(s) > 0 && s[len(s)-1] >= 0xC0 {
		s = s[:len(s)-1]
	}
	return s + "…"
}
