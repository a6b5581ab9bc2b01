package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sxbisect/sxbisect/bisect"
	"github.com/sxbisect/sxbisect/internal/demo"
	"github.com/sxbisect/sxbisect/predicate"
)

var cmdCompletion = &Command{
	Name:      "completion",
	UsageLine: "completion bash|zsh|fish",
	Short:     "print a shell completion script",
	Long: `
Completion prints a script that makes the shell complete sxbisect's
commands, flags and some of their values (session names, report formats,
demo cases, policies). It is generated from the commands' own definitions,
so it always matches this sxbisect.

	bash:  sxbisect completion bash \
	           > ~/.local/share/bash-completion/completions/sxbisect
	zsh:   sxbisect completion zsh > "${fpath[1]}/_sxbisect"
	fish:  sxbisect completion fish \
	           > ~/.config/fish/completions/sxbisect.fish

or, for the current shell only: source <(sxbisect completion bash).
`,
	Complete: func(_ *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return []cobra.Completion{"bash", "zsh", "fish"}, cobra.ShellCompDirectiveNoFileComp
	},
	Flags: func(fs *pflag.FlagSet, env *Env) func(context.Context, []string) int {
		return func(ctx context.Context, args []string) int {
			if len(args) != 1 {
				return fail(env, "completion", &bisect.UsageError{Msg: "name the shell: sxbisect completion bash|zsh|fish"})
			}
			root := env.root
			if root == nil {
				return fail(env, "completion", fmt.Errorf("no command tree to complete"))
			}
			var err error
			switch args[0] {
			case "bash":
				err = root.GenBashCompletionV2(env.Stdout, true)
			case "zsh":
				err = root.GenZshCompletion(env.Stdout)
			case "fish":
				err = root.GenFishCompletion(env.Stdout, true)
			default:
				return fail(env, "completion", &bisect.UsageError{Msg: fmt.Sprintf("no completion for %q: the shells are bash, zsh and fish", args[0])})
			}
			if err != nil {
				return fail(env, "completion", err)
			}
			return 0
		}
	},
}

// flagValues completes the values of flags that take one of a few words,
// whichever command has them.
var flagValues = map[string][]string{
	"on-timeout":       {string(predicate.PolicyBad), string(predicate.PolicySkip), string(predicate.PolicyAbort)},
	"on-build-failure": {string(predicate.PolicySkip), string(predicate.PolicyBad), string(predicate.PolicyAbort)},
	"on-crash":         {string(predicate.PolicyAbort), string(predicate.PolicyBad), string(predicate.PolicySkip)},
	"format":           {"md", "json", "html"},
	"case":             append(demo.CaseNames(), "all"),
}

// registerFlagCompletions teaches the shell the values of c's flags: the
// fixed words above, and the sessions of the repository for --name.
func registerFlagCompletions(c *cobra.Command) {
	for name, words := range flagValues {
		if c.Flags().Lookup(name) == nil {
			continue
		}
		_ = c.RegisterFlagCompletionFunc(name, cobra.FixedCompletions(words, cobra.ShellCompDirectiveNoFileComp))
	}
	if c.Flags().Lookup("name") != nil && c.Flags().Lookup("repo") != nil {
		_ = c.RegisterFlagCompletionFunc("name", func(c *cobra.Command, _ []string, prefix string) ([]cobra.Completion, cobra.ShellCompDirective) {
			names, err := bisect.Sessions(c.Flags().Lookup("repo").Value.String())
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var out []cobra.Completion
			for _, n := range names {
				if strings.HasPrefix(n, prefix) {
					out = append(out, n)
				}
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		})
	}
}
