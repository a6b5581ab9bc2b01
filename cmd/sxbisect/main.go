// Command sxbisect finds the commit that made a test suite slower, run out
// of memory or stop producing results, unattended: it bisects in scratch
// worktrees, rebuilds at each candidate commit, and records the first bad
// commit with the evidence. Run 'sxbisect help' for the commands; package
// cli is the command line itself.
package main

import (
	"os"

	"github.com/sxbisect/sxbisect/cmd/sxbisect/cli"
	// Predicates written in Go are compiled in by importing their package,
	// which registers them; binary-size is the example (see its package
	// documentation for writing one).
	_ "github.com/sxbisect/sxbisect/predicate/binarysize"
)

func main() { os.Exit(cli.Run(os.Args[1:])) }
