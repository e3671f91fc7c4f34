package main

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/flowhose/flowhose/config"
)

// configCheck loads and validates the configuration. It prints the
// effective configuration, secrets redacted, with any warnings on stderr,
// or every error and exit 1.
func configCheck(path string, stdout, stderr io.Writer) error {
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintln(stderr, "configuration is invalid:")
		for _, e := range flatten(err) {
			fmt.Fprintln(stderr, "  "+e.Error())
		}
		return exitError{1}
	}
	for _, w := range cfg.Warnings() {
		fmt.Fprintln(stderr, "warning: "+w)
	}
	out, err := cfg.YAML()
	if err != nil {
		return err
	}
	_, err = stdout.Write(out)
	return err
}

// logWarnings logs what config check prints as warnings, at start-up.
func logWarnings(log *slog.Logger, cfg config.Config) {
	for _, w := range cfg.Warnings() {
		log.Warn(w)
	}
}

// flatten lists the problems of a configuration error, one a line.
func flatten(err error) []error { return config.Problems(err) }
