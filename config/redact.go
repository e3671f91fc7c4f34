package config

import (
	"net/url"
	"reflect"
	"strings"
)

// Redaction replaces secret values in Redacted's output.
const Redaction = "REDACTED"

// secretKeyParts mark a key as secret when its last segment contains one.
var secretKeyParts = []string{"access_key", "password", "secret", "token", "api_key", "credentials", "external_id"}

// Redacted returns a copy of c with secrets replaced by Redaction: values of
// keys named like access keys, passwords, secrets or tokens, and passwords
// embedded in URLs. Empty values stay empty, so the output still shows
// whether a secret is set.
func (c Config) Redacted() Config {
	r := c
	// Slices are shared with c; give the copy its own before editing.
	walk(reflect.ValueOf(&r).Elem(), "", func(key string, v reflect.Value) {
		if v.Kind() == reflect.Slice && !v.IsNil() {
			v.Set(reflect.AppendSlice(reflect.MakeSlice(v.Type(), 0, v.Len()), v))
		}
	})
	walk(reflect.ValueOf(&r).Elem(), "", func(key string, v reflect.Value) {
		secret := isSecretKey(key)
		switch {
		case v.Kind() == reflect.String:
			v.SetString(redactString(v.String(), secret))
		case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.String:
			for i := range v.Len() {
				e := v.Index(i)
				e.SetString(redactString(e.String(), secret))
			}
		}
	})
	return r
}

func isSecretKey(key string) bool {
	last := key[strings.LastIndexByte(key, '.')+1:]
	for _, p := range secretKeyParts {
		if strings.Contains(last, p) {
			return true
		}
	}
	return false
}

func redactString(s string, secret bool) string {
	if s == "" {
		return s
	}
	if secret {
		return Redaction
	}
	if u, err := url.Parse(s); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), Redaction)
			return u.String()
		}
	}
	return s
}
