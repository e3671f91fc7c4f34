package kafkaconn

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"

	"github.com/flowhose/flowhose/stream/source/kafka/kafkatest"
)

// staticAWS gives the AWS SDK's default chain known static credentials
// from the environment, and nothing else to find.
func staticAWS(t *testing.T, region string) {
	t.Helper()
	none := filepath.Join(t.TempDir(), "none")
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID":           "AKIDFLOWHOSETEST",
		"AWS_SECRET_ACCESS_KEY":       "flowhose/test+secret",
		"AWS_SESSION_TOKEN":           "token/with+padding==",
		"AWS_REGION":                  region,
		"AWS_DEFAULT_REGION":          "",
		"AWS_PROFILE":                 "",
		"AWS_CONFIG_FILE":             none,
		"AWS_SHARED_CREDENTIALS_FILE": none,
		"AWS_EC2_METADATA_DISABLED":   "true",
	} {
		t.Setenv(k, v)
	}
}

func TestMSKIAMValidation(t *testing.T) {
	for _, tc := range []struct {
		sasl  SASL
		tls   bool
		wants []string // error substrings; none means valid
	}{
		{SASL{Mechanism: SASLAWSMSKIAM}, true, nil},
		{SASL{Mechanism: SASLAWSMSKIAM, AWSRegion: "eu-west-1"}, true, nil},
		{SASL{Mechanism: SASLAWSMSKIAM}, false, []string{"tls.enabled: must be true"}},
		{SASL{Mechanism: SASLAWSMSKIAM, Username: "u", Password: "p"}, true, []string{"sasl.username, sasl.password: not used"}},
		{SASL{Mechanism: SASLSCRAMSHA256, Username: "u", Password: "p", AWSRegion: "eu-west-1"}, true, []string{"sasl.aws_region: only used"}},
		{SASL{AWSRegion: "eu-west-1"}, false, []string{"sasl.aws_region: only used"}},
	} {
		cfg := Default("127.0.0.1:9098")
		cfg.TLS.Enabled = tc.tls
		cfg.SASL = tc.sasl
		err := cfg.Validate()
		if len(tc.wants) == 0 && err != nil {
			t.Errorf("%+v tls=%v: %v", tc.sasl, tc.tls, err)
		}
		for _, w := range tc.wants {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%+v tls=%v: %v, want %q", tc.sasl, tc.tls, err, w)
			}
		}
	}
}

func TestMSKIAMNeedsARegion(t *testing.T) {
	staticAWS(t, "")
	cfg := Default("127.0.0.1:9098")
	cfg.TLS.Enabled = true
	cfg.SASL = SASL{Mechanism: SASLAWSMSKIAM}
	if _, err := cfg.Dialer(); err == nil || !strings.HasPrefix(err.Error(), "sasl.aws_region: required") {
		t.Fatalf("no region anywhere: %v", err)
	}
	cfg.SASL.AWSRegion = "eu-west-1"
	if _, err := cfg.Dialer(); err != nil {
		t.Fatalf("region from the configuration: %v", err)
	}
}

// The AWS_MSK_IAM payload is checked the way MSK checks it: the SigV4
// query-string signature of "GET kafka://host/?Action=kafka-cluster:Connect"
// is computed again here, independently of the AWS SDK, from the
// payload's fields and the known secret, and must equal the one sent.
// There is no MSK here: whether MSK accepts it is not tested (see README).
func TestMSKIAMPayloadSignature(t *testing.T) {
	staticAWS(t, "us-east-1")
	cfg := Default("b-1.flows.abc123.c2.kafka.eu-west-1.amazonaws.com:9098")
	cfg.TLS.Enabled = true
	cfg.SASL = SASL{Mechanism: SASLAWSMSKIAM, AWSRegion: "eu-west-1"} // the key wins over AWS_REGION
	tr, d := build(t, cfg)
	if d.SASLMechanism.Name() != "AWS_MSK_IAM" || tr.SASL.Name() != "AWS_MSK_IAM" {
		t.Fatalf("mechanisms %q, %q", d.SASLMechanism.Name(), tr.SASL.Name())
	}
	const host = "b-1.flows.abc123.c2.kafka.eu-west-1.amazonaws.com"
	ctx := sasl.WithMetadata(context.Background(), &sasl.Metadata{Host: host, Port: 9098})
	before := time.Now().UTC().Add(-time.Second)
	_, ir, err := d.SASLMechanism.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var p map[string]string
	if err := json.Unmarshal(ir, &p); err != nil {
		t.Fatalf("payload %s: %v", ir, err)
	}
	date, err := time.Parse("20060102T150405Z", p["x-amz-date"])
	if err != nil || date.Before(before.Truncate(time.Second)) || date.After(time.Now().UTC()) {
		t.Fatalf("x-amz-date %q (%v), want now", p["x-amz-date"], err)
	}
	day := date.Format("20060102")
	scope := day + "/eu-west-1/kafka-cluster/aws4_request"
	for k, want := range map[string]string{
		"version":              "2020_10_22",
		"host":                 host,
		"action":               "kafka-cluster:Connect",
		"x-amz-algorithm":      "AWS4-HMAC-SHA256",
		"x-amz-credential":     "AKIDFLOWHOSETEST/" + scope,
		"x-amz-security-token": "token/with+padding==",
		"x-amz-signedheaders":  "host",
		"x-amz-expires":        "300",
	} {
		if p[k] != want {
			t.Errorf("%s = %q, want %q", k, p[k], want)
		}
	}

	query := []string{ // sorted by name, as SigV4 wants
		"Action=" + uriEncode(p["action"]),
		"X-Amz-Algorithm=" + uriEncode(p["x-amz-algorithm"]),
		"X-Amz-Credential=" + uriEncode(p["x-amz-credential"]),
		"X-Amz-Date=" + uriEncode(p["x-amz-date"]),
		"X-Amz-Expires=" + uriEncode(p["x-amz-expires"]),
		"X-Amz-Security-Token=" + uriEncode(p["x-amz-security-token"]),
		"X-Amz-SignedHeaders=" + uriEncode(p["x-amz-signedheaders"]),
	}
	emptyHash := sha256.Sum256(nil)
	canonical := strings.Join([]string{"GET", "/", strings.Join(query, "&"), "host:" + host + "\n", "host", hex.EncodeToString(emptyHash[:])}, "\n")
	crHash := sha256.Sum256([]byte(canonical))
	toSign := strings.Join([]string{"AWS4-HMAC-SHA256", p["x-amz-date"], scope, hex.EncodeToString(crHash[:])}, "\n")
	key := []byte("AWS4flowhose/test+secret")
	for _, part := range []string{day, "eu-west-1", "kafka-cluster", "aws4_request"} {
		key = hmacSHA256(key, part)
	}
	if want := hex.EncodeToString(hmacSHA256(key, toSign)); p["x-amz-signature"] != want {
		t.Fatalf("x-amz-signature %q, want %q (canonical request:\n%s)", p["x-amz-signature"], want, canonical)
	}
}

func hmacSHA256(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

// uriEncode is SigV4's encoding: every byte but A-Z a-z 0-9 - _ . ~ as %XX.
func uriEncode(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_', c == '.', c == '~':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// Against the real broker, which offers no AWS_MSK_IAM: the handshake
// names the mechanism and the broker refuses it, so the mechanism is what
// kafka-go's Dialer and Transport send.
func TestMSKIAMOfferedToARealBroker(t *testing.T) {
	sec := kafkatest.SecuredBroker(t)
	staticAWS(t, "eu-west-1")
	cfg := Default(sec.SASLSSL)
	cfg.TLS = TLS{Enabled: true, CAFile: sec.CA}
	cfg.SASL = SASL{Mechanism: SASLAWSMSKIAM}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	refused(ctx, t, cfg, kafka.UnsupportedSASLMechanism.Error(), func(err error) bool {
		return errors.Is(err, kafka.UnsupportedSASLMechanism)
	})
}
