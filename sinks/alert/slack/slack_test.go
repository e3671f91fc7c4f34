package slack

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/flowhose/flowhose/sinks/alert"
	"github.com/flowhose/flowhose/sinks/alert/alerttest"
)

func TestMessageAfter429(t *testing.T) {
	rcv := alerttest.NewReceiver(t, alerttest.Answer{Status: 200, Body: "ok"},
		alerttest.Answer{Status: 429, RetryAfter: "1"}, alerttest.Answer{Status: 500})
	d, _ := Open(context.Background(), Config{WebhookURL: rcv.URL + "/services/T0/B0/x",
		KibanaURL: "https://kibana.example.com/app/discover#/?_a=(query:(language:kuery,query:'{query}'))"}, alert.Deps{HTTP: http.DefaultClient})
	a := alerttest.Sample()
	a.Summary = strings.Repeat("é", 2000) // 4000 bytes: clipped to Slack's 3000
	if dl := alerttest.Deliver(t, d, a); len(dl) != 0 {
		t.Fatalf("dead letters: %+v", dl)
	}
	reqs := rcv.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	var msg struct {
		Text   string
		Blocks []struct {
			Type   string
			Text   *struct{ Text string }
			Fields []struct{ Text string }
		}
	}
	if err := json.Unmarshal(reqs[2].Body, &msg); err != nil {
		t.Fatal(err)
	}
	all := string(reqs[2].Body)
	for _, want := range []string{"reject_burst", "91.240.118.5", "i-0web web-1", "subnet-0app", "--cidr-block 91.240.118.5/32",
		"query:'_id%3A%28AAAAAAAAAAAAAAAAAAAAAA+or+BBBBBBBBBBBBBBBBBBBBBB%29'", "3 similar alerts were suppressed", a.ID} {
		if !strings.Contains(all, want) {
			t.Errorf("message lacks %q: %s", want, all)
		}
	}
	for _, b := range msg.Blocks {
		if b.Text != nil && len(b.Text.Text) > maxSectionText || len(b.Fields) > 10 {
			t.Errorf("block over Slack's limits: %d bytes, %d fields", len(b.Text.Text), len(b.Fields))
		}
	}
	if len(msg.Text) > maxSectionText || !strings.HasSuffix(msg.Text, "…") {
		t.Errorf("text of %d bytes", len(msg.Text))
	}
}

func TestInvalidPayloadIsDeadLettered(t *testing.T) {
	rcv := alerttest.NewReceiver(t, alerttest.Answer{Status: 400, Body: "invalid_payload"})
	d, _ := Open(context.Background(), Config{WebhookURL: rcv.URL}, alert.Deps{HTTP: http.DefaultClient})
	if dl := alerttest.Deliver(t, d, alerttest.Sample()); len(dl) != 1 || !strings.Contains(dl[0].Reason, "invalid_payload") ||
		strings.Contains(dl[0].Reason, rcv.URL+"/") {
		t.Fatalf("dead letters %+v", dl)
	}
}
