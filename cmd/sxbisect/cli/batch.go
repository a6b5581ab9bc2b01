package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/spf13/pflag"

	"github.com/sxbisect/sxbisect/bisect"
	"github.com/sxbisect/sxbisect/bisect/batch"
	"github.com/sxbisect/sxbisect/bisect/remote"
	"github.com/sxbisect/sxbisect/internal/text"
)

var cmdBatch = &Command{
	Name:      "batch",
	UsageLine: "batch PLAN [--jobs N] [--deadline D] [--nats URL] [--json]",
	Short:     "run the bisections of a plan file, unattended",
	Long: `
Batch runs every job of the plan file PLAN, each a bisection with a session
of its own, unattended; a job that fails never stops the others, and all the
errors are shown together at the end.

The plan is TOML. Top-level keys are defaults for every job; each [[job]]
table has name, good (a revision or a list), bad, and any of start's long
flag names without the dashes (run, build, max-ratio, memory-limit, expect,
timeout, predicate, ...), plus paths (a list, as after -- on start's command
line) and timing (true or false). A job's keys win over the defaults.
Relative repo, pool and config paths are read from the plan's directory,
which is also the default repo.

	repo = "/srv/sx"
	build = "make -C hosts/c"

	[[job]]
	name = "tcl-cpu"
	good = "83dbb595"
	bad = "architecture"
	run = "bash lib/tcl/test.sh"
	max-ratio = ["cpu=1.5"]

Jobs whose verdicts measure time (max-ratio with cpu or wall; a predicate,
unless the job says timing = false) run alone. Other jobs run up to --jobs N
at a time. Jobs start in the plan's order.

With --nats URL, the steps go to sxbisect workers on other machines (see
'sxbisect help worker'), each of which runs a timing step alone: every job
then runs at once (or up to --jobs N), timing jobs too.

Run the same command again to go on: finished jobs are not run again (their
results are read from their sessions), interrupted and aborted ones are
resumed, new ones are started. With --deadline, running jobs are stopped
cleanly when the time is up and can be resumed the same way.

Progress goes to stderr and is appended to
<plan dir>/.sxbisect-batch/<plan name>/batch.log (tail -f it).

Exit status: 0 when every job found its first bad commit; otherwise the worst
of the jobs, in this order: 1 if any job failed with an error (bad input
included), else 130 if any is unfinished (interrupted, or not started before
the deadline), else 5 (aborted), 6 (found, unconfirmed), 4 (no regression),
3 (only skipped). A plan that cannot be read is 2, and nothing runs.
`,
	Flags: func(fs *pflag.FlagSet, env *Env) func(context.Context, []string) int {
		var (
			jobs     int
			deadline durationFlag
			asJSON   bool
		)
		fs.IntVar(&jobs, "jobs", 1, "run up to `N` jobs that measure no time at once (timing jobs always run alone)")
		fs.Var(&deadline, "deadline", "stop running jobs cleanly after `DURATION` (e.g. 7h); the same command resumes")
		fs.BoolVar(&asJSON, "json", false, `print {"jobs": [...]} on stdout, each job with start --json's fields`)
		var rf remoteFlags
		rf.register(fs)
		return func(ctx context.Context, args []string) int {
			if len(args) != 1 {
				return fail(env, "batch", &bisect.UsageError{Msg: "give one plan file: sxbisect batch PLAN"})
			}
			if jobs < 1 {
				return fail(env, "batch", &bisect.UsageError{Msg: "--jobs must be 1 or more"})
			}
			plan, err := readPlan(args[0])
			if err != nil {
				return fail(env, "batch", err)
			}
			opts := batch.Options{Jobs: jobs, Deadline: time.Duration(deadline)}
			rs, err := rf.spec()
			if err != nil {
				return fail(env, "batch", err)
			}
			if rs != nil {
				newTester, closeConn, err := rf.dispatch(ctx, env, "batch", rs)
				if err != nil {
					return fail(env, "batch", err)
				}
				defer closeConn()
				opts.NewTester, opts.Remote = newTester, true
				for i := range plan {
					plan[i].Spec.Remote = rs
					if err := remote.CheckSpec(plan[i].Spec); err != nil && plan[i].Err == nil {
						plan[i].Err = err
					}
				}
				if !fs.Changed("jobs") {
					// The workers are the limit.
					opts.Jobs = len(plan)
				}
			}
			logw, closeLog, err := openBatchLog(args[0])
			if err != nil {
				return fail(env, "batch", err)
			}
			defer closeLog()
			fmt.Fprintf(logw, "%s batch %s: %d jobs\n", time.Now().Format("2006-01-02 15:04:05"), args[0], len(plan))
			opts.Log = io.MultiWriter(env.Stderr, logw)
			var screen *batchScreen
			if env.StderrIsTerminal {
				// A live line per running job and a total line; the log
				// lines scroll above them, and go to the log file as ever.
				screen = newBatchScreen(env.Stderr, len(plan), time.Now, terminalWidth)
				screen.tick(time.NewTicker(tickEvery).C)
				opts.Log, opts.Progress, opts.Totals = io.MultiWriter(screen, logw), screen, screen.Totals
			}
			rep := batch.Run(ctx, plan, opts)
			if screen != nil {
				screen.close()
			}
			if asJSON {
				enc := json.NewEncoder(env.Stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return fail(env, "batch", err)
				}
			} else {
				fmt.Fprint(env.Stdout, batchText(rep))
			}
			reportDir := filepath.Join(filepath.Dir(batchLogPath(args[0])), "report")
			if err := writePlanReports(reportDir, plan); err != nil {
				fmt.Fprintf(env.Stderr, "sxbisect batch: no report written: %s\n", text.OneLine(err.Error()))
			} else {
				fmt.Fprintf(env.Stderr, "sxbisect batch: report in %s (report.md, report.html, report.json)\n", reportDir)
			}
			if err := rep.Errors(); err != nil {
				fmt.Fprintf(env.Stderr, "sxbisect batch: %s", err)
			}
			if unfinished := rep.Unfinished(); len(unfinished) > 0 {
				why := "stopped"
				if rep.DeadlinePassed {
					why = "stopped at the deadline"
				}
				fmt.Fprintf(env.Stderr, "sxbisect batch: unfinished (%s): %s; run the same command again to go on: %s\n",
					why, strings.Join(unfinished, ", "), sameCommand(fs, args))
			}
			return batchExitStatus(rep)
		}
	},
}

// readPlan reads a plan file into jobs. Errors about the file as a whole
// (syntax, defaults) are returned; errors of one job stay with that job.
func readPlan(path string) ([]batch.Job, error) {
	var raw map[string]any
	if _, err := toml.DecodeFile(path, &raw); err != nil {
		return nil, &bisect.UsageError{Msg: fmt.Sprintf("reading plan %s: %v", path, text.OneLine(err.Error()))}
	}
	dir := filepath.Dir(absPath(path))
	tables, ok := raw["job"].([]map[string]any)
	if !ok || len(tables) == 0 {
		return nil, &bisect.UsageError{Msg: fmt.Sprintf("plan %s has no jobs: add [[job]] tables with name, good, bad and run", path)}
	}
	defaults := map[string]any{}
	for k, v := range raw {
		if k != "job" {
			defaults[k] = v
		}
	}
	// The defaults are every job's: a mistake there is the plan's.
	if _, ok := defaults["name"]; ok {
		return nil, &bisect.UsageError{Msg: fmt.Sprintf("plan %s: name cannot be a default: give each [[job]] its own name", path)}
	}
	probe := pflag.NewFlagSet("batch", pflag.ContinueOnError)
	registerStartFlags(probe)
	for _, k := range sortedKeys(defaults) {
		if isPlanKey(k) {
			continue
		}
		if err := setFlag(probe, k, defaults[k]); err != nil {
			return nil, &bisect.UsageError{Msg: fmt.Sprintf("plan %s, top-level defaults: %v", path, err)}
		}
	}
	// Two jobs of one name would share a session, and only one of them
	// would ever run: the plan is wrong as a whole.
	first := map[string]int{}
	for i, table := range tables {
		name, _ := table["name"].(string)
		if j, ok := first[name]; ok && name != "" {
			return nil, &bisect.UsageError{Msg: fmt.Sprintf("plan %s: jobs %d and %d are both named %q: a job's name is its session's, so give one of them another name", path, j+1, i+1, name)}
		}
		first[name] = i
	}
	jobs := make([]batch.Job, len(tables))
	for i, table := range tables {
		name, _ := table["name"].(string)
		if name == "" {
			name = fmt.Sprintf("job-%d", i+1)
			jobs[i] = batch.Job{Name: name, Err: &bisect.UsageError{Msg: fmt.Sprintf("plan %s: [[job]] number %d has no name: give it name = \"...\"", path, i+1)}}
			continue
		}
		jobs[i] = planJob(path, dir, name, table, defaults)
	}
	return jobs, nil
}

// isPlanKey reports whether a key of a job is the plan's own, not one of
// start's flags.
func isPlanKey(key string) bool {
	switch key {
	case "name", "good", "bad", "paths", "timing":
		return true
	}
	return false
}

// planJob builds one job's Spec as start would: start's flags on a fresh
// flag set, the job's keys first (set flags are not set again, so they win)
// and then the defaults.
func planJob(path, dir, name string, table, defaults map[string]any) batch.Job {
	job := batch.Job{Name: name}
	where := "plan " + path
	bad := func(format string, args ...any) batch.Job {
		job.Err = &bisect.UsageError{Msg: where + ": " + fmt.Sprintf(format, args...)}
		return job
	}
	if err := bisect.CheckName(name); err != nil {
		return bad("%v", err)
	}
	lookup := func(key string) (any, bool) {
		if v, ok := table[key]; ok {
			return v, true
		}
		v, ok := defaults[key]
		return v, ok
	}
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	sf := registerStartFlags(fs)
	for _, keys := range [][]string{sortedKeys(table), sortedKeys(defaults)} {
		for _, k := range keys {
			if isPlanKey(k) {
				continue
			}
			v, _ := lookup(k)
			if err := setFlag(fs, k, v); err != nil {
				return bad("%v", err)
			}
		}
	}
	if err := fs.Set("name", name); err != nil {
		return bad("%v", err)
	}
	goodV, _ := lookup("good")
	goods, err := stringList(goodV)
	if err != nil || len(goods) == 0 {
		return bad("good must be a revision or a list of revisions, e.g. good = \"v1.2\"")
	}
	badV, _ := lookup("bad")
	badRev, ok := badV.(string)
	if !ok || badRev == "" {
		return bad("bad must be a revision, e.g. bad = \"main\"")
	}
	for _, g := range goods[1:] {
		if err := fs.Set("good", g); err != nil {
			return bad("%v", err)
		}
	}
	pathsV, _ := lookup("paths")
	paths, err := stringList(pathsV)
	if err != nil {
		return bad("paths must be a list of paths, e.g. paths = [\"lib/tcl\"]")
	}
	// Paths in the plan are read from the plan's directory.
	for _, key := range []string{"repo", "pool", "config", "build-cache"} {
		f := fs.Lookup(key)
		v := f.Value.String()
		if key == "repo" && !f.Changed {
			v = dir
		}
		if v != "" && !filepath.IsAbs(v) {
			v = filepath.Join(dir, v)
		}
		if v != f.Value.String() {
			if err := fs.Set(key, v); err != nil {
				return bad("%v", err)
			}
		}
	}
	spec, err := sf.spec(fs, []string{goods[0], badRev})
	if err != nil {
		return bad("%v", err)
	}
	spec.Paths = paths
	job.Spec = spec
	job.Timing = batch.IsTiming(spec)
	if v, ok := lookup("timing"); ok {
		t, isBool := v.(bool)
		if !isBool {
			return bad("timing must be true or false")
		}
		job.Timing = t
	}
	return job
}

// stringList reads a TOML string or list of strings; nil is empty.
func stringList(v any) ([]string, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case string:
		return []string{v}, nil
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("%v is not a string", e)
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%v is not a string or a list", v)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// batchLogPath is where a plan's progress log lives.
func batchLogPath(plan string) string {
	abs := absPath(plan)
	name := strings.TrimSuffix(filepath.Base(abs), filepath.Ext(abs))
	return filepath.Join(filepath.Dir(abs), ".sxbisect-batch", name, "batch.log")
}

func openBatchLog(plan string) (io.Writer, func(), error) {
	path := batchLogPath(plan)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, err
	}
	return f, func() { _ = f.Close() }, nil
}

// batchText is the batch's result for people: a line per job.
func batchText(rep *batch.Report) string {
	var b strings.Builder
	width := 0
	for _, j := range rep.Jobs {
		width = max(width, len(j.Name))
	}
	for _, j := range rep.Jobs {
		what := ""
		switch {
		case j.Status == batch.Found && j.FirstBad != nil:
			what = *j.FirstBad
			if c := j.FirstBadCommit; c != nil {
				what += " " + c.Subject
			}
		case j.Status == batch.Error:
			what = j.Error
		default:
			what = strings.SplitN(j.Message, "\n", 2)[0]
			if len(j.Candidates) > 0 {
				what += " (candidates: " + strings.Join(j.Candidates, " ") + ")"
			}
		}
		fmt.Fprintf(&b, "%-*s  %-13s  %s\n", width, j.Name, j.Status, what)
	}
	fmt.Fprintf(&b, "%d jobs in %s\n", len(rep.Jobs), (time.Duration(rep.Elapsed * float64(time.Second))).Round(100*time.Millisecond))
	return text.Escape(b.String())
}

// batchExitStatus is the worst of the jobs' statuses (see the Long help).
func batchExitStatus(rep *batch.Report) int {
	rank := []int{exitError, exitInterrupted, exitAborted, exitUnconfirmed, exitNoRegression, exitOnlySkipped}
	worst := exitFound
	for _, j := range rep.Jobs {
		s := exitError
		if j.Status != batch.Error {
			s = exitStatus(j.Result)
		}
		for _, r := range rank {
			if r == s || r == worst {
				worst = r
				break
			}
		}
	}
	return worst
}

// sameCommand is the command line that continues the batch.
func sameCommand(fs *pflag.FlagSet, args []string) string {
	parts := []string{"sxbisect", "batch"}
	fs.Visit(func(f *pflag.Flag) {
		if f.Value.Type() == "bool" {
			parts = append(parts, "--"+f.Name)
			return
		}
		parts = append(parts, "--"+f.Name, f.Value.String())
	})
	for _, a := range args {
		parts = append(parts, strconv.Quote(a))
	}
	return strings.Join(parts, " ")
}
