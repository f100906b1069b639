// Command fas trains and evaluates generalizable face anti-spoofing models.
//
// Each command group lives in its own file and registers itself from init(), so
// adding a command never touches this file.
package main

import (
	"fmt"
	"os"
	"sort"

	"github.com/urfave/cli/v2"
)

// groups maps a parent command name ("" for top level) to the constructors of its
// subcommands: every buildApp makes fresh commands, so flag values (--set accumulates) never
// leak from one run of an app into the next (tests run many in one process).
var groups = map[string][]func() *cli.Command{}

// groupUsage holds the one-line usage of each parent command.
var groupUsage = map[string]string{
	"model":  "inspect, initialise and run models (cross-checking tools)",
	"data":   "inspect and check data sets",
	"import": "import pretrained models published elsewhere",
}

// register adds commands under parent ("" for top level).
func register(parent string, cmds ...func() *cli.Command) {
	groups[parent] = append(groups[parent], cmds...)
}

func build(fs []func() *cli.Command) []*cli.Command {
	out := make([]*cli.Command, len(fs))
	for i, f := range fs {
		out[i] = f()
	}
	return out
}

func buildApp() *cli.App {
	cmds := build(groups[""])
	for parent, fs := range groups {
		if parent == "" {
			continue
		}
		subs := build(fs)
		sort.Slice(subs, func(i, j int) bool { return subs[i].Name < subs[j].Name })
		cmds = append(cmds, &cli.Command{Name: parent, Usage: groupUsage[parent], Subcommands: subs})
	}
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].Name < cmds[j].Name })
	return &cli.App{
		Name:                 "fas",
		Usage:                "generalizable face anti-spoofing (ANRL, FGHV)",
		Commands:             cmds,
		EnableBashCompletion: true,
	}
}

func main() {
	if err := buildApp().Run(os.Args); err != nil {
		reportRankFailure(err)
		fmt.Fprintln(os.Stderr, "fas:", err)
		os.Exit(1)
	}
}
