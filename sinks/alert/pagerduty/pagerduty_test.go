package pagerduty

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/flowhose/flowhose/sinks/alert"
	"github.com/flowhose/flowhose/sinks/alert/alerttest"
)

const key = "0123456789abcdef0123456789abcdef"

func TestTriggerAfter5xx(t *testing.T) {
	rcv := alerttest.NewReceiver(t, alerttest.Answer{Status: 202, Body: `{"status":"success","dedup_key":"x"}`},
		alerttest.Answer{Status: 502}, alerttest.Answer{Status: 429})
	cfg := DefaultConfig()
	cfg.URL, cfg.RoutingKey = rcv.URL+"/v2/enqueue", key
	d, _ := Open(context.Background(), cfg, alert.Deps{HTTP: http.DefaultClient})
	a := alerttest.Sample()
	a.Summary = strings.Repeat("x", 2000)
	if dl := alerttest.Deliver(t, d, a); len(dl) != 0 {
		t.Fatalf("dead letters: %+v", dl)
	}
	reqs := rcv.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	var ev struct {
		RoutingKey  string `json:"routing_key"`
		EventAction string `json:"event_action"`
		DedupKey    string `json:"dedup_key"`
		Payload     struct {
			Summary, Source, Severity, Class string
			CustomDetails                    struct{ ID string } `json:"custom_details"`
		}
	}
	if err := json.Unmarshal(reqs[2].Body, &ev); err != nil {
		t.Fatal(err)
	}
	p := ev.Payload
	if ev.RoutingKey != key || ev.EventAction != "trigger" || ev.DedupKey != a.ID || p.Severity != "error" ||
		p.Source != "i-0web" || p.Class != "reject_burst" || len(p.Summary) != 1024 || p.CustomDetails.ID != a.ID {
		t.Errorf("event %+v", ev)
	}
}

func TestBadRequestIsNotRetried(t *testing.T) {
	rcv := alerttest.NewReceiver(t, alerttest.Answer{Status: 400, Body: `{"status":"invalid event"}`})
	cfg := DefaultConfig()
	cfg.URL, cfg.RoutingKey = rcv.URL, key
	d, _ := Open(context.Background(), cfg, alert.Deps{HTTP: http.DefaultClient})
	if dl := alerttest.Deliver(t, d, alerttest.Sample()); len(dl) != 1 || len(rcv.Requests()) != 1 {
		t.Fatalf("dead letters %+v after %d requests", dl, len(rcv.Requests()))
	}
}

func TestSeverityMapping(t *testing.T) {
	for in, want := range map[string]string{"critical": "critical", "high": "error", "medium": "warning", "low": "info", "info": "info"} {
		if got := Severity(in); got != want {
			t.Errorf("%s → %s, want %s", in, got, want)
		}
	}
}
