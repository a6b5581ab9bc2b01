package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/sxbisect/sxbisect/bisect"
	"github.com/sxbisect/sxbisect/internal/demo"
	"github.com/sxbisect/sxbisect/internal/text"
	"github.com/sxbisect/sxbisect/predicate"
)

var cmdDemo = &Command{
	Name:      "demo",
	UsageLine: "demo [--case exit|cpu|oom|hang|all] [--dir DIR] [--json] [--quiet]",
	Short:     "bisect the embedded miniature of the SX world, end to end",
	Long: `
Demo generates a small repository in the image of the SX evaluator: a tiny
server built with cc at every commit, guest suites such as lib/tcl/test.sh,
a few hundred commits with merge waves, and four regressions planted at
known commits. It then bisects with 'sxbisect start', exactly as you would,
printing each command line it runs, and checks that the answer is the
planted commit.

The cases (--case; all runs them one after the other):

	exit  a tcl test fails: the suite's exit status finds it (the default)
	cpu   the tcl suite passes at 2.5 times the CPU time:
	      --max-ratio cpu=1.5, on a machine kept busy by loops that
	      switch on and off beside it
	oom   the prolog suite passes, at 20 times the memory:
	      --memory-limit 150M
	hang  the erlang suite hangs, its own deadline kills it and it exits 0:
	      --expect '\(ok-len' sees that its markers never came

--memory-limit needs a writable cgroup memory controller (root, or a
delegated cgroup v2 subtree). With --json, each case prints its result as
one JSON object on stdout.

The repository is left in place (the path is printed) so that you can look
around: 'sxbisect status', 'sxbisect log' and 'git worktree list' work there.
`,
	Flags: func(fs *pflag.FlagSet, env *Env) func(context.Context, []string) int {
		var dir, which string
		var out outputFlags
		fs.StringVar(&which, "case", demo.CaseExit, "the `CASE` to bisect: "+strings.Join(demo.CaseNames(), ", ")+", or all")
		fs.StringVar(&dir, "dir", "", "generate the demo repository in `DIR` (default: a new temporary directory)")
		out.register(fs)
		return func(ctx context.Context, args []string) int {
			if len(args) > 0 {
				return fail(env, "demo", &bisect.UsageError{Msg: fmt.Sprintf("unexpected argument %q: the demo takes only flags", args[0])})
			}
			names, err := demoCases(which)
			if err != nil {
				return fail(env, "demo", err)
			}
			if dir == "" {
				tmp, err := os.MkdirTemp("", "sxbisect-demo-")
				if err != nil {
					return fail(env, "demo", err)
				}
				dir = filepath.Join(tmp, "sx")
			} else if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
				return fail(env, "demo", &bisect.UsageError{Msg: fmt.Sprintf("%s is not empty: give --dir a new or empty directory", dir)})
			}
			began := time.Now()
			d, err := demo.Generate(dir)
			if err != nil {
				return fail(env, "demo", err)
			}
			if !out.quiet {
				fmt.Fprintf(env.Stderr, "%s\nGenerated in %s: %s\n", d.Description, time.Since(began).Round(time.Millisecond), d.Dir)
			}
			status := exitFound
			var report []string
			for _, name := range names {
				c, _ := d.Case(name)
				s, line := runDemoCase(ctx, env, d, c, out)
				report = append(report, line)
				if status == exitFound && s != exitFound {
					status = s
				}
				if ctx.Err() != nil {
					break
				}
			}
			if !out.json {
				if len(report) > 1 {
					fmt.Fprintf(env.Stdout, "\nSummary:\n  %s\n", strings.Join(report, "\n  "))
				}
				self := selfCommand(exec.LookPath, os.Executable, os.Getwd)
				fmt.Fprintf(env.Stdout, "Look around:\n  %[1]s status --repo %[2]s --all\n  %[1]s log --repo %[2]s --name %[3]s\n  git -C %[2]s worktree list\n",
					self, text.ShellQuote(d.Dir), sessionName(names[0]))
			}
			return status
		}
	},
}

// selfCommand is how to run this sxbisect again from the user's shell:
// "sxbisect" when that is this program on PATH; "go run ./cmd/sxbisect"
// when it was built by go run (its binary is gone once it exits) from the
// module's directory; else the program's own path.
func selfCommand(lookPath func(string) (string, error), executable func() (string, error), getwd func() (string, error)) string {
	self, err := executable()
	if err != nil {
		return "sxbisect"
	}
	self, _ = filepath.EvalSymlinks(self)
	if onPath, err := lookPath("sxbisect"); err == nil {
		if resolved, err := filepath.EvalSymlinks(onPath); err == nil && sameFile(resolved, self) {
			return "sxbisect"
		}
	}
	if strings.Contains(self, string(filepath.Separator)+"go-build") {
		if wd, err := getwd(); err == nil {
			if _, err := os.Stat(filepath.Join(wd, "cmd", "sxbisect", "main.go")); err == nil {
				return "go run ./cmd/sxbisect"
			}
		}
	}
	return text.ShellQuote(self)
}

func sameFile(a, b string) bool {
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(sa, sb)
}

// demoCases reads --case.
func demoCases(which string) ([]string, error) {
	if which == "all" {
		return demo.CaseNames(), nil
	}
	for _, n := range demo.CaseNames() {
		if n == which {
			return []string{n}, nil
		}
	}
	return nil, &bisect.UsageError{Msg: fmt.Sprintf("--case %s: the cases are %s, and all", which, strings.Join(demo.CaseNames(), ", "))}
}

// sessionName is the session of a case: the exit case keeps the name the
// demo always used.
func sessionName(name string) string {
	if name == demo.CaseExit {
		return "demo"
	}
	return "demo-" + name
}

// startArgs is the command line of 'sxbisect start' for a case.
func startArgs(d *demo.Demo, c demo.Case, out outputFlags) []string {
	args := append([]string{"start", "--repo", d.Dir, "--name", sessionName(c.Name)}, c.Args...)
	if out.json {
		args = append(args, "--json")
	}
	if out.quiet {
		args = append(args, "--quiet")
	}
	return append(args, text.ShortID(c.Good), text.ShortID(c.Bad))
}

// runDemoCase runs one case through the command line, exactly as printed,
// and says whether it found the planted commit; it returns the exit status
// and a line for the summary.
func runDemoCase(ctx context.Context, env *Env, d *demo.Demo, c demo.Case, out outputFlags) (int, string) {
	args := startArgs(d, c, out)
	if !out.quiet {
		fmt.Fprintf(env.Stderr, "\n%s\n$ sxbisect %s\n", c.Explanation, text.ShellJoin(args))
	}
	var busy *busyLoops
	if c.Busy {
		busy = startBusyLoops(ctx, 2, time.Second)
		if !out.quiet {
			fmt.Fprintf(env.Stderr, "Making the machine busy: 2 loops spin beside the session, on for a second, off for a second.\n")
		}
	}
	began := time.Now()
	status := runStart(ctx, env, args[1:])
	took := time.Since(began).Round(100 * time.Millisecond)
	if busy != nil {
		cycles := busy.stop()
		if !out.quiet {
			fmt.Fprintf(env.Stderr, "Stopped the busy loops after %d on/off cycles.\n", cycles)
		}
	}
	res, err := readResult(d.Dir, sessionName(c.Name))
	found := err == nil && res.FirstBad != nil && *res.FirstBad == c.FirstBad
	var line string
	switch {
	case found:
		line = fmt.Sprintf("%-4s found the planted commit %s in %d steps, %v", c.Name, text.ShortID(c.FirstBad), len(res.Steps), took)
	case err != nil:
		line = fmt.Sprintf("%-4s did not finish (%v); the planted commit is %s", c.Name, err, text.ShortID(c.FirstBad))
	default:
		line = fmt.Sprintf("%-4s ended %s, but the planted commit is %s: please report this", c.Name, res.Outcome, text.ShortID(c.FirstBad))
	}
	if !out.json {
		if found {
			fmt.Fprintf(env.Stdout, "\nThat is the planted regression: sxbisect found it in %d steps (%v).\n", len(res.Steps), took)
			if c.Busy {
				fmt.Fprint(env.Stdout, ratioText(res))
			}
		} else {
			fmt.Fprintf(env.Stdout, "\nThe planted regression is %s, but the session did not name it (status %d).\n", c.FirstBad, status)
		}
	}
	if !found && status == exitFound {
		status = exitError
	}
	return status, line
}

// runStart runs 'sxbisect start' with args as Main would (Main itself
// cannot be called from here: the demo is one of its commands).
func runStart(ctx context.Context, env *Env, args []string) int {
	fs := pflag.NewFlagSet(cmdStart.Name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	run := cmdStart.Flags(fs, env)
	if err := fs.Parse(args); err != nil {
		return fail(env, "demo", &bisect.UsageError{Msg: "start: " + err.Error()})
	}
	return run(ctx, fs.Args())
}

// readResult reads the result a session left in its directory.
func readResult(repo, name string) (*bisect.Result, error) {
	st, err := bisect.ReadStatus(repo, name)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(st.Dir, "result.json"))
	if err != nil {
		return nil, err
	}
	var res bisect.Result
	if err := json.Unmarshal(data, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// ratioText shows the CPU ratio the first bad commit was judged by, next
// to the wall times of the session's steps, which the busy loops stretch
// at random: the comparison a wall-time condition would have had to make.
// It is empty when the session did not record these figures.
func ratioText(res *bisect.Result) string {
	var cpu, bad float64
	lo, hi := math.Inf(1), 0.0
	for _, s := range res.Steps {
		wall, ok := s.Metrics["wall_s"]
		if !ok {
			continue
		}
		switch {
		case s.Commit == *res.FirstBad:
			cpu, bad = s.Metrics["cpu_ratio"], wall
		case s.Verdict == predicate.Good:
			lo, hi = min(lo, wall), max(hi, wall)
		}
	}
	if cpu == 0 || bad == 0 || hi == 0 {
		return ""
	}
	return fmt.Sprintf("At the first bad commit the test used %.2f times the CPU time of the good commit.\n"+
		"Its wall time, busy loops and all, was %.2fs; at commits judged good it ranged from %.2fs to %.2fs.\n",
		cpu, bad, lo, hi)
}

// busyLoops keeps a few shell loops spinning beside a session, switched on
// and off in turn, as other jobs load a shared machine: wall time stretches
// and shrinks with them, the CPU time a test itself uses does not.
type busyLoops struct {
	cancel context.CancelFunc
	done   chan int // the number of on/off cycles, when the loops are off for good
}

func startBusyLoops(ctx context.Context, n int, period time.Duration) *busyLoops {
	ctx, cancel := context.WithCancel(ctx)
	b := &busyLoops{cancel: cancel, done: make(chan int, 1)}
	go func() {
		cycles := 0
		for ctx.Err() == nil {
			procs := spin(n)
			select {
			case <-ctx.Done():
			case <-time.After(period):
			}
			for _, p := range procs {
				// Each loop is a process group of its own: kill the group.
				_ = syscall.Kill(-p.Process.Pid, syscall.SIGKILL)
				_ = p.Wait()
			}
			cycles++
			select {
			case <-ctx.Done():
			case <-time.After(period):
			}
		}
		b.done <- cycles
	}()
	return b
}

// spin starts n busy loops; any that cannot start are left out.
func spin(n int) []*exec.Cmd {
	var procs []*exec.Cmd
	for i := 0; i < n; i++ {
		cmd := exec.Command("sh", "-c", "while :; do :; done")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if cmd.Start() == nil {
			procs = append(procs, cmd)
		}
	}
	return procs
}

// stop switches the loops off for good and returns how many on/off cycles
// they made.
func (b *busyLoops) stop() int {
	b.cancel()
	return <-b.done
}
