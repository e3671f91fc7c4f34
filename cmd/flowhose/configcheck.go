package main

import (
	"fmt"
	"io"

	"github.com/flowhose/flowhose/config"
)

// configCheck loads and validates the configuration. It prints the
// effective configuration, secrets redacted, or every error and exit 1.
func configCheck(path string, stdout, stderr io.Writer) error {
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintln(stderr, "configuration is invalid:")
		for _, e := range flatten(err) {
			fmt.Fprintln(stderr, "  "+e.Error())
		}
		return exitError{1}
	}
	out, err := cfg.YAML()
	if err != nil {
		return err
	}
	_, err = stdout.Write(out)
	return err
}

// flatten lists the leaves of joined errors.
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}
