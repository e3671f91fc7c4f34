package kafkaconn

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

// testCA is a certificate authority that signs test certificates.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a PEM certificate and key for cn, valid for 127.0.0.1.
func (ca *testCA) issue(t *testing.T, cn string, usage x509.ExtKeyUsage) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

func write(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// tlsBroker accepts TLS connections that present a client certificate
// signed by ca, and sends the client's common name (or the handshake
// error) on the returned channel for each connection.
func tlsBroker(t *testing.T, ca *testCA) (string, <-chan string) {
	t.Helper()
	certPEM, keyPEM := ca.issue(t, "broker", x509.ExtKeyUsageServerAuth)
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	peers := make(chan string, 16)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			tc := c.(*tls.Conn)
			if err := tc.Handshake(); err != nil {
				peers <- "error: " + err.Error()
			} else {
				peers <- tc.ConnectionState().PeerCertificates[0].Subject.CommonName
			}
			c.Close()
		}
	}()
	return l.Addr().String(), peers
}

// Both the Transport (producers) and the Dialer (consumers) trust the
// configured CA and present the client certificate; a broker certificate
// from another CA is refused.
func TestMutualTLS(t *testing.T) {
	ca := newCA(t)
	addr, peers := tlsBroker(t, ca)
	certPEM, keyPEM := ca.issue(t, "flowhose-client", x509.ExtKeyUsageClientAuth)
	cfg := Default(addr)
	cfg.TLS = TLS{
		Enabled:  true,
		CAFile:   write(t, "ca.pem", ca.pem),
		CertFile: write(t, "client.pem", certPEM),
		KeyFile:  write(t, "client.key", keyPEM),
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	tr, err := cfg.Transport()
	if err != nil {
		t.Fatal(err)
	}
	defer tr.CloseIdleConnections()
	// The fake broker speaks no Kafka: the request fails after the
	// handshake, which is what is checked.
	c := &kafka.Client{Addr: cfg.Addr(), Transport: tr, Timeout: 2 * time.Second}
	c.Metadata(ctx, &kafka.MetadataRequest{})
	if got := <-peers; got != "flowhose-client" {
		t.Fatalf("broker saw %q through the transport, want the client certificate", got)
	}
	for len(peers) > 0 {
		<-peers
	}

	d, err := cfg.Dialer()
	if err != nil {
		t.Fatal(err)
	}
	dc, err := d.DialContext(ctx, "tcp", addr)
	if err == nil {
		dc.Close()
	}
	if got := <-peers; got != "flowhose-client" {
		t.Fatalf("broker saw %q through the dialer (dial error %v), want the client certificate", got, err)
	}

	// Another CA: the client refuses the broker.
	cfg.TLS.CAFile = write(t, "other.pem", newCA(t).pem)
	d, err = cfg.Dialer()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.DialContext(ctx, "tcp", addr); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("dial with the wrong CA: %v, want a certificate error", err)
	}
}

func TestSecurityErrors(t *testing.T) {
	cfg := Default("127.0.0.1:9092")
	cfg.TLS = TLS{Enabled: true, CAFile: filepath.Join(t.TempDir(), "missing.pem")}
	if _, err := cfg.Transport(); err == nil || !strings.HasPrefix(err.Error(), "tls.ca_file:") {
		t.Errorf("missing CA file: %v", err)
	}
	cfg.TLS.CAFile = write(t, "junk.pem", []byte("not a certificate"))
	if _, err := cfg.Dialer(); err == nil || !strings.Contains(err.Error(), "holds no PEM certificate") {
		t.Errorf("junk CA file: %v", err)
	}
	cfg.TLS = TLS{Enabled: true, CertFile: write(t, "c.pem", []byte("x")), KeyFile: write(t, "k.pem", []byte("y"))}
	if _, err := cfg.Transport(); err == nil || !strings.HasPrefix(err.Error(), "tls.cert_file, tls.key_file:") {
		t.Errorf("bad key pair: %v", err)
	}
}

// TestSCRAMRefusalHidesThePassword: SCRAM normalises the credentials
// (SASLprep) and refuses control characters, such as the carriage return
// a secrets file written on Windows leaves at the end of a password. The
// error says which key is wrong without quoting the password, since it
// ends up in the start-up log.
func TestSCRAMRefusalHidesThePassword(t *testing.T) {
	const secret = "s3cret-Passw0rd"
	for _, tc := range []struct {
		user, password, want string
	}{
		{"flowhose", secret + "\r", "sasl.password: "},
		{"flow\x07hose", secret, "sasl.username: "},
	} {
		cfg := Default("127.0.0.1:9092")
		cfg.SASL = SASL{Mechanism: SASLSCRAMSHA512, Username: tc.user, Password: tc.password}
		_, terr := cfg.Transport()
		_, derr := cfg.Dialer()
		for _, err := range []error{terr, derr} {
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) || strings.Contains(err.Error(), secret) {
				t.Errorf("user %q, password %q: %v, want an error starting %q without the password", tc.user, tc.password, err, tc.want)
			}
		}
	}
}

// build validates cfg and builds its Transport and Dialer.
func build(t *testing.T, cfg Config) (*kafka.Transport, *kafka.Dialer) {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	tr, err := cfg.Transport()
	if err != nil {
		t.Fatal(err)
	}
	d, err := cfg.Dialer()
	if err != nil {
		t.Fatal(err)
	}
	return tr, d
}

func TestSASLMechanisms(t *testing.T) {
	for mech, want := range map[string]string{
		SASLPlain:       "PLAIN",
		SASLSCRAMSHA256: "SCRAM-SHA-256",
		SASLSCRAMSHA512: "SCRAM-SHA-512",
	} {
		cfg := Default("127.0.0.1:9092")
		cfg.SASL = SASL{Mechanism: mech, Username: "u", Password: "p"}
		tr, d := build(t, cfg)
		if tr.SASL == nil || tr.SASL.Name() != want || d.SASLMechanism == nil || d.SASLMechanism.Name() != want {
			t.Errorf("%s: transport %v, dialer %v, want %s", mech, tr.SASL, d.SASLMechanism, want)
		}
	}
	tr, err := Default("127.0.0.1:9092").Transport()
	if err != nil || tr.SASL != nil || tr.TLS != nil || tr.ClientID != "flowhose" {
		t.Errorf("default transport %+v, %v", tr, err)
	}
}

// Every SASL mechanism, over TLS, through both the Transport (a produce
// with acks=all) and the Dialer, against kfake, a Kafka broker written in
// Go that checks the credentials; a wrong password is refused.
func TestSASLOverTLSAgainstABroker(t *testing.T) {
	ca := newCA(t)
	certPEM, keyPEM := ca.issue(t, "broker", x509.ExtKeyUsageServerAuth)
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	caFile := write(t, "ca.pem", ca.pem)
	for mech, method := range map[string]string{
		SASLPlain:       "PLAIN",
		SASLSCRAMSHA256: "SCRAM-SHA-256",
		SASLSCRAMSHA512: "SCRAM-SHA-512",
	} {
		t.Run(mech, func(t *testing.T) {
			broker, err := kfake.NewCluster(
				kfake.NumBrokers(1),
				kfake.EnableSASL(),
				kfake.Superuser(method, "flowhose", "s3cret"),
				kfake.SeedTopics(1, "t"),
				kfake.TLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}),
			)
			if err != nil {
				t.Fatal(err)
			}
			defer broker.Close()
			cfg := Default(broker.ListenAddrs()...)
			cfg.TLS = TLS{Enabled: true, CAFile: caFile}
			cfg.SASL = SASL{Mechanism: mech, Username: "flowhose", Password: "s3cret"}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()

			tr, err := cfg.Transport()
			if err != nil {
				t.Fatal(err)
			}
			defer tr.CloseIdleConnections()
			w := &kafka.Writer{Addr: cfg.Addr(), Topic: "t", Transport: tr, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
			defer w.Close()
			if err := w.WriteMessages(ctx, kafka.Message{Value: []byte("x")}); err != nil {
				t.Fatalf("produce through the transport: %v", err)
			}
			d, err := cfg.Dialer()
			if err != nil {
				t.Fatal(err)
			}
			conn, err := d.DialContext(ctx, "tcp", cfg.Brokers[0])
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			if _, err := conn.ReadPartitions("t"); err != nil {
				t.Errorf("metadata through the dialer's connection: %v", err)
			}
			conn.Close()

			cfg.SASL.Password = "wrong"
			if d, err = cfg.Dialer(); err != nil {
				t.Fatal(err)
			}
			if conn, err := d.DialContext(ctx, "tcp", cfg.Brokers[0]); err == nil {
				conn.Close()
				t.Fatal("a wrong password was accepted")
			} else if !strings.Contains(err.Error(), "SASL Authentication Failed") {
				t.Fatalf("wrong password: %v, want an authentication failure", err)
			}
		})
	}
}
