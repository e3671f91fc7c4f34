package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/flowhose/flowhose/config"
)

// configInit prints the starter configuration named by args, or lists the
// starters when there is none.
func configInit(args []string, stdout, stderr io.Writer) error {
	starters := config.Starters()
	if len(args) == 0 {
		fmt.Fprintln(stdout, "Starter configurations (flowhose config init NAME > flowhose.yaml):")
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		for _, s := range starters {
			fmt.Fprintf(tw, "  %s\t%s\n", s.Name, s.Summary)
		}
		return tw.Flush()
	}
	if len(args) > 1 {
		fmt.Fprintln(stderr, "usage: flowhose config init [NAME]")
		return exitError{2}
	}
	for _, s := range starters {
		if s.Name == args[0] {
			text, err := s.YAML()
			if err != nil {
				return err
			}
			_, err = io.WriteString(stdout, text)
			return err
		}
	}
	fmt.Fprintf(stderr, "flowhose: no starter configuration %q; `flowhose config init` lists them\n", args[0])
	return exitError{2}
}
