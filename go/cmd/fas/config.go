package main

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/fasgo/fasgo/go/internal/config"
)

func init() { register("", configCommand) }

func configCommand() *cli.Command {
	return &cli.Command{
		Name:  "config",
		Usage: "show the resolved configuration and the keys it takes",
		Subcommands: []*cli.Command{
			{
				Name:  "show",
				Usage: "print the resolved configuration (defaults < file < FAS_* environment < --set) as YAML",
				Description: "Loads and validates the config and prints every key, defaults included; this is what a\n" +
					"run writes to runs/<name>/config.yaml. Errors name the key and where its value came from.",
				Flags: append(configFlags(),
					&cli.BoolFlag{Name: "check-paths", Usage: "also check that the LMDB and every list file exist"}),
				Action: runConfigShow,
			},
			{
				Name:   "keys",
				Usage:  "list every key with its type, default and environment variable",
				Action: runConfigKeys,
			},
		},
	}
}

// setFlag collects repeated --set flags. cli's StringSliceFlag would split values on
// commas, which breaks YAML lists such as transform.mean=[0.4,0.5,0.6].
type setFlag struct{ values []string }

func (s *setFlag) Set(v string) error {
	s.values = append(s.values, v)
	return nil
}

func (s *setFlag) String() string { return strings.Join(s.values, " ") }

// configFlags are the flags of every command that loads a config (--config, --set).
func configFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "YAML config file", Required: true},
		&cli.GenericFlag{Name: "set", Value: &setFlag{},
			Usage: "override a key with a YAML value, e.g. --set train.epochs=3 --set transform.mean=[0.4,0.5,0.6] (repeatable)"},
	}
}

// loadConfig resolves the config of a command that has configFlags.
func loadConfig(c *cli.Context) (*config.Config, error) {
	return config.Load(c.String("config"), cliSets(c), os.Environ())
}

func runConfigShow(c *cli.Context) error {
	if c.NArg() > 0 {
		return fmt.Errorf("config show: unexpected arguments %q (use --config FILE)", c.Args().Slice())
	}
	cfg, err := loadConfig(c)
	if err != nil {
		return err
	}
	if c.Bool("check-paths") {
		if err := cfg.CheckPaths(); err != nil {
			return err
		}
	}
	y, err := cfg.YAML()
	if err != nil {
		return err
	}
	_, err = c.App.Writer.Write(y)
	return err
}

func runConfigKeys(c *cli.Context) error {
	keys, err := config.Describe()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tTYPE\tDEFAULT\tENVIRONMENT")
	for _, k := range keys {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.Key, k.Type, k.Default, k.Env)
	}
	return tw.Flush()
}
