package webhook

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/flowhose/flowhose/sinks/alert"
	"github.com/flowhose/flowhose/sinks/alert/alerttest"
	"github.com/flowhose/flowhose/stream/detect"
)

// The reference digest's vector (GitHub's documentation).
func TestGitHubSignatureVector(t *testing.T) {
	got := GitHubSignature([]byte("It's a Secret to Everybody"), []byte("Hello, World!"))
	if want := "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// The Standard Webhooks specification's example.
func TestStandardSignatureVector(t *testing.T) {
	key, err := standardKey("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	got := StandardSignature(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestDeliversSignedAfter429And5xx(t *testing.T) {
	rcv := alerttest.NewReceiver(t, alerttest.Answer{Status: 204},
		alerttest.Answer{Status: 429, RetryAfter: "1"}, alerttest.Answer{Status: 503})
	const secret = "It's a Secret to Everybody"
	d, err := Open(context.Background(), Config{URL: rcv.URL + "/hook", Secret: secret}, alert.Deps{HTTP: http.DefaultClient})
	if err != nil {
		t.Fatal(err)
	}
	a := alerttest.Sample()
	if dl := alerttest.Deliver(t, d, a); len(dl) != 0 {
		t.Fatalf("dead letters: %+v", dl)
	}
	reqs := rcv.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	if gap := reqs[1].At.Sub(reqs[0].At); gap < time.Second {
		t.Errorf("retried %s after a 429 with Retry-After: 1", gap)
	}
	last := reqs[2]
	if got := last.Header.Get("X-Hub-Signature-256"); got != GitHubSignature([]byte(secret), last.Body) {
		t.Errorf("signature %s does not match the body", got)
	}
	h := last.Header
	if h.Get("webhook-id") != a.ID || h.Get("webhook-signature") != StandardSignature([]byte(secret), a.ID, h.Get("webhook-timestamp"), last.Body) {
		t.Errorf("standard webhook headers %v", h)
	}
	var got detect.Alert
	if err := json.Unmarshal(last.Body, &got); err != nil || got.ID != a.ID || got.NetworkACLEntry == nil || got.Asset.InstanceName != "web-1" {
		t.Errorf("body %s (%v)", last.Body, err)
	}
}

func TestPermanentFailureIsDeadLettered(t *testing.T) {
	rcv := alerttest.NewReceiver(t, alerttest.Answer{Status: 410, Body: "gone"})
	d, _ := Open(context.Background(), Config{URL: rcv.URL}, alert.Deps{HTTP: http.DefaultClient})
	dl := alerttest.Deliver(t, d, alerttest.Sample())
	if len(dl) != 1 || dl[0].Source != "alert.webhook" || dl[0].Ref != alerttest.Sample().ID || len(rcv.Requests()) != 1 {
		t.Fatalf("dead letters %+v after %d requests", dl, len(rcv.Requests()))
	}
}

func TestValidate(t *testing.T) {
	if err := (Config{URL: "ftp://x", Secret: "whsec_***"}).Validate(); err == nil {
		t.Error("bad URL and secret accepted")
	}
}
