package main

import (
	"errors"
	"io"
)

// runLambda serves the Firehose transformation inside AWS Lambda.
// TODO(ops): wire stream/source/transform when it lands.
func runLambda(configPath string, stderr io.Writer) error {
	return errors.New("lambda: not available yet")
}
