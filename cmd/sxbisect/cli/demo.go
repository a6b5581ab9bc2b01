package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"
	"github.com/sxbisect/sxbisect/bisect"
	"github.com/sxbisect/sxbisect/internal/demo"
)

var cmdDemo = &Command{
	Name:      "demo",
	UsageLine: "demo [--dir DIR] [--json] [--quiet]",
	Short:     "bisect the embedded miniature of the SX world, end to end",
	Long: `
Demo generates a small repository in the image of the SX evaluator: a tiny
server built with cc at every commit, guest suites such as lib/tcl/test.sh,
a few hundred commits with merge waves, and one regression planted at a
known commit. It then bisects it with 'sxbisect start', exactly as you
would, and checks that the answer is the planted commit.

The repository is left in place (the path is printed) so that you can look
around: 'sxbisect status', 'sxbisect log' and 'git worktree list' work there.
`,
	Flags: func(fs *pflag.FlagSet, env *Env) func(context.Context, []string) int {
		var dir string
		var out outputFlags
		fs.StringVar(&dir, "dir", "", "generate the demo repository in `DIR` (default: a new temporary directory)")
		out.register(fs)
		return func(ctx context.Context, args []string) int {
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
				fmt.Fprintf(env.Stderr, "%s\nGenerated in %s: %s\n\n$ sxbisect start --repo %s --build '%s' --run '%s' --timeout 20s %s %s\n",
					d.Description, time.Since(began).Round(time.Millisecond), d.Dir, d.Dir, d.Build, d.Run, shortSHA(d.Good), shortSHA(d.Bad))
			}
			spec := bisect.Spec{
				Name: "demo", Repo: d.Dir, Good: []string{d.Good}, Bad: d.Bad,
				Build: d.Build, Run: d.Run, Timeout: bisect.Duration(20 * time.Second),
			}
			res, err := bisect.Start(ctx, spec, bisect.Options{Progress: out.progress(env)})
			status := out.finish(env, "demo", res, err)
			if err != nil || out.json {
				return status
			}
			if res.FirstBad != nil && *res.FirstBad == d.FirstBad {
				fmt.Fprintf(env.Stdout, "\nThat is the planted regression: sxbisect found it in %d steps.\n", len(res.Steps))
			} else {
				fmt.Fprintf(env.Stdout, "\nThe planted regression is %s, but the session ended %s: please report this.\n", d.FirstBad, res.Outcome)
				if status == exitFound {
					status = exitError
				}
			}
			fmt.Fprintf(env.Stdout, "Look around: sxbisect status --repo %s --name demo; sxbisect log --repo %s --name demo; git -C %s worktree list\n", d.Dir, d.Dir, d.Dir)
			return status
		}
	},
}
