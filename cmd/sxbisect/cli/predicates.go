package cli

import (
	"context"
	"fmt"
	"os"
	"sort"
	"text/tabwriter"

	"github.com/spf13/pflag"

	"github.com/sxbisect/sxbisect/predicate/plugin"
)

// builtinConditions are the conditions that are flags of start, in the
// order a reader meets them.
var builtinConditions = [][2]string{
	{"--run", "the test's exit status, with git bisect run's meanings"},
	{"--timeout", "a test that runs too long is bad (or --on-timeout skip|abort), reason timeout"},
	{"--max-ratio", "cpu, wall or mem more than X times the good commit's, decided statistically"},
	{"--memory-limit", "the test's whole tree confined; an OOM kill inside the limit is bad, reason oom"},
	{"--expect", "bad unless an output line matches before the test ends or is killed"},
	{"--scoreboard", "bad when the passed count falls below the good commit's (also --scoreboard-file)"},
}

var cmdPredicates = &Command{
	Name:      "predicates",
	UsageLine: "predicates [--repo DIR] [--config PATH]",
	Short:     "list what can judge a commit: conditions, presets, plugins",
	Long: `
Predicates lists, one line each, what can judge a commit: the conditions
built into start (flags), the presets of the project file ` + ConfigFile + `
(use them with --predicate NAME), the predicates compiled in, and the
sxbisect-predicate-NAME programs found on PATH.
`,
	Flags: func(fs *pflag.FlagSet, env *Env) func(context.Context, []string) int {
		repo, configFile := ".", ""
		fs.StringVar(&repo, "repo", ".", "the repository `DIR` whose project file to read")
		fs.StringVar(&configFile, "config", "", "the project file `PATH`")
		return func(ctx context.Context, args []string) int {
			tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
			for _, c := range builtinConditions {
				fmt.Fprintf(tw, "%s\tflag of start: %s\n", c[0], c[1])
			}
			path, named := configFile, configFile != ""
			if !named {
				path = configPath(absPath(repo))
			}
			cfg, err := loadConfig(path, named)
			if err != nil {
				return fail(env, "predicates", err)
			}
			var presets []string
			for name := range cfg.Predicates {
				presets = append(presets, name)
			}
			sort.Strings(presets)
			for _, name := range presets {
				fmt.Fprintf(tw, "%s\tpreset in %s\n", name, cfg.path)
			}
			for _, e := range plugin.Listing(os.Getenv("PATH")) {
				fmt.Fprintf(tw, "%s\t%s\n", e.Name, e.What)
			}
			if err := tw.Flush(); err != nil {
				return fail(env, "predicates", err)
			}
			return 0
		}
	},
}
