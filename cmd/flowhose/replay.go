package main

import (
	"context"
	"errors"
	"io"
)

// replay delivers flow-log files through the configured pipeline.
// TODO(ops): wire stream/source/file when it lands.
func replay(ctx context.Context, configPath string, files []string, stdout, stderr io.Writer) error {
	return errors.New("replay: not available yet")
}
