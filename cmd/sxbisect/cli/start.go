package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/sxbisect/sxbisect/bisect"
	"github.com/sxbisect/sxbisect/bisect/remote"
	"github.com/sxbisect/sxbisect/internal/text"
	"github.com/sxbisect/sxbisect/predicate"
)

var cmdStart = &Command{
	Name:      "start",
	UsageLine: "start [flags] <good> <bad> [-- <path>...]",
	Short:     "run a whole bisection, unattended",
	Long: `
Start bisects the commits between good and bad (note the order: good first)
and records the first bad commit. It never touches your checkout: each
candidate is checked out in a scratch worktree in the repository's git
directory, built with --build, and judged with --run, whose exit status means
what it means to 'git bisect run': 0 good, 125 skip, 1-127 bad, and 128 or
above (or death by a signal) stops the session.

Both ends are tested first (unless --no-verify): when the good end tests bad
or the bad end tests good, there is no regression in the range and the
session says so. Commits are chosen exactly as git bisect chooses them, so
'sxbisect log' can be replayed with 'git bisect replay'.

Every verdict is written to a journal before the next step starts; after a
crash, Ctrl-C or reboot, 'sxbisect resume' goes on where the session stopped.

With --nats URL, the steps go to sxbisect workers on other machines through
a NATS JetStream server (see 'sxbisect help worker'); the search and the
journal stay here. --parallel K keeps K steps out at once.
More good commits may be given with --good. Paths after -- restrict the
candidates to commits that touch them.

Example, for the SX server and the tcl suite:

	sxbisect start \
	    --build 'cd hosts/ocaml && dune build bin/sx_server.exe' \
	    --run 'bash lib/tcl/test.sh' --timeout 10m 83dbb595 architecture
`,
	Flags: func(fs *pflag.FlagSet, env *Env) func(context.Context, []string) int {
		sf := registerStartFlags(fs)
		var out outputFlags
		out.register(fs)
		var rf remoteFlags
		rf.register(fs)
		return func(ctx context.Context, args []string) int {
			spec, err := sf.spec(fs, args)
			if err != nil {
				return fail(env, "start", err)
			}
			if spec.Remote, err = rf.spec(); err != nil {
				return fail(env, "start", err)
			}
			// No test at all: on a terminal, a person answers for each
			// commit, as in git bisect; elsewhere it stays an error.
			if spec.Remote == nil && spec.Run == "" && len(spec.Predicates) == 0 && env.StdinIsTerminal && env.StderrIsTerminal {
				spec.Interactive = true
			}
			opts := bisect.Options{}
			if spec.Remote != nil {
				if err := remote.CheckSpec(spec); err != nil {
					return fail(env, "start", err)
				}
				newTester, closeConn, err := rf.dispatch(ctx, env, "start", spec.Remote)
				if err != nil {
					return fail(env, "start", err)
				}
				defer closeConn()
				opts.NewTester = newTester
			}
			opts.Progress = out.progress(env)
			opts.Ask = out.asker(env, spec.Terms())
			res, err := bisect.Start(ctx, spec, opts)
			return out.finish(env, "start", res, err)
		}
	},
}

// startFlags are start's flags that describe a session. They are a value
// of their own because a batch plan's jobs use the same names: a job is a
// set of these flags, given in a file instead of on the command line.
type startFlags struct {
	// base is where the flags write; spec adds what needs parsing.
	base                      bisect.Spec
	timeout, buildTimeout     durationFlag
	onTimeout, onBuildFailure string
	onCrash                   string
	flaky, noFlaky            bool
	predicates                []string
	params                    []string
	configFile                string
}

// registerStartFlags declares start's session flags on fs.
func registerStartFlags(fs *pflag.FlagSet) *startFlags {
	sf := &startFlags{onTimeout: string(predicate.PolicyBad), onBuildFailure: string(predicate.PolicySkip), onCrash: string(predicate.PolicyAbort)}
	spec := &sf.base
	fs.StringVar(&spec.Repo, "repo", ".", "the repository `DIR` (its checkout is never modified)")
	fs.StringArrayVar(&spec.Good, "good", nil, "another good `REV` (repeatable)")
	fs.StringVar(&spec.Run, "run", "", "the test `CMD`, run with sh -c in the worktree; git bisect run's exit codes")
	fs.StringVar(&spec.Build, "build", "", "the build `CMD`, run before each test in the same worktree")
	fs.Var(&sf.timeout, "timeout", "kill the test's whole process tree after `DURATION` (e.g. 90s, 10m)")
	fs.Var(&sf.buildTimeout, "build-timeout", "kill the build after `DURATION`")
	fs.StringVar(&sf.onTimeout, "on-timeout", sf.onTimeout, "a test that times out makes the commit `bad|skip|abort`")
	fs.StringVar(&sf.onCrash, "on-crash", sf.onCrash, "a test that crashes (a signal, exit 128 or more) makes the commit `abort|bad|skip`")
	fs.StringVar(&sf.onBuildFailure, "on-build-failure", sf.onBuildFailure, "a failing build makes the commit `skip|bad|abort`")
	fs.StringArrayVar(&spec.BuildInputs, "build-input", nil, "a `PATH` the build reads, whose git tree keys the build cache (repeatable; default: the whole tree)")
	fs.StringArrayVar(&spec.BuildOutputs, "build-output", nil, "a `PATH` in the worktree that the build makes, restored from the build cache (repeatable; without it, only failed builds are reused)")
	fs.StringArrayVar(&spec.BuildEnv, "build-env", nil, "a variable `NAME` whose value keys the build cache too (repeatable)")
	fs.StringVar(&spec.BuildCache, "build-cache", "", "keep builds by their inputs in `DIR` (default: <git dir>/sxbisect/build-cache, shared by every session)")
	fs.StringVar(&spec.BuildCacheSize, "build-cache-size", "", "drop the builds used least recently beyond `SIZE` (default 5G)")
	fs.BoolVar(&spec.NoBuildCache, "no-build-cache", false, "build every commit, never reusing a build of the same inputs")
	fs.BoolVar(&spec.FirstParent, "first-parent", false, "follow only the first parent of merges, as git bisect --first-parent")
	fs.StringVar(&spec.Name, "name", "default", "the session's `NAME`; several sessions can live in one repository")
	fs.BoolVar(&spec.NoVerify, "no-verify", false, "do not test both ends before searching")
	fs.StringVar(&spec.PoolDir, "pool", "", "keep scratch worktrees in `DIR` (default: <git dir>/sxbisect/worktrees)")
	fs.BoolVar(&spec.NoCommitGraph, "no-commit-graph", false, "do not write a commit-graph file into a repository that has none (one that exists is still read)")
	fs.StringArrayVar(&spec.MaxRatio, "max-ratio", nil, "bad when `METRIC=X`: cpu (user+sys of the whole tree), wall or mem is more than X times the good commit's (repeatable)")
	fs.IntVar(&spec.Repeat, "repeat", 0, "first sample size `N` per commit for --max-ratio (default 3, adaptive up to 15)")
	fs.StringVar(&spec.MemoryLimit, "memory-limit", "", "confine the test's whole tree to `SIZE` (512M, 8G); an OOM kill inside it is bad, reason oom")
	fs.StringVar(&spec.Expect, "expect", "", "bad unless an output line matches `REGEX` before the test ends or is killed")
	fs.StringVar(&spec.Scoreboard, "scoreboard", "", "`REGEX` with groups (?P<pass>..) and (?P<total>..): bad when pass falls below the good commit's")
	fs.StringVar(&spec.ScoreboardFile, "scoreboard-file", "", "like --scoreboard, from a JSON `FILE` with pass and total that the test writes")
	fs.BoolVar(&spec.IgnoreExit, "ignore-exit", false, "the test's exit status has no git meaning; only the conditions judge")
	fs.StringVar(&spec.LogCap, "log-cap", "", "keep at most `SIZE` of each build's and test's output in logs/ (default 16M): its start and its end, and how much was dropped; none keeps all")
	fs.Float64Var(&spec.MaxLoad, "max-load", 0, "wall-time samples count only when the 1-minute load is below `L`; measuring runs wait (bounded) for it")
	fs.StringArrayVar(&sf.predicates, "predicate", nil, "judge by `NAME`: a preset of "+ConfigFile+", a predicate compiled in, or an sxbisect-predicate-NAME program on PATH (repeatable); a preset's keys are defaults, so --run and the other flags given here replace the preset's")
	fs.StringArrayVar(&sf.params, "param", nil, "give the predicate of --predicate the parameter `NAME=VALUE`, over a preset's params; with several --predicate, write PREDICATE:NAME=VALUE (repeatable)")
	fs.IntVar(&spec.Confirm, "confirm", 0, "at the end, re-test the first bad commit and its parents `N` times each, to catch a flaky test")
	fs.BoolVar(&sf.flaky, "flaky", false, "weigh every verdict as evidence from the start (flake-aware search); by default the search turns flake-aware when verdicts contradict")
	fs.BoolVar(&sf.noFlaky, "no-flaky", false, "believe every verdict, as git bisect does, even when they contradict")
	fs.Float64Var(&spec.Confidence, "confidence", 0, "the flake-aware search answers at this probability `P` (default 0.95)")
	fs.IntVar(&spec.MaxRuns, "max-runs", 0, "the flake-aware search's budget of `N` runs (default: from the range's size); then it is inconclusive")
	fs.Float64Var(&spec.FlakeRate, "flake-rate", 0, "a hint: the expected `RATE` of wrong verdicts (default 0.15); the rates are learned from the runs")
	fs.IntVar(&spec.Parallel, "parallel", 0, "test `K` commits at once, each in its own worktree (default 1: git's commits in git's order)")
	fs.BoolVar(&spec.PreferCached, "prefer-cached", false, "test a commit whose build is cached when it splits the range almost as well as git's choice (the commits tested then differ from git's)")
	fs.BoolVar(&spec.BuildAhead, "build-ahead", false, "for suites that must run alone: build the commits that could come next while one is tested, at a lower priority")
	fs.IntVar(&spec.CoresPerRun, "cores-per-run", 0, "with --parallel or --build-ahead and --max-ratio: the `C` cores each measured run has to itself, apart from builds and other measured runs (default 1)")
	fs.IntVar(&spec.Validate, "validate", 0, "revert the first bad commit on top of the bad end and test that `N` times; good is expected")
	fs.StringVar(&spec.TermOld, "term-old", "", "call the commits before the change `TERM` instead of good (as git bisect start --term-old)")
	fs.StringVar(&spec.TermNew, "term-new", "", "call the commits after the change `TERM` instead of bad (as git bisect start --term-new)")
	fs.BoolVar(&spec.FindFix, "find-fix", false, "find the first commit whose test passes: the old end fails, the new end passes (terms broken and fixed)")
	fs.StringVar(&sf.configFile, "config", "", "the project file `PATH` (default: "+ConfigFile+" at the top of the checkout)")
	return sf
}

// spec turns the parsed flags and the positional arguments (<good> <bad>
// [-- <path>...]) into a session's Spec; presets named by --predicate are
// applied to fs first, under the flags the command line set.
func (sf *startFlags) spec(fs *pflag.FlagSet, args []string) (bisect.Spec, error) {
	var refs []bisect.PredicateRef
	if len(sf.predicates) > 0 {
		path, named := sf.configFile, sf.configFile != ""
		if !named {
			path = configPath(absPath(sf.base.Repo))
		}
		cfg, err := loadConfig(path, named)
		if err != nil {
			return bisect.Spec{}, err
		}
		byName := map[string]int{}
		for _, name := range sf.predicates {
			ref, found, err := cfg.applyPreset(fs, name)
			if err != nil {
				return bisect.Spec{}, err
			}
			if !found {
				ref = &bisect.PredicateRef{Name: name}
			}
			if ref != nil {
				byName[name] = len(refs)
				refs = append(refs, *ref)
			}
		}
		if err := sf.applyParams(refs, byName); err != nil {
			return bisect.Spec{}, err
		}
	} else if len(sf.params) > 0 {
		return bisect.Spec{}, &bisect.UsageError{Msg: "--param is for a predicate: name it with --predicate NAME"}
	}
	// Read after the presets, which set flags and so wrote into base.
	spec := sf.base
	spec.Predicates = refs
	dash := fs.ArgsLenAtDash()
	pos := args
	if dash >= 0 {
		pos, spec.Paths = args[:dash], args[dash:]
	}
	switch {
	case len(pos) == 2:
		spec.Good, spec.Bad = append([]string{pos[0]}, spec.Good...), pos[1]
	case len(pos) == 1 && len(spec.Good) > 0:
		spec.Bad = pos[0]
	default:
		return spec, &bisect.UsageError{Msg: "give the good and the bad revision, in that order: sxbisect start [flags] <good> <bad>"}
	}
	var err error
	if spec.OnTimeout, err = predicate.ParsePolicy(sf.onTimeout); err != nil {
		return spec, &bisect.UsageError{Msg: "--on-timeout: " + err.Error()}
	}
	if spec.OnCrash, err = predicate.ParsePolicy(sf.onCrash); err != nil {
		return spec, &bisect.UsageError{Msg: "--on-crash: " + err.Error()}
	}
	if spec.OnBuildFailure, err = predicate.ParsePolicy(sf.onBuildFailure); err != nil {
		return spec, &bisect.UsageError{Msg: "--on-build-failure: " + err.Error()}
	}
	spec.Timeout, spec.BuildTimeout = bisect.Duration(sf.timeout), bisect.Duration(sf.buildTimeout)
	if spec.BuildCache != "" {
		spec.BuildCache = absPath(spec.BuildCache)
	}
	if err := bisect.CheckBuildCache(spec); err != nil {
		return spec, err
	}
	if spec.Confirm < 0 || spec.Repeat < 0 || spec.MaxLoad < 0 || spec.MaxRuns < 0 || spec.Validate < 0 || spec.Parallel < 0 {
		return spec, &bisect.UsageError{Msg: "--confirm, --repeat, --max-load, --max-runs, --validate and --parallel cannot be negative"}
	}
	switch {
	case sf.flaky && sf.noFlaky:
		return spec, &bisect.UsageError{Msg: "--flaky and --no-flaky contradict each other: give one"}
	case sf.flaky:
		spec.Flaky = bisect.FlakyOn
	case sf.noFlaky:
		spec.Flaky = bisect.FlakyOff
	}
	if spec.Confidence != 0 && !(spec.Confidence > 0.5 && spec.Confidence < 1) {
		return spec, &bisect.UsageError{Msg: fmt.Sprintf("--confidence %g: give a probability above 0.5 and below 1, such as 0.95", spec.Confidence)}
	}
	if spec.FlakeRate != 0 && !(spec.FlakeRate > 0 && spec.FlakeRate < 0.5) {
		return spec, &bisect.UsageError{Msg: fmt.Sprintf("--flake-rate %g: give a rate above 0 and below 0.5, such as 0.1", spec.FlakeRate)}
	}
	return spec, nil
}

// applyParams sets --param's parameters on the predicates named by
// --predicate (refs, by the name given to --predicate), over what a preset
// gave. NAME=VALUE is for the one predicate; with several, PREDICATE:NAME=VALUE
// says which.
func (sf *startFlags) applyParams(refs []bisect.PredicateRef, byName map[string]int) error {
	for _, p := range sf.params {
		target, assignment := "", p
		if before, after, ok := strings.Cut(p, ":"); ok && !strings.Contains(before, "=") {
			target, assignment = before, after
		}
		name, value, ok := strings.Cut(assignment, "=")
		if !ok || name == "" {
			return &bisect.UsageError{Msg: fmt.Sprintf("--param %q: write NAME=VALUE (or PREDICATE:NAME=VALUE)", p)}
		}
		i, found := byName[target]
		switch {
		case target == "" && len(byName) == 1:
			for _, j := range byName {
				i, found = j, true
			}
		case target == "" && len(byName) == 0:
			return &bisect.UsageError{Msg: fmt.Sprintf("--param %s: the --predicate given names a preset with no predicate (no use = ...), which takes no parameters", p)}
		case target == "":
			return &bisect.UsageError{Msg: fmt.Sprintf("--param %s: there are several --predicate: say which, as in --param %s:%s", p, sf.predicates[0], assignment)}
		}
		if !found {
			return &bisect.UsageError{Msg: fmt.Sprintf("--param %s: %q is not a predicate given with --predicate (given: %s)", p, target, strings.Join(sf.predicates, ", "))}
		}
		if refs[i].Params == nil {
			refs[i].Params = map[string]string{}
		}
		refs[i].Params[name] = value
	}
	return nil
}

var cmdResume = &Command{
	Name:      "resume",
	UsageLine: "resume [--name NAME] [--repo DIR] [--parallel K] [--json]",
	Short:     "continue an interrupted session",
	Long: `
Resume continues a session that stopped before its end: interrupted by
Ctrl-C, killed, or aborted by its test. Commits whose verdict was recorded
are not tested again; only the step that was in flight is redone. A finished
session prints its result again.

--parallel K goes on with K commits at once, whatever the session was
started with, for this run only (a later resume without it goes back to
the start's): the verdicts recorded so far hold whichever K tested them.

A session started with --nats goes on with the workers: the steps in flight
when it stopped are not sent again, and the results that came meanwhile are
journaled. Give the server's credentials again (they are never recorded).
`,
	Flags: func(fs *pflag.FlagSet, env *Env) func(context.Context, []string) int {
		var repo, name string
		var out outputFlags
		var n natsFlags
		var parallel int
		fs.StringVar(&repo, "repo", ".", "the repository `DIR`")
		fs.StringVar(&name, "name", "default", "the session's `NAME`")
		fs.IntVar(&parallel, "parallel", 0, "test `K` commits at once from here on (default: as the session was started)")
		out.register(fs)
		n.register(fs, "a session started with --nats: reach its server at `URL` (default: the URL it recorded)")
		return func(ctx context.Context, args []string) int {
			if len(args) > 0 {
				return fail(env, "resume", &bisect.UsageError{Msg: "resume takes no arguments: the session's journal has them"})
			}
			if parallel < 0 {
				return fail(env, "resume", &bisect.UsageError{Msg: fmt.Sprintf("--parallel %d cannot be negative: give how many commits to test at once, such as 3", parallel)})
			}
			newTester, closeConn, err := resumeRemote(ctx, env, &n, repo, name)
			if err != nil {
				return fail(env, "resume", err)
			}
			defer closeConn()
			opts := bisect.Options{Progress: out.progress(env), NewTester: newTester, Parallel: parallel}
			if st, err := bisect.ReadStatus(repo, name); err == nil {
				opts.Ask = out.asker(env, st.Terms)
			}
			res, err := bisect.Resume(ctx, repo, name, opts)
			return out.finish(env, "resume", res, err)
		}
	},
}

// outputFlags are the output options shared by start, resume and demo.
type outputFlags struct {
	json, quiet bool
	printer     *progressPrinter
}

func (o *outputFlags) register(fs *pflag.FlagSet) {
	fs.BoolVar(&o.json, "json", false, "print the result as one JSON object on stdout (progress stays on stderr)")
	fs.BoolVarP(&o.quiet, "quiet", "q", false, "no progress")
}

func (o *outputFlags) progress(env *Env) bisect.Progress {
	if o.quiet {
		return nil
	}
	o.printer = newProgressPrinter(env.Stderr, env.StderrIsTerminal, env.Color)
	return o.printer
}

// asker is the test of a session without one, when a person can answer
// at the terminal; nil elsewhere.
func (o *outputFlags) asker(env *Env, terms bisect.Terms) predicate.Predicate {
	if !env.StdinIsTerminal || !env.StderrIsTerminal || env.Stdin == nil {
		return nil
	}
	var hold func() func()
	if o.printer != nil {
		hold = o.printer.hold
	}
	return newAskPredicate(env.Stdin, env.Stderr, terms, hold)
}

// finish prints a session's result and turns it into the exit status.
func (o *outputFlags) finish(env *Env, cmd string, res *bisect.Result, err error) int {
	if o.printer != nil {
		o.printer.clear()
	}
	if err != nil {
		return fail(env, cmd, err)
	}
	if o.json {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return fail(env, cmd, err)
		}
		if res.Outcome == bisect.Aborted {
			// Whoever reads only stderr (a cron mail, a log) learns why,
			// as without --json.
			fmt.Fprintf(env.Stderr, "sxbisect %s: %s\n", cmd, text.Escape(strings.ReplaceAll(strings.TrimSpace(res.Message), "\n", "; ")))
		}
	} else {
		fmt.Fprint(env.Stdout, resultText(res))
	}
	return exitStatus(res)
}

func exitStatus(r *bisect.Result) int {
	switch r.Outcome {
	case bisect.Found:
		if r.Confirmed != nil && !*r.Confirmed {
			return exitUnconfirmed
		}
		return exitFound
	case bisect.OnlySkipped, bisect.Inconclusive:
		return exitOnlySkipped
	case bisect.NoRegression:
		return exitNoRegression
	case bisect.Interrupted:
		return exitInterrupted
	default:
		return exitAborted
	}
}

// resultText is the result for people, short enough to read at a glance.
func resultText(r *bisect.Result) string {
	var b strings.Builder
	switch r.Outcome {
	case bisect.Found:
		c := r.FirstBadCommit
		fmt.Fprintf(&b, "%s is the first %s commit\n", *r.FirstBad, r.Terms.New)
		if c != nil {
			fmt.Fprintf(&b, "    %s\n    Author: %s\n    Date:   %s\n", c.Subject, c.Author, text.GitDate(c.Date))
			for _, p := range c.Parents {
				v := r.Terms.Words(p.Verdict)
				if v == "" {
					v = "untested"
				}
				fmt.Fprintf(&b, "    parent %s %s (%s)\n", p.Commit[:12], p.Subject, v)
			}
		}
	case bisect.Inconclusive:
		fmt.Fprintf(&b, "%s\n", r.Message)
		for _, c := range r.Posterior {
			fmt.Fprintf(&b, "    %s %5.1f%%\n", c.Commit, 100*c.Probability)
		}
	default:
		fmt.Fprintf(&b, "%s\n", r.Message)
		for _, c := range r.Candidates {
			fmt.Fprintf(&b, "    %s\n", c)
		}
	}
	counts := map[bisect.StepKind]int{}
	for _, s := range r.Steps {
		counts[s.Kind]++
	}
	kinds := []string{}
	for _, k := range []bisect.StepKind{bisect.KindVerify, bisect.KindBisect, bisect.KindConfirm, bisect.KindFlaky, bisect.KindValidate} {
		if counts[k] > 0 {
			kinds = append(kinds, strconv.Itoa(counts[k])+" "+string(k))
		}
	}
	if len(r.Steps) > 0 {
		fmt.Fprintf(&b, "%d steps (%s) in %s\n", len(r.Steps), strings.Join(kinds, ", "), (time.Duration(r.Elapsed * float64(time.Second))).Round(100*time.Millisecond))
	}
	if r.Outcome == bisect.Found {
		// What follows the first line: confirmation, notes.
		if _, rest, ok := strings.Cut(r.Message, "\n"); ok {
			fmt.Fprintf(&b, "%s\n", rest)
		}
	}
	fmt.Fprintf(&b, "session: %s\n", r.Dir)
	if r.Worktree != "" {
		fmt.Fprintf(&b, "worktree: %s\n", r.Worktree)
	}
	// Subjects, authors and messages come from the repository and the
	// tests: their escape codes are shown, not played.
	return text.Escape(b.String())
}

// durationFlag is a duration that also accepts plain seconds ("600").
type durationFlag time.Duration

func (d *durationFlag) String() string {
	if *d == 0 {
		return ""
	}
	return time.Duration(*d).String()
}

func (d *durationFlag) Set(s string) error {
	if secs, err := strconv.ParseFloat(s, 64); err == nil {
		*d = durationFlag(secs * float64(time.Second))
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration (try 90s, 10m or 1h30m)", s)
	}
	if v < 0 {
		return fmt.Errorf("%q: a duration cannot be negative", s)
	}
	*d = durationFlag(v)
	return nil
}

func (d *durationFlag) Type() string { return "duration" }

func absPath(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}
