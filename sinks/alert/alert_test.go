package alert_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowhose/flowhose/sinks/alert"
	"github.com/flowhose/flowhose/sinks/alert/alerttest"
	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/detect"
	"github.com/flowhose/flowhose/stream/sinktest"
)

func TestPostClassifiesAnswers(t *testing.T) {
	date := time.Now().Add(3 * time.Second).UTC().Format(http.TimeFormat)
	for _, c := range []struct {
		answer    alerttest.Answer
		wantOK    string
		permanent bool
		ok        bool
	}{
		{alerttest.Answer{Status: 200, Body: "ok"}, "ok", false, true},
		{alerttest.Answer{Status: 202}, "", false, true},
		{alerttest.Answer{Status: 200, Body: "no_service"}, "ok", true, false},
		{alerttest.Answer{Status: 400, Body: "invalid_payload"}, "", true, false},
		{alerttest.Answer{Status: 410}, "", true, false},
		{alerttest.Answer{Status: 429, RetryAfter: "7"}, "", false, false},
		{alerttest.Answer{Status: 503, RetryAfter: date}, "", false, false},
		{alerttest.Answer{Status: 408}, "", false, false},
	} {
		rcv := alerttest.NewReceiver(t, c.answer)
		err := alert.Post(context.Background(), http.DefaultClient, rcv.URL, []byte("{}"), nil, c.wantOK)
		if (err == nil) != c.ok || stream.IsPermanent(err) != c.permanent {
			t.Errorf("%+v: err %v, permanent %v", c.answer, err, stream.IsPermanent(err))
		}
	}
}

// dest is a scripted destination.
type dest struct {
	errs  chan error
	block chan struct{}
}

func (d *dest) Name() string { return "scripted" }

func (d *dest) Send(ctx context.Context, a *detect.Alert) error {
	if d.block != nil {
		select {
		case <-d.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	select {
	case err := <-d.errs:
		return err
	default:
		return nil
	}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestRetryAfterIsHonoured(t *testing.T) {
	d := &dest{errs: make(chan error, 2)}
	d.errs <- alert.RetryAfter(errors.New("slow down"), 300*time.Millisecond)
	d.errs <- errors.New("connection reset")
	cfg := alert.DefaultRetry()
	cfg.InitialBackoff, cfg.MaxBackoff = time.Millisecond, 2*time.Millisecond
	reg := prometheus.NewRegistry()
	disp := alert.NewDispatcher([]alert.Destination{d}, cfg, &sinktest.DeadLetter{}, quiet(), reg)
	start := time.Now()
	disp.Deliver(*alerttest.Sample())
	if err := disp.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Errorf("delivered after %s, before the Retry-After", took)
	}
	if n := count(t, reg, "delivered"); n != 1 {
		t.Errorf("delivered = %v", n)
	}
	if n := count(t, reg, "retried"); n != 2 {
		t.Errorf("retried = %v", n)
	}
}

// count reads flowhose_alert_deliveries_total{result}.
func count(t *testing.T, reg *prometheus.Registry, result string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == result {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// A destination that hangs neither blocks Deliver nor loses alerts: the
// queue overflows into the dead-letter file, and Close dead-letters what
// is still queued when its deadline passes.
func TestStuckDestinationNeverBlocks(t *testing.T) {
	d := &dest{block: make(chan struct{})}
	cfg := alert.DefaultRetry()
	cfg.QueueSize = 2
	dl := &sinktest.DeadLetter{}
	disp := alert.NewDispatcher([]alert.Destination{d}, cfg, dl, quiet(), nil)
	start := time.Now()
	for range 10 {
		disp.Deliver(*alerttest.Sample())
	}
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Errorf("Deliver blocked for %s", took)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := disp.Close(ctx); err == nil {
		t.Error("Close reported no loss of time")
	}
	// One in flight, two queued, seven overflowed: all ten dead-lettered.
	if n := len(dl.Failures()); n != 10 {
		t.Errorf("%d dead letters, want 10", n)
	}
}

func TestGivesUpAfterMaxElapsed(t *testing.T) {
	d := &dest{errs: make(chan error, 100)}
	for range 100 {
		d.errs <- errors.New("503")
	}
	cfg := alert.DefaultRetry()
	cfg.InitialBackoff, cfg.MaxBackoff, cfg.MaxElapsed = 5*time.Millisecond, 10*time.Millisecond, 60*time.Millisecond
	dl := &sinktest.DeadLetter{}
	disp := alert.NewDispatcher([]alert.Destination{d}, cfg, dl, quiet(), nil)
	disp.Deliver(*alerttest.Sample())
	if err := disp.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if f := dl.Failures(); len(f) != 1 || f[0].Reason != "503" || f[0].Input == "" {
		t.Errorf("dead letters %+v", f)
	}
}
