package kafkaconn_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/flowhose/flowhose/sinks"
	"github.com/flowhose/flowhose/sinks/alert"
	alertkafka "github.com/flowhose/flowhose/sinks/alert/kafka"
	sinkkafka "github.com/flowhose/flowhose/sinks/kafka"
	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/kafkaconn"
	"github.com/flowhose/flowhose/stream/sinktest"
	"github.com/flowhose/flowhose/stream/source"
	sourcekafka "github.com/flowhose/flowhose/stream/source/kafka"
	"github.com/flowhose/flowhose/stream/source/kafka/kafkatest"
)

const insecureWarning = "tls.insecure_skip_verify"

// warnings is what a component logs at warning level, as text.
type warnings struct{ bytes.Buffer }

func (w *warnings) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(&w.Buffer, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// count is the number of insecure-TLS warnings naming section.
func (w *warnings) count(t *testing.T, section string) int {
	t.Helper()
	n := 0
	for _, line := range strings.Split(w.String(), "\n") {
		if strings.Contains(line, insecureWarning) {
			if !strings.Contains(line, "section="+section) || !strings.Contains(line, "credentials and the messages") {
				t.Errorf("warning %q does not name section %s and what is exposed", line, section)
			}
			n++
		}
	}
	return n
}

// Only tls.insecure_skip_verify warns.
func TestWarnInsecure(t *testing.T) {
	for name, tc := range map[string]struct {
		tls  kafkaconn.TLS
		want int
	}{
		"plaintext":        {kafkaconn.TLS{}, 0},
		"verified":         {kafkaconn.TLS{Enabled: true, CAFile: "ca.pem"}, 0},
		"not verified":     {kafkaconn.TLS{Enabled: true, InsecureSkipVerify: true}, 1},
		"tls off, ignored": {kafkaconn.TLS{InsecureSkipVerify: true}, 0},
	} {
		t.Run(name, func(t *testing.T) {
			var w warnings
			c := kafkaconn.Default("b:9092")
			c.TLS = tc.tls
			c.WarnInsecure(w.logger(), "sinks.kafka")
			if n := w.count(t, "sinks.kafka"); n != tc.want {
				t.Errorf("%d warnings, want %d: %s", n, tc.want, w.String())
			}
		})
	}
}

// Every Kafka component built with tls.insecure_skip_verify (here on the
// real broker's TLS listener, with SCRAM over it for the source) logs one
// warning naming its section, however many Transports and Dialers it
// builds.
func TestComponentsWarnOnceWithoutVerification(t *testing.T) {
	plain, b := kafkatest.Broker(t), kafkatest.SecuredBroker(t)
	topic := kafkatest.NewTopic(t, plain, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := func(broker string) kafkaconn.Config {
		c := kafkaconn.Default(broker)
		c.TLS = kafkaconn.TLS{Enabled: true, InsecureSkipVerify: true}
		return c
	}

	pipeline, err := stream.New(stream.Options{Workers: 1, QueueDepth: 1, DeadLetter: &sinktest.DeadLetter{}})
	if err != nil {
		t.Fatal(err)
	}
	defer pipeline.Close(ctx)

	// open builds one component logging to log, and returns what closes it.
	for section, open := range map[string]func(log *slog.Logger) (func(), error){
		"sources.kafka": func(log *slog.Logger) (func(), error) {
			cfg := sourcekafka.DefaultConfig()
			cfg.Config = conn(b.SASLSSL)
			cfg.SASL = kafkaconn.SASL{Mechanism: kafkaconn.SASLSCRAMSHA512, Username: b.Username, Password: b.Password}
			cfg.Topics = []string{topic}
			_, err := sourcekafka.Open(ctx, cfg, source.Deps{Pipeline: pipeline, Logger: log})
			return func() {}, err // opened, not run: nothing to close
		},
		"sinks.kafka": func(log *slog.Logger) (func(), error) {
			cfg := sinkkafka.DefaultConfig()
			cfg.Config, cfg.Topic = conn(b.SSL), topic
			s, err := sinkkafka.Open(ctx, cfg, sinks.Deps{DeadLetter: &sinktest.DeadLetter{}, Logger: log})
			if err != nil {
				return nil, err
			}
			return func() { _ = s.Close(ctx) }, nil
		},
		"sinks.detections.kafka": func(log *slog.Logger) (func(), error) {
			cfg := alertkafka.DefaultConfig()
			cfg.Config, cfg.Topic = conn(b.SSL), topic
			d, err := alertkafka.Open(ctx, cfg, alert.Deps{Logger: log})
			if err != nil {
				return nil, err
			}
			return func() { _ = d.(interface{ Close() error }).Close() }, nil
		},
	} {
		t.Run(section, func(t *testing.T) {
			var w warnings
			closeIt, err := open(w.logger())
			if err != nil {
				t.Fatal(err)
			}
			defer closeIt()
			if n := w.count(t, section); n != 1 {
				t.Errorf("%d warnings, want 1: %s", n, w.String())
			}
		})
	}
}
