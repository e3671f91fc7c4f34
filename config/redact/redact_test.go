package redact

import "testing"

func TestURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"http://127.0.0.1:9200", "http://127.0.0.1:9200"},
		{"/var/log/flowhose.ndjson", "/var/log/flowhose.ndjson"},
		{"https://user:pw@es.example:9200/", "https://REDACTED@es.example:9200/"},
		{"https://TOKEN@es.example", "https://REDACTED@es.example"},
		{"https://@es.example", "https://@es.example"},
		{"TOKEN@es.example:9200", "REDACTED@es.example:9200"},
		// Unencoded delimiters in a password, which url.Parse misreads.
		{"https://u:p/a?s#s@es.example/x", "https://REDACTED@es.example/x"},
		{"https://es.example/x?api_key=K&format=json&X-Amz-Signature=S&sig=G", "https://es.example/x?api_key=REDACTED&format=json&X-Amz-Signature=REDACTED&sig=REDACTED"},
		{"https://es.example/?apikey=K;access_token=T#id_token=I&x=1", "https://es.example/?apikey=REDACTED;access_token=REDACTED#id_token=REDACTED&x=1"},
		{"https://es.example/?Api%5FKey=K&password=&token", "https://es.example/?Api%5FKey=REDACTED&password=&token"},
		{"https://u:p@es.example/?secret=s=s", "https://REDACTED@es.example/?secret=REDACTED"},
		{"ftp://u@h/?q=1", "ftp://REDACTED@h/?q=1"},
	}
	for _, tt := range tests {
		if got := URL(tt.in); got != tt.want {
			t.Errorf("URL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestIsSecretKey(t *testing.T) {
	for _, tt := range []struct {
		key    string
		secret bool
	}{
		{"sources.firehose.access_keys", true},
		{"sinks.elasticsearch.password", true},
		{"sinks.elasticsearch.api_key", true},
		{"sinks.elasticsearch.bearer_token", true},
		{"sinks.splunk.token", true},
		{"enrich.ec2.external_id", true},
		{"tls.private_key", true},
		{"sinks.ndjson.path", false},
		{"sinks.elasticsearch.username", false},
		{"http.max_header_bytes", false},
	} {
		if got := IsSecretKey(tt.key); got != tt.secret {
			t.Errorf("IsSecretKey(%q) = %v, want %v", tt.key, got, tt.secret)
		}
	}
}

func FuzzURL(f *testing.F) {
	f.Add("https://u:p@h/?token=t")
	f.Add("a@b?c=d#e")
	f.Fuzz(func(t *testing.T, s string) {
		got := URL(s)
		if URL(got) != got {
			t.Errorf("URL is not idempotent: %q -> %q -> %q", s, got, URL(got))
		}
	})
}
