package cli

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"
	"github.com/sxbisect/sxbisect/bisect"
	"github.com/sxbisect/sxbisect/bisect/compare"
)

// Exit statuses of check.
const (
	exitCheckFailed    = 1
	exitCheckUndecided = 3
)

var cmdCheck = &Command{
	Name:      "check",
	UsageLine: "check --against <ref> [start's flags] [--rounds N] [--max-rounds M] [--json] [<commit>]",
	Short:     "fail when a commit regressed against a reference (for CI)",
	Long: `
Check measures a commit (default HEAD) against a reference commit in the same
run, as compare does: a scratch worktree of the pool for each (your checkout
is never touched), built once, then the test at each, interleaved. It then
applies start's measured conditions to the commit:

  --max-ratio METRIC=X  fails when the ratio to the reference is significantly
                        above X (Mann-Whitney U, one-sided p <= 0.01, package
                        stats' Decide), passes when significantly below;
                        wall time counts quiet runs only
  the test itself       fails when a run fails its conditions: exit status
                        (unless --ignore-exit), --expect, --timeout, an OOM
                        kill inside --memory-limit
  --scoreboard          fails when the lowest pass count is below the
                        reference's

The flags that steer a bisection's search (--good, --first-parent,
--confirm, ...) are refused: check measures the two commits it is given.

It starts with --rounds runs at each commit (3) and adds one round at a time
while a ratio is undecided, up to --max-rounds (15). A ratio needs 5 runs a
side at least: with fewer, even runs that do not overlap at all are not
significant at 0.01. So a clear case costs 5. Each check prints one line,
for a CI log:

  ok   cpu 1.02x <= 1.5 (n=5, p=0.004): 0.185 ± 3%¹ → 0.189 ± 2%¹, ~ (p=0.690…
  FAIL cpu 1.85x > 1.5 (n=5, p=0.004): 0.185 ± 12%¹ → 0.342 ± 10%¹, +85.19%…

After the decision come benchstat's figures (see sxbisect help compare): the
reference's and the commit's median ± spread, the change and its p.

Exit status: 0 every check holds, 1 a check failed (or an error, with a
message on stderr), 2 bad usage, 3 undecided (the figures allow neither
answer at --max-rounds, or the reference fails its own test), 130
interrupted.
`,
	Flags: func(fs *pflag.FlagSet, env *Env) func(context.Context, []string) int {
		sf := registerStartFlags(fs)
		hideSearchFlags(fs)
		var against string
		var rounds, maxRounds int
		var asJSON, quiet bool
		fs.StringVar(&against, "against", "", "the reference `REV` to compare with (required)")
		fs.IntVar(&rounds, "rounds", compare.DefaultCheckRounds, "first `N` runs at each commit, interleaved")
		fs.IntVar(&maxRounds, "max-rounds", compare.DefaultCheckMaxRounds, "add rounds while a ratio is undecided, up to `M`")
		fs.BoolVar(&asJSON, "json", false, "print the checks as one JSON object on stdout")
		fs.BoolVarP(&quiet, "quiet", "q", false, "no progress")
		return func(ctx context.Context, args []string) int {
			if err := refuseSearchFlags(fs, "check"); err != nil {
				return fail(env, "check", err)
			}
			if against == "" {
				return fail(env, "check", &bisect.UsageError{Msg: "give the reference to compare with: --against REV"})
			}
			if fs.ArgsLenAtDash() >= 0 || len(args) > 1 {
				return fail(env, "check", &bisect.UsageError{Msg: "give at most one commit to check (default HEAD): sxbisect check --against REV [flags] [<commit>]"})
			}
			commit := "HEAD"
			if len(args) == 1 {
				commit = args[0]
			}
			spec, err := sf.spec(fs, []string{against, commit})
			if err != nil {
				return fail(env, "check", err)
			}
			if spec.Repeat > 0 && !fs.Changed("rounds") {
				rounds = spec.Repeat
			}
			if rounds < 1 || maxRounds < rounds {
				return fail(env, "check", &bisect.UsageError{Msg: fmt.Sprintf("--rounds %d and --max-rounds %d: give 1 <= rounds <= max-rounds", rounds, maxRounds)})
			}
			opt := compare.Options{Spec: spec, Rounds: rounds, MaxRounds: maxRounds, Progress: progressLines(env, quiet)}
			res, err := compare.Check(ctx, opt, against, commit)
			if err != nil {
				return measureFail(ctx, env, "check", err)
			}
			status := 0
			switch res.Status {
			case compare.Fail:
				status = exitCheckFailed
			case compare.Undecided:
				status = exitCheckUndecided
			}
			if asJSON {
				return printJSON(env, "check", res, status)
			}
			fmt.Fprint(env.Stdout, res.Text())
			return status
		}
	},
}
