// Package redact hides credentials in configuration values, for the
// effective configuration that `flowhose config check` prints and for the
// validation errors that quote a rejected value. It has no dependencies so
// that every component's Validate can use it.
package redact

import (
	"net/url"
	"strings"
)

// Mask replaces a hidden value.
const Mask = "REDACTED"

// secretKeyParts mark a configuration key as secret when its last dotted
// segment contains one.
var secretKeyParts = []string{"access_key", "api_key", "credentials", "external_id", "password", "private_key", "routing_key", "secret", "token", "webhook_url"}

// secretParamParts mark a URL query or fragment parameter as secret when
// its lower-cased name contains one. The list is broader than for keys:
// a URL's parameters are chosen by whoever runs the server, so any name
// that may carry a credential (api_key, apikey, X-Amz-Signature, sig,
// access_token, auth, session) is hidden.
var secretParamParts = []string{"key", "token", "pass", "pwd", "secret", "sig", "credential", "auth", "session", "jwt"}

// IsSecretKey reports whether the configuration key (dotted path) names a
// secret, whose whole value must never be shown.
func IsSecretKey(key string) bool {
	return containsAny(key[strings.LastIndexByte(key, '.')+1:], secretKeyParts)
}

func containsAny(s string, parts []string) bool {
	for _, p := range parts {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

// URL returns s with its user-info (user name and password: a user name
// alone is often a token, as in https://TOKEN@host) and the values of
// secret-looking query and fragment parameters replaced by Mask. Strings
// without either come back unchanged.
//
// It does not rely on url.Parse, since the URLs that need it most are the
// ones validation rejects: an unencoded '/', '?' or '#' in a password, a
// missing scheme (TOKEN@host:9200) or a bad port. So the user-info runs to
// the last '@' of the string, which hides more than needed when a query
// holds an '@' rather than less when a password does.
func URL(s string) string {
	start := 0
	if i := strings.Index(s, "://"); i >= 0 {
		start = i + 3
	}
	at := strings.LastIndexByte(s[start:], '@')
	if at <= 0 {
		return maskParams(s, start)
	}
	return s[:start] + Mask + "@" + maskParams(s[start+at+1:], 0)
}

// maskParams masks the values of secret parameters after the first '?' or
// '#' at or after from; parameters are separated by '&', ';', '?' or '#'.
func maskParams(s string, from int) string {
	q := strings.IndexAny(s[from:], "?#")
	if q < 0 {
		return s
	}
	var b strings.Builder
	b.WriteString(s[:from+q])
	rest := s[from+q:]
	for rest != "" {
		b.WriteByte(rest[0]) // the separator
		rest = rest[1:]
		end := strings.IndexAny(rest, "&;?#")
		if end < 0 {
			end = len(rest)
		}
		param := rest[:end]
		rest = rest[end:]
		name, value, hasValue := strings.Cut(param, "=")
		if hasValue && value != "" && isSecretParam(name) {
			b.WriteString(name + "=" + Mask)
			continue
		}
		b.WriteString(param)
	}
	return b.String()
}

func isSecretParam(name string) bool {
	if n, err := url.QueryUnescape(name); err == nil {
		name = n
	}
	return containsAny(strings.ToLower(name), secretParamParts)
}
