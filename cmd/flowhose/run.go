package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

const usage = `Usage: flowhose [-config FILE] COMMAND [ARGS]

Commands:
  serve                  run the HTTP server (Firehose endpoint, health, metrics)
  replay [FILE...|-]     deliver flow-log files (plain or gzip text, Parquet, Firehose
                         error records; - is stdin) and exit
  replay [-since DATE] [-until DATE] [-checkpoint FILE] s3://BUCKET/PREFIX...
                         the same for the objects under S3 prefixes (backfill)
  config check           validate the configuration and print it, secrets redacted
  config init [NAME]     print a commented starter configuration (without NAME: list them)
  version                print the version

The configuration file may also be named by FLOWHOSE_CONFIG; every key can be
overridden by a FLOWHOSE_<KEY_PATH> environment variable.
`

// run executes one command line. It returns when the command is done or,
// for serve, when ctx is cancelled and the drain has finished.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	global := flag.NewFlagSet("flowhose", flag.ContinueOnError)
	global.SetOutput(stderr)
	global.Usage = func() { fmt.Fprint(stderr, usage) }
	configPath := global.String("config", os.Getenv("FLOWHOSE_CONFIG"), "configuration `FILE` (YAML)")
	if err := global.Parse(args); err != nil {
		return flagError(err)
	}
	args = global.Args()
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitError{2}
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "serve":
		path, _, err := commandFlags("serve", args, *configPath, stderr)
		if err != nil {
			return err
		}
		return serve(ctx, path, stdout, stderr)
	case "replay":
		path, ra, err := parseReplayArgs(args, *configPath, stderr)
		if err != nil {
			return err
		}
		return replay(ctx, path, ra, os.Stdin, stdout, stderr)
	case "config":
		if len(args) > 0 && args[0] == "init" {
			return configInit(args[1:], stdout, stderr)
		}
		if len(args) == 0 || args[0] != "check" {
			fmt.Fprintln(stderr, "usage: flowhose config check [-config FILE] | config init [NAME]")
			return exitError{2}
		}
		path, _, err := commandFlags("config check", args[1:], *configPath, stderr)
		if err != nil {
			return err
		}
		return configCheck(path, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, versionString())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprintf(stderr, "flowhose: unknown command %q\n\n%s", cmd, usage)
		return exitError{2}
	}
}

// commandFlags parses a command's own flags: -config may also follow the
// command name.
func commandFlags(name string, args []string, configPath string, stderr io.Writer) (string, []string, error) {
	fs := flag.NewFlagSet("flowhose "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", configPath, "configuration `FILE` (YAML)")
	if err := fs.Parse(args); err != nil {
		return "", nil, flagError(err)
	}
	return *path, fs.Args(), nil
}

func flagError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return exitError{0}
	}
	return exitError{2}
}
