package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/sxbisect/sxbisect/bisect"
	"github.com/sxbisect/sxbisect/internal/text"
	"github.com/sxbisect/sxbisect/predicate"
)

var cmdStatus = &Command{
	Name:      "status",
	UsageLine: "status [--name NAME | --all] [--repo DIR] [--json]",
	Short:     "show where a session stands",
	Long: `
Status shows a session's state (running, and by whom; finished; aborted,
interrupted or stopped, and so resumable), the range left to search, the
steps done and the estimated steps left, and the commit under test. It reads
the journal only, so it is safe to run beside a running session. With --all,
a session whose journal is damaged is listed as damaged, with the line of the
damage, among the others.
`,
	Flags: func(fs *pflag.FlagSet, env *Env) func(context.Context, []string) int {
		var repo, name string
		var asJSON, all bool
		fs.StringVar(&repo, "repo", ".", "the repository `DIR`")
		fs.StringVar(&name, "name", "default", "the session's `NAME`")
		fs.BoolVar(&all, "all", false, "every session in the repository")
		fs.BoolVar(&asJSON, "json", false, "print JSON")
		return func(ctx context.Context, args []string) int {
			var list []*bisect.Status
			if all {
				var err error
				if list, err = bisect.ReadStatuses(repo); err != nil {
					return fail(env, "status", err)
				}
				if len(list) == 0 {
					fmt.Fprintln(env.Stdout, "no sessions in this repository")
					return 0
				}
			} else {
				st, err := bisect.ReadStatus(repo, name)
				if err != nil {
					return fail(env, "status", err)
				}
				list = append(list, st)
			}
			if asJSON {
				var v any = list[0]
				if all {
					v = list
				}
				data, _ := json.MarshalIndent(v, "", "  ")
				fmt.Fprintln(env.Stdout, string(data))
				return 0
			}
			var texts []string
			for _, st := range list {
				texts = append(texts, st.Text())
			}
			fmt.Fprint(env.Stdout, strings.Join(texts, "\n"))
			return 0
		}
	},
}

var cmdLog = &Command{
	Name:      "log",
	UsageLine: "log [--name NAME] [--repo DIR]",
	Short:     "print the session as a log for git bisect replay",
	Long: `
Log prints the session's verdicts in the format of git's BISECT_LOG, so that
you can go on by hand with git:

	sxbisect log > /tmp/bisect.log && git bisect replay /tmp/bisect.log

Of a damaged journal it prints what the records before the damage make, and
says on stderr at which line the damage is (exit status 2).
`,
	Flags: func(fs *pflag.FlagSet, env *Env) func(context.Context, []string) int {
		var repo, name string
		fs.StringVar(&repo, "repo", ".", "the repository `DIR`")
		fs.StringVar(&name, "name", "default", "the session's `NAME`")
		return func(ctx context.Context, args []string) int {
			text, err := bisect.Log(repo, name)
			fmt.Fprint(env.Stdout, text)
			if err != nil {
				return fail(env, "log", err)
			}
			return 0
		}
	},
}

var cmdReset = &Command{
	Name:      "reset",
	UsageLine: "reset [--name NAME | --all] [--repo DIR]",
	Short:     "remove a session's state and scratch worktrees",
	Long: `
Reset removes a session's journal and results and the scratch worktree it
used. With --all it removes every session and the whole worktree pool. A
running session is left alone. Nothing outside sxbisect's own directories
is removed, and your checkout is never touched.
`,
	Flags: func(fs *pflag.FlagSet, env *Env) func(context.Context, []string) int {
		var repo, name string
		var all bool
		fs.StringVar(&repo, "repo", ".", "the repository `DIR`")
		fs.StringVar(&name, "name", "default", "the session's `NAME`")
		fs.BoolVar(&all, "all", false, "remove every session and the worktree pool")
		return func(ctx context.Context, args []string) int {
			removed, err := bisect.Reset(repo, name, all)
			for _, r := range removed {
				fmt.Fprintf(env.Stdout, "removed %s\n", r)
			}
			if err != nil {
				return fail(env, "reset", err)
			}
			if len(removed) == 0 {
				fmt.Fprintln(env.Stdout, "nothing to remove")
			}
			return 0
		}
	},
}

var cmdMark = &Command{
	Name:      "mark",
	UsageLine: "mark good|bad|skip [REV] [--name NAME] [--repo DIR]",
	Short:     "record a verdict by hand in a stopped session",
	Long: `
Mark records a verdict given by hand, as 'git bisect good|bad|skip REV'
does, in a session that stopped (aborted at a crash or a build, or
interrupted), so that 'sxbisect resume' goes on. Without REV it marks the
commit the session stopped at. The verdict is journaled like a tested
one, with the reason "marked by hand". A running or finished session
cannot be marked.
`,
	Flags: func(fs *pflag.FlagSet, env *Env) func(context.Context, []string) int {
		var repo, name string
		fs.StringVar(&repo, "repo", ".", "the repository `DIR`")
		fs.StringVar(&name, "name", "default", "the session's `NAME`")
		return func(ctx context.Context, args []string) int {
			if len(args) < 1 || len(args) > 2 {
				return fail(env, "mark", &bisect.UsageError{Msg: "give a verdict and, optionally, a commit: sxbisect mark good|bad|skip [REV]"})
			}
			rev := ""
			if len(args) == 2 {
				rev = args[1]
			}
			v, err := bisect.Mark(repo, name, predicate.Verdict(args[0]), rev)
			if err != nil {
				return fail(env, "mark", err)
			}
			fmt.Fprintf(env.Stdout, "marked %s %s (%s step); 'sxbisect resume --name %s' goes on\n", text.ShortID(v.Commit), args[0], v.Kind, name)
			return 0
		}
	},
}
