package elasticsearch

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flowhose/flowhose/sinks/alert"
	"github.com/flowhose/flowhose/sinks/alert/alerttest"
)

// TestIndexedOnceOnRealNode delivers the same alert twice (a redelivery or
// a second replica) to a real node: one document, with its @timestamp.
func TestIndexedOnceOnRealNode(t *testing.T) {
	u := alerttest.ServiceURL(t, "FLOWHOSE_TEST_ES_URL")
	cfg := DefaultConfig()
	cfg.URL, cfg.Index = u, "flowhose-alerts-test-"+time.Now().Format("150405.000000")
	t.Cleanup(func() {
		req, _ := http.NewRequest(http.MethodDelete, u+"/"+cfg.Index, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	})
	d, err := Open(context.Background(), cfg, alert.Deps{HTTP: http.DefaultClient})
	if err != nil {
		t.Fatal(err)
	}
	a := alerttest.Sample()
	if dl := alerttest.Deliver(t, d, a, a); len(dl) != 0 {
		t.Fatalf("dead letters: %+v", dl)
	}
	resp, err := http.Get(u + "/" + cfg.Index + "/_doc/" + a.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var doc struct {
		Version int `json:"_version"`
		Source  struct {
			Timestamp time.Time `json:"@timestamp"`
			Rule      string
			Asset     struct {
				InstanceName string `json:"instance_name"`
			}
		} `json:"_source"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if doc.Version != 1 || !doc.Source.Timestamp.Equal(a.LastSeen) || doc.Source.Rule != a.Rule || doc.Source.Asset.InstanceName != "web-1" {
		t.Errorf("document %s", body)
	}
}

func TestAuthAndRetry(t *testing.T) {
	rcv := alerttest.NewReceiver(t, alerttest.Answer{Status: 201}, alerttest.Answer{Status: 429, RetryAfter: "0"})
	d, _ := Open(context.Background(), Config{URL: rcv.URL + "/", Index: "alerts", APIKey: "aWQ6a2V5"}, alert.Deps{HTTP: http.DefaultClient})
	if dl := alerttest.Deliver(t, d, alerttest.Sample()); len(dl) != 0 {
		t.Fatalf("dead letters: %+v", dl)
	}
	reqs := rcv.Requests()
	if len(reqs) != 2 || reqs[1].Header.Get("Authorization") != "ApiKey aWQ6a2V5" {
		t.Fatalf("requests %+v", reqs)
	}
	if !strings.Contains(string(reqs[1].Body), `"@timestamp":"2026-05-28T21:02:30Z"`) {
		t.Errorf("body %s", reqs[1].Body)
	}
}

func TestValidate(t *testing.T) {
	err := Config{URL: "127.0.0.1:9200", Index: "Alerts", Username: "elastic"}.Validate()
	for _, want := range []string{"url:", "index:", "username:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}
