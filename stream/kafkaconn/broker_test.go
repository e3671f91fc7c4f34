package kafkaconn

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/flowhose/flowhose/stream/source/kafka/kafkatest"
)

// configs is one working Config per listener and SASL mechanism.
func configs(b kafkatest.Secured) map[string]Config {
	out := map[string]Config{}
	for _, mech := range []string{SASLPlain, SASLSCRAMSHA256, SASLSCRAMSHA512} {
		c := Default(b.SASL)
		c.SASL = SASL{Mechanism: mech, Username: b.Username, Password: b.Password}
		out["sasl_plaintext/"+mech] = c
		c.Brokers = []string{b.SASLSSL}
		c.TLS = TLS{Enabled: true, CAFile: b.CA}
		out["sasl_ssl/"+mech] = c
	}
	c := Default(b.SSL)
	c.TLS = TLS{Enabled: true, CAFile: b.CA}
	out["ssl"] = c
	c.Brokers = []string{b.MTLS}
	c.TLS.CertFile, c.TLS.KeyFile = b.Cert, b.Key
	out["ssl_client_cert"] = c
	return out
}

// Every listener and mechanism of the real broker: a produce with
// acks=all through the Transport, the topic's metadata, and the message
// read back through the Dialer, which the source's consumer group uses.
func TestRealBrokerSecured(t *testing.T) {
	plain, b := kafkatest.Broker(t), kafkatest.SecuredBroker(t)
	for name, cfg := range configs(b) {
		t.Run(name, func(t *testing.T) {
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			topic := kafkatest.NewTopic(t, plain, 1)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			tr, err := cfg.Transport()
			if err != nil {
				t.Fatal(err)
			}
			defer tr.CloseIdleConnections()
			if err := cfg.CheckTopic(ctx, tr, topic, 30*time.Second); err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf("through %s", name)
			w := &kafka.Writer{Addr: cfg.Addr(), Topic: topic, Transport: tr, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
			defer w.Close()
			if err := w.WriteMessages(ctx, kafka.Message{Value: []byte(want)}); err != nil {
				t.Fatalf("produce: %v", err)
			}

			d, err := cfg.Dialer()
			if err != nil {
				t.Fatal(err)
			}
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: cfg.Brokers, Topic: topic, Partition: 0, Dialer: d, MaxWait: 100 * time.Millisecond})
			defer r.Close()
			m, err := r.ReadMessage(ctx)
			if err != nil {
				t.Fatalf("consume: %v", err)
			}
			if string(m.Value) != want {
				t.Fatalf("consumed %q, want %q", m.Value, want)
			}
		})
	}
}

// What the broker refuses fails the first connection with an error that
// says why: a wrong password (for each mechanism, through the Dialer and
// through the Transport's metadata request), a broker certificate from a
// CA that is not trusted, and no client certificate, or one of another
// CA, where one is required.
func TestRealBrokerRefuses(t *testing.T) {
	b := kafkatest.SecuredBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfgs := configs(b)

	for _, name := range []string{"sasl_plaintext/plain", "sasl_plaintext/scram-sha-256", "sasl_ssl/scram-sha-512"} {
		t.Run("wrong password/"+name, func(t *testing.T) {
			cfg := cfgs[name]
			cfg.SASL.Password = "wrong"
			refused(ctx, t, cfg, kafka.SASLAuthenticationFailed.Error(), func(err error) bool {
				return errors.Is(err, kafka.SASLAuthenticationFailed)
			})
		})
	}

	t.Run("untrusted broker CA", func(t *testing.T) {
		cfg := cfgs["ssl"]
		cfg.TLS.CAFile = write(t, "other-ca.pem", newCA(t).pem)
		refused(ctx, t, cfg, "a certificate signed by an unknown authority", func(err error) bool {
			var unknown x509.UnknownAuthorityError
			return errors.As(err, &unknown)
		})
	})

	t.Run("no client certificate", func(t *testing.T) {
		cfg := cfgs["ssl_client_cert"]
		cfg.TLS.CertFile, cfg.TLS.KeyFile = "", ""
		if err := dialErr(ctx, t, cfg); err == nil || !strings.Contains(err.Error(), "tls: bad certificate") {
			t.Errorf("dialer: %v, want the broker's bad certificate alert", err)
		}
	})

	t.Run("client certificate of another CA", func(t *testing.T) {
		cfg := cfgs["ssl_client_cert"]
		certPEM, keyPEM := newCA(t).issue(t, "stranger", x509.ExtKeyUsageClientAuth)
		cfg.TLS.CertFile, cfg.TLS.KeyFile = write(t, "c.pem", certPEM), write(t, "c.key", keyPEM)
		if err := dialErr(ctx, t, cfg); err == nil || !strings.Contains(err.Error(), "tls: bad certificate") {
			t.Errorf("dialer: %v, want the broker's bad certificate alert", err)
		}
	})
}

// dialErr is the error of a connection through cfg's Dialer and of its
// first request.
func dialErr(ctx context.Context, t *testing.T, cfg Config) error {
	t.Helper()
	d, err := cfg.Dialer()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := d.DialContext(ctx, "tcp", cfg.Brokers[0])
	if err != nil {
		return err
	}
	// TLS 1.3 clients finish their handshake before the server checks
	// their certificate: the refusal comes with the first answer.
	_, err = conn.ReadPartitions()
	conn.Close()
	return err
}

// refused checks that both a connection through cfg's Dialer and a
// metadata request through its Transport fail with an error for which is
// holds (want describes it).
func refused(ctx context.Context, t *testing.T, cfg Config, want string, is func(error) bool) {
	t.Helper()
	if err := dialErr(ctx, t, cfg); !is(err) {
		t.Errorf("dialer: %v, want %s", err, want)
	}
	tr, err := cfg.Transport()
	if err != nil {
		t.Fatal(err)
	}
	defer tr.CloseIdleConnections()
	if err := cfg.CheckTopic(ctx, tr, "any", 10*time.Second); !is(err) {
		t.Errorf("transport: %v, want %s", err, want)
	}
}
