// Package pagerduty triggers PagerDuty incidents through the Events API
// v2, one per alert id (dedup_key), so redelivered alerts and replicas
// raise one incident.
package pagerduty

import (
	"context"
	"errors"
	"fmt"

	"github.com/flowhose/flowhose/sinks/alert"
	"github.com/flowhose/flowhose/stream/detect"
)

// Config is the PagerDuty destination's settings.
type Config struct {
	// RoutingKey is the integration key of the service (32 characters).
	RoutingKey string `yaml:"routing_key"`
	// URL is the Events API v2 enqueue endpoint.
	URL string `yaml:"url"`
	// Source is payload.source when the alert names no instance.
	Source string `yaml:"source"`
}

// DefaultConfig points at PagerDuty's public endpoint.
func DefaultConfig() Config {
	return Config{URL: "https://events.pagerduty.com/v2/enqueue", Source: "flowhose"}
}

// Validate checks the key and URL.
func (c Config) Validate() error {
	var errs []error
	if len(c.RoutingKey) != 32 {
		errs = append(errs, fmt.Errorf("routing_key: must be 32 characters, got %d", len(c.RoutingKey)))
	}
	if err := alert.CheckURL("url", c.URL); err != nil {
		errs = append(errs, err)
	}
	if c.Source == "" {
		errs = append(errs, errors.New("source: must not be empty"))
	}
	return errors.Join(errs...)
}

// Open builds the destination.
func Open(_ context.Context, cfg Config, deps alert.Deps) (alert.Destination, error) {
	return &alert.JSONPoster{Dest: "pagerduty", URL: cfg.URL, Client: deps.HTTP,
		Body: func(a *detect.Alert) any { return Event(a, cfg) }}, nil
}

// Limits of the Events API v2.
const (
	maxSummary  = 1024
	maxDedupKey = 255
)

// Event is the trigger event for a.
func Event(a *detect.Alert, cfg Config) map[string]any {
	source := cfg.Source
	if a.Asset.InstanceID != "" {
		source = a.Asset.InstanceID
	} else if a.Asset.InterfaceID != "" {
		source = a.Asset.InterfaceID
	}
	summary := a.Summary
	if len(summary) > maxSummary {
		summary = summary[:maxSummary]
	}
	return map[string]any{
		"routing_key":  cfg.RoutingKey,
		"event_action": "trigger",
		"dedup_key":    a.ID[:min(len(a.ID), maxDedupKey)],
		"payload": map[string]any{
			"summary":        summary,
			"source":         source,
			"severity":       Severity(a.Severity),
			"timestamp":      a.LastSeen.Format("2006-01-02T15:04:05Z07:00"),
			"component":      a.Asset.InstanceName,
			"group":          a.Asset.VPCID,
			"class":          a.Rule,
			"custom_details": a,
		},
	}
}

// Severity maps an alert severity to PagerDuty's four.
func Severity(s string) string {
	switch s {
	case "critical":
		return "critical"
	case "high":
		return "error"
	case "medium":
		return "warning"
	}
	return "info"
}
