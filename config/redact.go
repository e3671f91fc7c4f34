package config

import (
	"bytes"
	"errors"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/flowhose/flowhose/config/redact"
)

// Redaction replaces secret values in Redacted's output.
const Redaction = redact.Mask

// Redacted returns a copy of c with secrets replaced by Redaction: values of
// keys named like access keys, passwords, secrets or tokens (see
// redact.IsSecretKey), and user-info and secret parameters in any value
// that looks like a URL (see redact.URL). Empty values stay empty, so the
// output still shows whether a secret is set.
func (c Config) Redacted() Config {
	r := c
	// Slices are shared with c; give the copy its own before editing.
	walk(reflect.ValueOf(&r).Elem(), "", func(key string, v reflect.Value) {
		if v.Kind() == reflect.Slice && !v.IsNil() {
			v.Set(reflect.AppendSlice(reflect.MakeSlice(v.Type(), 0, v.Len()), v))
		}
	})
	eachString(&r, func(key string, v reflect.Value) {
		v.SetString(redactString(v.String(), redact.IsSecretKey(key)))
	})
	return r
}

// eachString calls f for every string, and every string of a list, in c.
func eachString(c *Config, f func(key string, v reflect.Value)) {
	walk(reflect.ValueOf(c).Elem(), "", func(key string, v reflect.Value) {
		switch {
		case v.Kind() == reflect.String:
			f(key, v)
		case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.String:
			for i := range v.Len() {
				f(key, v.Index(i))
			}
		}
	})
}

func redactString(s string, secret bool) string {
	if s == "" {
		return s
	}
	if secret {
		return Redaction
	}
	return redact.URL(s)
}

// scrub is the safety net behind the components' Validate methods, which
// show URLs through redact.URL and never show secret values: it rewrites
// every message of err that still quotes a value of c that Redacted would
// change, as it is or Go-quoted, to show the redacted value instead. Only
// whole values and their whitespace-separated words are replaced, not
// parts of a URL, since a bare user name such as "elastic" would also
// match key names.
func (c Config) scrub(err error) error {
	if err == nil {
		return nil
	}
	var pairs [][2]string
	add := func(s string, secret bool) {
		if r := redactString(s, secret); r != s {
			pairs = append(pairs, [2]string{s, r})
			if q := strconv.Quote(s); q[1:len(q)-1] != s {
				pairs = append(pairs, [2]string{q[1 : len(q)-1], r})
			}
		}
	}
	eachString(&c, func(key string, v reflect.Value) {
		secret := redact.IsSecretKey(key)
		add(v.String(), secret)
		if !secret {
			// Parsers quote the word they stumble on (a decode format's
			// token), not the whole value.
			for _, f := range strings.Fields(v.String()) {
				add(f, false)
			}
		}
	})
	if len(pairs) == 0 {
		return err
	}
	// At one position the first matching pair wins: try longer values
	// first, so a secret inside a longer value does not stop the longer
	// one from matching.
	slices.SortStableFunc(pairs, func(a, b [2]string) int { return len(b[0]) - len(a[0]) })
	var args []string
	for _, p := range pairs {
		args = append(args, p[0], p[1])
	}
	replacer := strings.NewReplacer(args...)
	var out []error
	for _, e := range Problems(err) {
		if msg := replacer.Replace(e.Error()); msg != e.Error() {
			e = errors.New(msg)
		}
		out = append(out, e)
	}
	return errors.Join(out...)
}

// Problems lists the errors that err joins, recursively, or err itself:
// one problem each from an error of Load.
func Problems(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, Problems(e)...)
		}
		return out
	}
	return []error{err}
}

// typeErrorValue is the start of a value that yaml.v3 quotes in a type
// error ("line 3: cannot unmarshal !!str `hunter2` into []string"): the
// whole value up to 10 bytes, else its first 7 and "...".
var typeErrorValue = regexp.MustCompile("^line ([0-9]+): cannot unmarshal (\\S+) `.*` into ")

// redactTypeError hides the values that yaml.v3 quotes in te when they
// sit on a line that holds a secret key's value or a credential-shaped
// string: those values never reach the Config, so scrub cannot see them.
func redactTypeError(data []byte, te *yaml.TypeError) error {
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		return te
	}
	lines := map[string]bool{}
	var visit func(n *yaml.Node, secret bool)
	visit = func(n *yaml.Node, secret bool) {
		switch n.Kind {
		case yaml.ScalarNode:
			if secret || redact.URL(n.Value) != n.Value {
				lines[strconv.Itoa(n.Line)] = true
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				visit(n.Content[i+1], secret || redact.IsSecretKey(n.Content[i].Value))
			}
		default:
			for _, child := range n.Content {
				visit(child, secret)
			}
		}
	}
	visit(&doc, false)
	out := &yaml.TypeError{Errors: slices.Clone(te.Errors)}
	for i, msg := range out.Errors {
		if m := typeErrorValue.FindStringSubmatchIndex(msg); m != nil && lines[msg[m[2]:m[3]]] {
			out.Errors[i] = typeErrorValue.ReplaceAllString(msg[:m[1]], "line $1: cannot unmarshal $2 `"+Redaction+"` into ") + msg[m[1]:]
		}
	}
	return out
}
