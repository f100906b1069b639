package main

import "github.com/urfave/cli/v2"

// valueFlag is what urfave/cli asks of a flag that takes a value (IntFlag, Uint64Flag,
// StringFlag, Float64Flag, ... all have these methods). noDefault keeps every one of them.
type valueFlag interface {
	cli.DocGenerationFlag
	cli.RequiredFlag
	cli.CategorizableFlag
	cli.ActionableFlag
}

// noDefault returns f without the "(default: …)" that help prints after its usage. Use it
// on a flag whose zero value is no default: a required flag (urfave/cli v2 prints
// "(default: 0)" for a required IntFlag), or one whose absence means something else than
// its zero value (see the flag's usage text). Parsing, Required and c.IsSet are unchanged:
//
//	noDefault(&cli.Uint64Flag{Name: "seed", Required: true, Usage: "initialisation seed"})
func noDefault(f valueFlag) cli.Flag { return hiddenDefault{f} }

// hiddenDefault is a flag whose help shows no default.
type hiddenDefault struct{ valueFlag }

// GetDefaultText is empty, which the help printer takes as "no default".
func (hiddenDefault) GetDefaultText() string { return "" }

// String is the help line; the wrapped flag's own String would ask the wrapped flag, not
// this one, for the default text.
func (f hiddenDefault) String() string { return cli.FlagStringer(f) }
