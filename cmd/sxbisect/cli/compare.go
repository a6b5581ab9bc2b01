package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/pflag"
	"github.com/sxbisect/sxbisect/bisect"
	"github.com/sxbisect/sxbisect/bisect/compare"
)

var cmdCompare = &Command{
	Name:      "compare",
	UsageLine: "compare [start's flags] [--rounds N] [--json] <good> <bad>",
	Short:     "measure the test at two commits side by side: check the premise",
	Long: `
Compare measures the test at the good and the bad commit before a bisection,
to check that the regression is real and is what it seems. Each commit is
checked out in a scratch worktree of the pool (your checkout is never
touched) and built once; then the test runs --rounds times at each,
interleaved (good, bad, good, bad), so that a drift of the machine falls on
both alike. Every run is measured as bisection measures it: CPU time (user +
system) of the whole process tree, wall time, peak memory, exit status, and
the scoreboard's pass/total with --scoreboard or --scoreboard-file.

The table gives, per metric, both medians, the ratio bad/good, its 98%
confidence interval and whether it differs from 1: a Mann-Whitney U test,
one-sided at level 0.01 each way, computed exactly (package stats' Decide
with X = 1, as --max-ratio decides). A line under the table reads it, e.g.
"cpu 0.98x (not significant), wall 2.91x (significant): wall time moved
without CPU time: the machine was busier (or the test waits more), not the
code slower".

The flags are start's: --run, --build, --timeout, --memory-limit, --expect,
--scoreboard, ...; those about the search are ignored.

Exit status: 0 measured (whatever the figures), 1 an error (a build failed),
2 bad usage, 130 interrupted.
`,
	Flags: func(fs *pflag.FlagSet, env *Env) func(context.Context, []string) int {
		sf := registerStartFlags(fs)
		var rounds int
		var asJSON, quiet bool
		fs.IntVar(&rounds, "rounds", compare.DefaultRounds, "run the test `N` times at each commit, interleaved")
		fs.BoolVar(&asJSON, "json", false, "print the table as one JSON object on stdout")
		fs.BoolVarP(&quiet, "quiet", "q", false, "no progress")
		return func(ctx context.Context, args []string) int {
			if fs.ArgsLenAtDash() >= 0 {
				return fail(env, "compare", &bisect.UsageError{Msg: "compare takes no paths after --"})
			}
			if len(args) != 2 {
				return fail(env, "compare", &bisect.UsageError{Msg: "give the good and the bad revision, in that order: sxbisect compare [flags] <good> <bad>"})
			}
			spec, err := sf.spec(fs, args)
			if err != nil {
				return fail(env, "compare", err)
			}
			opt := compare.Options{Spec: spec, Rounds: rounds, Progress: progressLines(env, quiet)}
			res, err := compare.Compare(ctx, opt, args[0], args[1])
			if err != nil {
				return measureFail(ctx, env, "compare", err)
			}
			if asJSON {
				return printJSON(env, "compare", res, 0)
			}
			fmt.Fprint(env.Stdout, res.Text())
			return 0
		}
	},
}

// progressLines writes progress to stderr, a line at a time.
func progressLines(env *Env, quiet bool) func(string) {
	if quiet {
		return nil
	}
	return func(msg string) { fmt.Fprintf(env.Stderr, "sxbisect: %s\n", msg) }
}

// measureFail reports an error of compare or check.
func measureFail(ctx context.Context, env *Env, cmd string, err error) int {
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		fmt.Fprintf(env.Stderr, "sxbisect %s: interrupted\n", cmd)
		return exitInterrupted
	}
	return fail(env, cmd, err)
}

func printJSON(env *Env, cmd string, v any, status int) int {
	enc := json.NewEncoder(env.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fail(env, cmd, err)
	}
	return status
}
