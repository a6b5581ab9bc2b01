package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/pflag"
	"github.com/sxbisect/sxbisect/bisect"
	"github.com/sxbisect/sxbisect/bisect/compare"
)

var cmdCompare = &Command{
	Name:      "compare",
	UsageLine: "compare [start's flags] [--rounds N] [--json] <good> <bad>\n       sxbisect compare --plan PLAN [--rounds N] [--json]",
	Short:     "measure two commits side by side: check the premise first",
	Long: `
Compare measures the test at the good and the bad commit before a bisection,
to check that the regression is real and is what it seems. Each commit is
checked out in a scratch worktree of the pool (your checkout is never
touched) and built once; then the test runs --rounds times at each,
interleaved (good, bad, good, bad), so that a drift of the machine falls on
both alike. Every run is measured as bisection measures it: CPU time (user +
system) of the whole process tree, wall time, peak memory, exit status, and
the scoreboard's pass/total with --scoreboard or --scoreboard-file.

The table is in benchstat's form, computed with golang.org/x/perf/benchmath:
per metric, each side's median ± its spread (the 95% confidence interval of
the median, or half the interquartile range, marked ¹, with fewer than 6
runs) and n, and the change of the median as a percentage with the p of a
two-sided Mann-Whitney U test, "~" when the sides do not differ at level
0.01. The last column says whether the metric changed by more than a
threshold: higher when the ratio is significantly above the threshold, lower
when significantly below its inverse, none otherwise. Significantly means a
one-sided Mann-Whitney U test at level 0.01, computed exactly (package
stats' Decide, as --max-ratio decides); it takes at least 5 rounds, since
with fewer even samples that do not overlap at all are not significant at
0.01. The threshold of a metric is its --max-ratio (cpu=1.5) when given,
else 1.2: a change of a few percent is the machine's drift, not the code's.
A line under the table reads it, e.g. "cpu 1.00x (no change beyond 1.20x),
wall 2.02x (higher, beyond 1.20x): wall time moved without CPU time: the
machine was busier (or the test waits more), not the code slower".

The flags are start's that say how to build and test: --run, --build,
--timeout, --memory-limit, --expect, --scoreboard, ...; those that steer a
search (--good, --first-parent, --confirm, ...) are refused.

With --plan PLAN, compare checks the premise of every job of a plan file (the
one batch runs; see sxbisect help batch): each job's good revision (the first,
when it lists several) against its bad one, with the job's own run, build,
timeouts, memory limit and scoreboard. The jobs run one after the other, never
at once, since they measure time; --rounds applies to every job. The output is
each job's table, then a summary with one row per job: CPU and wall medians,
ratio and significance, memory medians and ratio, pass/total at each commit,
and the reading. start's flags are then the plan's, not the command line's.
A job that fails (bad input, a failed build) does not stop the others: its
error is its row, and the exit status is 1 at the end. --json prints
{"jobs": [{"name": ..., "result": <compare --json's object>, "error": ...}]},
with result or error null.

Exit status: 0 measured (whatever the figures), 1 an error (a build failed;
with --plan, any job's), 2 bad usage, 130 interrupted.
`,
	Flags: func(fs *pflag.FlagSet, env *Env) func(context.Context, []string) int {
		sf := registerStartFlags(fs)
		hideSearchFlags(fs)
		var rounds int
		var asJSON, quiet bool
		var plan string
		fs.StringVar(&plan, "plan", "", "compare every job of the plan file `PLAN` (see batch), one after the other")
		fs.IntVar(&rounds, "rounds", compare.DefaultRounds, "run the test `N` times at each commit, interleaved")
		fs.BoolVar(&asJSON, "json", false, "print the table as one JSON object on stdout")
		fs.BoolVarP(&quiet, "quiet", "q", false, "no progress")
		return func(ctx context.Context, args []string) int {
			if fs.ArgsLenAtDash() >= 0 {
				return fail(env, "compare", &bisect.UsageError{Msg: "compare takes no paths after --"})
			}
			if err := refuseSearchFlags(fs, "compare"); err != nil {
				return fail(env, "compare", err)
			}
			if fs.Changed("plan") {
				return comparePlan(ctx, env, fs, plan, args, rounds, asJSON, quiet)
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

// comparePlan is compare --plan: every job of the plan, in its order.
func comparePlan(ctx context.Context, env *Env, fs *pflag.FlagSet, path string, args []string, rounds int, asJSON, quiet bool) int {
	if len(args) > 0 {
		return fail(env, "compare", &bisect.UsageError{Msg: "with --plan, the revisions are the plan's good and bad: give no revisions"})
	}
	// A flag of start's on the command line would be silently beaten by
	// the plan's keys or silently beat them: neither is what was meant.
	var stray []string
	fs.Visit(func(f *pflag.Flag) {
		switch f.Name {
		case "plan", "rounds", "json", "quiet":
		default:
			stray = append(stray, "--"+f.Name)
		}
	})
	if len(stray) > 0 {
		return fail(env, "compare", &bisect.UsageError{Msg: "with --plan, put " + strings.Join(stray, ", ") + " in the plan (as a default or in a job), not on the command line"})
	}
	if rounds < 1 {
		return fail(env, "compare", &bisect.UsageError{Msg: "the number of rounds must be at least 1"})
	}
	plan, err := readPlan(path)
	if err != nil {
		return fail(env, "compare", err)
	}
	jobs := make([]compare.Job, len(plan))
	for i, j := range plan {
		jobs[i] = compare.Job{Name: j.Name, Spec: j.Spec, Err: j.Err}
	}
	res, err := compare.ComparePlan(ctx, jobs, rounds, progressLines(env, quiet))
	status := 0
	if res.Failed() {
		status = exitError
	}
	if err != nil {
		// Interrupted: what was measured is still worth showing.
		fmt.Fprintf(env.Stderr, "sxbisect compare: interrupted after %d of %d jobs\n", len(res.Jobs), len(jobs))
		status = exitInterrupted
	}
	if asJSON {
		return printJSON(env, "compare", res, status)
	}
	fmt.Fprint(env.Stdout, res.Text())
	return status
}

// searchOnlyFlags are start's flags that steer a bisection's search, not
// the build or the test. compare and check measure the commits they are
// given, so they neither list these nor take them: silently ignored, a
// --confirm 5 would look as if it had done something.
var searchOnlyFlags = []string{"good", "first-parent", "name", "no-verify", "confirm",
	"flaky", "no-flaky", "confidence", "max-runs", "flake-rate", "parallel", "prefer-cached", "build-ahead", "cores-per-run", "validate",
	"term-old", "term-new", "find-fix"}

// hideSearchFlags keeps start's search flags out of a command's help and
// completion.
func hideSearchFlags(fs *pflag.FlagSet) {
	for _, name := range searchOnlyFlags {
		if fs.Lookup(name) != nil {
			_ = fs.MarkHidden(name)
		}
	}
}

// refuseSearchFlags is a usage error naming the search flags given to a
// command that measures two commits.
func refuseSearchFlags(fs *pflag.FlagSet, cmd string) error {
	var given []string
	for _, name := range searchOnlyFlags {
		if fs.Lookup(name) != nil && fs.Changed(name) {
			given = append(given, "--"+name)
		}
	}
	if len(given) == 0 {
		return nil
	}
	verb, it := "steers", "it"
	if len(given) > 1 {
		verb, it = "steer", "them"
	}
	return &bisect.UsageError{Msg: fmt.Sprintf("%s %s a bisection's search, and %s searches nothing (it measures the two commits it is given): leave %s out", strings.Join(given, ", "), verb, cmd, it)}
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

// printJSON prints compare's and check's object with "schema" first (see
// bisect.JSONSchema), as every --json of sxbisect has it.
func printJSON(env *Env, cmd string, v any, status int) int {
	data, err := json.Marshal(v)
	if err != nil {
		return fail(env, cmd, err)
	}
	if len(data) < 2 || data[0] != '{' {
		return fail(env, cmd, fmt.Errorf("--json: %T is not an object", v))
	}
	head := fmt.Sprintf(`{"schema":%d`, bisect.JSONSchema)
	if data[1] != '}' {
		head += ","
	}
	var out bytes.Buffer
	if err := json.Indent(&out, append([]byte(head), data[1:]...), "", "  "); err != nil {
		return fail(env, cmd, err)
	}
	out.WriteByte('\n')
	if _, err := env.Stdout.Write(out.Bytes()); err != nil {
		return fail(env, cmd, err)
	}
	return status
}
