// Command sxbisect finds the commit that made a test suite slower, run out
// of memory or stop producing results, unattended: it bisects in scratch
// worktrees, rebuilds at each candidate commit, and records the first bad
// commit with the evidence. Run 'sxbisect help' for the commands; package
// cli is the command line itself.
package main

import (
	"os"
	"runtime/debug"

	"github.com/sxbisect/sxbisect/cmd/sxbisect/cli"
	// Predicates written in Go are compiled in by importing their package,
	// which registers them; binary-size is the example (see its package
	// documentation for writing one).
	_ "github.com/sxbisect/sxbisect/predicate/binarysize"
)

// gcPercent is the garbage collector's target unless GOGC says otherwise.
// A bisection of a long history holds a commit for every commit of it
// (a million: some 90 MB), built up in one go, and with Go's default of
// 100 the heap grows to twice that before a collection; at 50 the peak of
// a whole-history session on a million commits falls from 245 to 210 MB,
// below git's 235, and the first step takes no longer (the collector's
// work is small beside decoding history, and builds and tests dwarf both).
const gcPercent = 50

func main() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(gcPercent)
	}
	os.Exit(cli.Run(os.Args[1:]))
}
