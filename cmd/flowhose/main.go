// Command flowhose receives AWS VPC Flow Logs (Firehose HTTP endpoint,
// Firehose transformation, files), decodes and enriches them, and delivers
// them to sinks with end-to-end acknowledgements.
//
// Usage:
//
//	flowhose [-config FILE] serve
//	flowhose [-config FILE] replay [FILE…|-]
//	flowhose [-config FILE] config check [-config FILE]
//	flowhose config init [NAME]
//	flowhose version
//
// Inside AWS Lambda (AWS_LAMBDA_RUNTIME_API set) it runs the Firehose
// transformation handler whatever the arguments.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if os.Getenv("AWS_LAMBDA_RUNTIME_API") != "" {
		os.Exit(exitCode(runLambda(os.Getenv("FLOWHOSE_CONFIG"), os.Stderr), os.Stderr))
	}
	// Without this, a write to a closed pipe on standard output or error
	// (`flowhose replay … | head -1`) kills the process with SIGPIPE before
	// the batch can fail and the summary be printed; ignored, the write
	// returns EPIPE like any other.
	signal.Ignore(syscall.SIGPIPE)
	ctx, cancel := context.WithCancel(context.Background())
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-signals
		// The first signal starts a graceful drain; a second one means the
		// operator will not wait for it.
		cancel()
		<-signals
		fmt.Fprintln(os.Stderr, "flowhose: second signal, exiting without finishing the drain")
		os.Exit(1)
	}()
	os.Exit(exitCode(run(ctx, os.Args[1:], os.Stdout, os.Stderr), os.Stderr))
}

// exitError carries an exit status; its message, if any, was already shown.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	fmt.Fprintln(stderr, "flowhose:", err)
	return 1
}
