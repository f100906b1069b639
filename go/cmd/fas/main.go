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

// groups maps a parent command name ("" for top level) to its subcommands.
var groups = map[string][]*cli.Command{}

// groupUsage holds the one-line usage of each parent command.
var groupUsage = map[string]string{
	"model": "inspect, initialise and run models (cross-checking tools)",
	"data":  "inspect and check data sets",
}

// register adds commands under parent ("" for top level).
func register(parent string, cmds ...*cli.Command) {
	groups[parent] = append(groups[parent], cmds...)
}

func buildApp() *cli.App {
	cmds := append([]*cli.Command(nil), groups[""]...)
	for parent, subs := range groups {
		if parent == "" {
			continue
		}
		sort.Slice(subs, func(i, j int) bool { return subs[i].Name < subs[j].Name })
		cmds = append(cmds, &cli.Command{Name: parent, Usage: groupUsage[parent], Subcommands: subs})
	}
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].Name < cmds[j].Name })
	return &cli.App{
		Name:                 "fas",
		Usage:                "generalizable face anti-spoofing (ANRL; FGHV is next)",
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
