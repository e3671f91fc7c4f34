// Package kafkaconn holds what every flowhose Kafka client shares: the
// broker list, the client id, TLS and SASL settings (AWS MSK IAM among
// them), their validation, and the kafka-go Transport (producers,
// metadata) and Dialer (consumers) built from them. The Kafka sink and the
// Kafka source embed Config inline in their sections, so both take the
// same keys.
package kafkaconn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	signer "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	mskiam "github.com/segmentio/kafka-go/sasl/aws_msk_iam_v2"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
	"github.com/xdg-go/stringprep"
)

// SASL mechanisms.
const (
	SASLNone        = ""
	SASLPlain       = "plain"
	SASLSCRAMSHA256 = "scram-sha-256"
	SASLSCRAMSHA512 = "scram-sha-512"
	// SASLAWSMSKIAM signs each connection with AWS credentials (Amazon
	// MSK's IAM access control).
	SASLAWSMSKIAM = "aws_msk_iam"
)

// Config is how to reach and authenticate to the brokers.
type Config struct {
	// Brokers are the bootstrap brokers, host:port each.
	Brokers []string `yaml:"brokers"`
	// ClientID names this client in the brokers' logs and quotas.
	ClientID string `yaml:"client_id"`
	// DialTimeout bounds one connection attempt, TLS and SASL included.
	DialTimeout time.Duration `yaml:"dial_timeout"`
	// TLS encrypts connections to the brokers.
	TLS TLS `yaml:"tls"`
	// SASL authenticates to the brokers.
	SASL SASL `yaml:"sasl"`
}

// TLS configures encrypted connections.
type TLS struct {
	// Enabled turns TLS on; the other keys need it.
	Enabled bool `yaml:"enabled"`
	// CAFile is a PEM file of certificate authorities trusted for the
	// brokers' certificates, replacing the system pool.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a PEM client certificate and its key, for
	// brokers that require client authentication (mutual TLS).
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name checked against the brokers'
	// certificates (default: the host of each broker address).
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify accepts any broker certificate: for tests only,
	// since it makes the connection open to interception (logged as a
	// warning at start-up).
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// SASL configures authentication.
type SASL struct {
	// Mechanism is "" (none), "plain", "scram-sha-256", "scram-sha-512"
	// or "aws_msk_iam". PLAIN sends the password as it is: use it only
	// with TLS. aws_msk_iam takes the AWS SDK's default credentials
	// (environment, shared files, web identity, container or instance
	// role) and needs TLS, as MSK does.
	Mechanism string `yaml:"mechanism"`
	// Username and Password are the SASL credentials of plain and scram.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// AWSRegion is the MSK cluster's region for aws_msk_iam; empty takes
	// the AWS SDK's (AWS_REGION, the shared configuration).
	AWSRegion string `yaml:"aws_region"`
}

// Default is no TLS, no SASL, client id "flowhose", 10 s dial timeout; the
// broker list is the caller's (each component has its own default).
func Default(brokers ...string) Config {
	return Config{Brokers: brokers, ClientID: "flowhose", DialTimeout: 10 * time.Second}
}

// Validate reports every bad setting by its key relative to the section
// that embeds Config. It does not read files: Transport and Dialer do, and
// report what they cannot read.
func (c Config) Validate() error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("brokers: at least one host:port is required"))
	}
	for _, b := range c.Brokers {
		host, port, err := net.SplitHostPort(b)
		if n, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
			errs = append(errs, fmt.Errorf("brokers: must be host:port, got %q", b))
		}
	}
	if c.DialTimeout <= 0 {
		errs = append(errs, fmt.Errorf("dial_timeout: must be positive, got %s", c.DialTimeout))
	}
	t := c.TLS
	if !t.Enabled && (t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.ServerName != "" || t.InsecureSkipVerify) {
		errs = append(errs, errors.New("tls.enabled: must be true when other tls keys are set"))
	}
	if t.CertFile != "" && t.KeyFile == "" {
		errs = append(errs, errors.New("tls.key_file: required with tls.cert_file"))
	}
	if t.KeyFile != "" && t.CertFile == "" {
		errs = append(errs, errors.New("tls.cert_file: required with tls.key_file"))
	}
	return errors.Join(append(errs, c.SASL.validate(t.Enabled)...)...)
}

func (s SASL) validate(tlsOn bool) []error {
	var errs []error
	if s.AWSRegion != "" && s.Mechanism != SASLAWSMSKIAM {
		errs = append(errs, fmt.Errorf("sasl.aws_region: only used with mechanism %q", SASLAWSMSKIAM))
	}
	switch s.Mechanism {
	case SASLNone:
		if s.Username != "" || s.Password != "" {
			errs = append(errs, errors.New("sasl.mechanism: must be set when sasl.username or sasl.password is"))
		}
	case SASLPlain, SASLSCRAMSHA256, SASLSCRAMSHA512:
		if s.Username == "" {
			errs = append(errs, fmt.Errorf("sasl.username: required with mechanism %q", s.Mechanism))
		}
		if s.Password == "" {
			errs = append(errs, fmt.Errorf("sasl.password: required with mechanism %q", s.Mechanism))
		}
	case SASLAWSMSKIAM:
		if s.Username != "" || s.Password != "" {
			errs = append(errs, fmt.Errorf("sasl.username, sasl.password: not used with mechanism %q, whose credentials come from the AWS SDK", s.Mechanism))
		}
		// The signed request authenticates for minutes to whoever
		// reads it: MSK takes it only over TLS, and so does flowhose.
		if !tlsOn {
			errs = append(errs, fmt.Errorf("tls.enabled: must be true with mechanism %q", s.Mechanism))
		}
	default:
		errs = append(errs, fmt.Errorf("sasl.mechanism: must be %q, %q, %q, %q or empty, got %q",
			SASLPlain, SASLSCRAMSHA256, SASLSCRAMSHA512, SASLAWSMSKIAM, s.Mechanism))
	}
	return errs
}

// Addr is the broker list as kafka-go's Writer and Client take it.
func (c Config) Addr() net.Addr { return kafka.TCP(c.Brokers...) }

// Transport builds the round tripper for kafka-go's Writer and Client:
// TLS, SASL, client id and dial timeout. It reads the TLS files.
func (c Config) Transport() (*kafka.Transport, error) {
	tc, mech, err := c.security()
	if err != nil {
		return nil, err
	}
	return &kafka.Transport{
		ClientID:    c.ClientID,
		DialTimeout: c.DialTimeout,
		TLS:         tc,
		SASL:        mech,
	}, nil
}

// WarnInsecure logs one warning on log when tls.insecure_skip_verify is
// on; section names the configuration section (sources.kafka, …). Each
// component calls it once when it is built, not with every Transport or
// Dialer: a source builds both, and the warning is about the setting.
func (c Config) WarnInsecure(log *slog.Logger, section string) {
	if !c.TLS.Enabled || !c.TLS.InsecureSkipVerify {
		return
	}
	// Without verification whoever sits on the path can pose as the
	// brokers: SASL credentials (a PLAIN password as it is, an MSK IAM
	// request signed for minutes) and every message are theirs to read.
	log.Warn("Kafka TLS certificate verification is off (tls.insecure_skip_verify): anyone on the path to the brokers can read the credentials and the messages",
		"section", section, "sasl_mechanism", c.SASL.Mechanism)
}

// CheckTopic asks the brokers for topic's metadata, so that brokers that
// cannot be reached, a topic that does not exist or credentials that do
// not work fail start-up loudly. The request is bounded by timeout.
func (c Config) CheckTopic(ctx context.Context, tr kafka.RoundTripper, topic string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cl := &kafka.Client{Addr: c.Addr(), Transport: tr, Timeout: timeout}
	res, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return fmt.Errorf("metadata of topic %s from %v: %w", topic, c.Brokers, err)
	}
	for _, t := range res.Topics {
		if t.Name != topic {
			continue
		}
		if t.Error != nil {
			return fmt.Errorf("topic %s: %w", topic, t.Error)
		}
		if len(t.Partitions) == 0 {
			return fmt.Errorf("topic %s has no partitions", topic)
		}
		return nil
	}
	return fmt.Errorf("topic %s: %w", topic, kafka.UnknownTopicOrPartition)
}

// Dialer builds the dialer for kafka-go's Reader and ConsumerGroup, with
// the same settings as Transport.
func (c Config) Dialer() (*kafka.Dialer, error) {
	tc, mech, err := c.security()
	if err != nil {
		return nil, err
	}
	return &kafka.Dialer{
		ClientID:      c.ClientID,
		Timeout:       c.DialTimeout,
		DualStack:     true,
		TLS:           tc,
		SASLMechanism: mech,
	}, nil
}

// security builds the TLS configuration (nil when off) and the SASL
// mechanism (nil when none).
func (c Config) security() (*tls.Config, sasl.Mechanism, error) {
	tc, err := c.TLS.config()
	if err != nil {
		return nil, nil, err
	}
	mech, err := c.SASL.mechanism()
	if err != nil {
		return nil, nil, err
	}
	return tc, mech, nil
}

func (t TLS) config() (*tls.Config, error) {
	if !t.Enabled {
		return nil, nil
	}
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         t.ServerName,
		InsecureSkipVerify: t.InsecureSkipVerify, //nolint:gosec // an explicit, documented test-only switch
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.ca_file: %s holds no PEM certificate", t.CAFile)
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls.cert_file, tls.key_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

func (s SASL) mechanism() (sasl.Mechanism, error) {
	switch s.Mechanism {
	case SASLPlain:
		return plain.Mechanism{Username: s.Username, Password: s.Password}, nil
	case SASLSCRAMSHA256, SASLSCRAMSHA512:
		algo := scram.SHA256
		if s.Mechanism == SASLSCRAMSHA512 {
			algo = scram.SHA512
		}
		// SCRAM normalises both with SASLprep, and the error of its
		// library quotes the password: the check is made here first, so
		// that what is reported (and logged at start-up) does not.
		if _, err := stringprep.SASLprep.Prepare(s.Username); err != nil {
			return nil, fmt.Errorf("sasl.username: SCRAM's SASLprep refuses it: %w", err)
		}
		if _, err := stringprep.SASLprep.Prepare(s.Password); err != nil {
			return nil, errors.New("sasl.password: SCRAM's SASLprep refuses a character of it (a control character, such as a carriage return left at its end, or another prohibited one)")
		}
		m, err := scram.Mechanism(algo, s.Username, s.Password)
		if err != nil {
			return nil, errors.New("sasl.username, sasl.password: refused by SCRAM")
		}
		return m, nil
	case SASLAWSMSKIAM:
		return s.mskIAM()
	}
	return nil, nil
}

// mskIAM builds the AWS_MSK_IAM mechanism from the AWS SDK's default
// configuration. Loading it reads the environment and the shared files
// only; the credentials are fetched (and cached by the SDK until they
// expire) when a connection authenticates, under that connection's
// context, so the background context here bounds nothing that waits.
func (s SASL) mskIAM() (sasl.Mechanism, error) {
	var opts []func(*awsconfig.LoadOptions) error
	if s.AWSRegion != "" {
		opts = append(opts, awsconfig.WithRegion(s.AWSRegion))
	}
	ac, err := awsconfig.LoadDefaultConfig(context.Background(), opts...)
	if err != nil {
		return nil, fmt.Errorf("sasl: load AWS config: %w", err)
	}
	if ac.Region == "" {
		return nil, errors.New("sasl.aws_region: required, since the AWS SDK's configuration names no region")
	}
	return &mskiam.Mechanism{Signer: signer.NewSigner(), Credentials: ac.Credentials, Region: ac.Region}, nil
}

// ValidTopic applies Kafka's rule for topic names.
func ValidTopic(t string) bool {
	if t == "" || len(t) > 249 || t == "." || t == ".." {
		return false
	}
	for _, c := range []byte(t) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}
