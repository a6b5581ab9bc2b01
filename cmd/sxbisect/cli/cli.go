// Package cli is sxbisect's command line. It is a package of its own, not
// only package main, so that a team can build sxbisect with predicates of
// its own compiled in:
//
//	package main
//
//	import (
//		"os"
//
//		"github.com/sxbisect/sxbisect/cmd/sxbisect/cli"
//		_ "example.com/ourteam/sxpredicates" // registers predicates in init
//	)
//
//	func main() { os.Exit(cli.Run(os.Args[1:])) }
//
// Main and Run both stop a session cleanly on Ctrl-C or SIGTERM: the
// session records where it stopped and kills its test's process tree
// before the program exits with status 130.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sxbisect/sxbisect/bisect"
	"github.com/sxbisect/sxbisect/internal/text"
)

// Exit statuses. They are part of the interface: scripts and cron jobs
// branch on them.
const (
	exitFound        = 0 // a first bad commit was found (other commands: success)
	exitError        = 1 // something failed that is not the user's input (I/O, git)
	exitUsage        = 2 // bad usage or bad input: the message says how to fix it
	exitOnlySkipped  = 3 // only skipped commits are left: the answer is a list of candidates
	exitNoRegression = 4 // no regression in range: an end disagrees with the premise
	exitAborted      = 5 // the test or build asked to stop; resumable
	exitUnconfirmed  = 6 // found, but --confirm's re-tests did not hold
	exitInterrupted  = 130
)

// Command is one subcommand; its help is derived from these fields.
type Command struct {
	Name      string
	UsageLine string
	Short     string
	Long      string
	// Flags declares the command's flags on fs and returns a function that
	// runs the command once they are parsed.
	Flags func(fs *pflag.FlagSet, env *Env) func(ctx context.Context, args []string) int
	// Complete, when set, completes the command's arguments in a shell.
	Complete cobra.CompletionFunc
}

// Env is what commands write to; tests replace it.
type Env struct {
	Stdout, Stderr io.Writer
	// StderrIsTerminal selects the updating status line for progress.
	StderrIsTerminal bool
	// Color colours verdicts in progress: on a terminal, unless NO_COLOR
	// is set (see wantColor).
	Color bool
	// Stdin is where questions are answered (start without --run);
	// StdinIsTerminal says a person may be there to answer.
	Stdin           io.Reader
	StdinIsTerminal bool

	// root is the command tree, for the commands that describe it.
	root *cobra.Command
}

func commands() []*Command {
	return []*Command{cmdStart, cmdResume, cmdMark, cmdStatus, cmdLog, cmdReset, cmdBatch, cmdWorker, cmdWorkers, cmdReport, cmdCompare, cmdCheck, cmdPredicates, cmdDemo, cmdCompletion, cmdMan}
}

// StdEnv writes to the process's standard output and error.
func StdEnv() *Env {
	term := isTerminal(os.Stderr)
	return &Env{Stdout: os.Stdout, Stderr: os.Stderr, StderrIsTerminal: term, Color: wantColor(term, os.Getenv),
		Stdin: os.Stdin, StdinIsTerminal: isTerminal(os.Stdin)}
}

// Run is the whole program: Main on the process's standard streams.
func Run(args []string) int {
	return Main(context.Background(), StdEnv(), args)
}

// Main runs sxbisect with args and returns the exit status. Ctrl-C and
// SIGTERM cancel ctx while it runs, whoever calls it: a program built on
// Main that left them to their default would die at once and leave the
// test's process tree running, with no record of where it stopped.
//
// The command line is dispatched by cobra, built from the Command values:
// their flags, help, shell completion and the manual page all come from
// the same definitions.
func Main(ctx context.Context, env *Env, args []string) int {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(args) == 0 {
		printUsage(env.Stderr)
		return exitUsage
	}
	status := 0
	root := newRoot(env, &status)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return status
	}
	var usage *commandUsageError
	switch {
	case errors.As(err, &usage):
		fmt.Fprintf(env.Stderr, "%s\n", usage.Error())
	case cmd == nil || cmd == root:
		if name, ok := unknownCommand(err); ok {
			fmt.Fprintf(env.Stderr, "sxbisect: unknown command %q: run 'sxbisect help'\n", name)
		} else {
			fmt.Fprintf(env.Stderr, "sxbisect: %s: run 'sxbisect help'\n", text.OneLine(err.Error()))
		}
	default:
		fmt.Fprintf(env.Stderr, "sxbisect %s: %s: run 'sxbisect help %s'\n", cmd.Name(), text.OneLine(err.Error()), cmd.Name())
	}
	return exitUsage
}

// commandUsageError is a mistake on a command's own command line (a flag
// it does not have, a value that does not parse), already worded.
type commandUsageError struct{ cmd, msg string }

func (e *commandUsageError) Error() string {
	return fmt.Sprintf("sxbisect %s: %s: run 'sxbisect help %s'", e.cmd, e.msg, e.cmd)
}

// unknownCommand reads the name out of cobra's "unknown command" error.
func unknownCommand(err error) (string, bool) {
	msg := err.Error()
	if !strings.HasPrefix(msg, "unknown command ") {
		return "", false
	}
	rest := strings.TrimPrefix(msg, "unknown command ")
	if name, err := strconv.Unquote(strings.Fields(rest)[0]); err == nil {
		return name, true
	}
	return "", false
}

// newRoot builds the cobra command tree from commands(). Each Command's
// Flags registers on the cobra command's own flag set; its run function
// is what cobra calls, and its exit status lands in *status.
func newRoot(env *Env, status *int) *cobra.Command {
	root := &cobra.Command{
		Use:           "sxbisect",
		Short:         rootShort,
		Version:       version(),
		SilenceErrors: true,
		SilenceUsage:  true,
		// Our own completion command replaces cobra's (see cmdCompletion).
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
	}
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	root.SetVersionTemplate("sxbisect {{.Version}}\n")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		if c == root {
			return err
		}
		return &commandUsageError{cmd: c.Name(), msg: text.OneLine(err.Error())}
	})
	byName := map[string]*Command{}
	for _, c := range commands() {
		byName[c.Name] = c
		cc := &cobra.Command{
			Use:   c.Name,
			Short: c.Short,
			Long:  strings.TrimSpace(c.Long),
			// Arguments are each command's own business: it checks them
			// and says what it wants.
			Args:              cobra.ArbitraryArgs,
			ValidArgsFunction: c.Complete,
		}
		fs := cc.Flags()
		fs.SortFlags = false
		run := c.Flags(fs, &Env{Stdout: env.Stdout, Stderr: env.Stderr, StderrIsTerminal: env.StderrIsTerminal, Color: env.Color, Stdin: env.Stdin, StdinIsTerminal: env.StdinIsTerminal, root: root})
		registerFlagCompletions(cc)
		cc.RunE = func(cmd *cobra.Command, args []string) error {
			*status = run(cmd.Context(), args)
			return nil
		}
		root.AddCommand(cc)
	}
	root.SetHelpFunc(func(c *cobra.Command, _ []string) {
		if cmd, ok := byName[c.Name()]; ok && c != root {
			printCommandHelp(c.OutOrStdout(), cmd)
			return
		}
		printUsage(c.OutOrStdout())
	})
	root.SetHelpCommand(&cobra.Command{
		Use:   "help [command]",
		Short: "show the help of sxbisect or of a command",
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
			var names []cobra.Completion
			for _, c := range commands() {
				names = append(names, cobra.CompletionWithDesc(c.Name, c.Short))
			}
			return names, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				printUsage(env.Stdout)
				return nil
			}
			cmd, ok := byName[args[0]]
			if !ok {
				*status = exitUsage
				fmt.Fprintf(env.Stderr, "sxbisect: unknown help topic %q: run 'sxbisect help'\n", args[0])
				return nil
			}
			printCommandHelp(env.Stdout, cmd)
			return nil
		},
	})
	return root
}

const rootShort = "sxbisect finds the first bad commit, unattended, in scratch worktrees."

func printUsage(w io.Writer) {
	fmt.Fprintf(w, "%s\n\nUsage:\n\n\tsxbisect <command> [arguments]\n\nThe commands are:\n\n", rootShort)
	for _, c := range commands() {
		fmt.Fprintf(w, "\t%-11s %s\n", c.Name, c.Short)
	}
	fmt.Fprintf(w, "\nUse 'sxbisect help <command>' for more about a command, and\n'sxbisect --version' for the version.\n\n%s", exitStatusHelp)
}

const exitStatusHelp = `Exit status of start, resume and demo:
	0    the first bad commit was found
	1    an error that is not about the input (I/O, git)
	2    bad usage or bad input; the message says how to fix it
	3    only skipped commits are left; the candidates are listed
	4    no regression in range (the good end tests bad, or the bad end
	     tests good)
	5    aborted by the test or the build; fix the cause (or mark the
	     commit), then resume
	6    found, but --confirm's re-tests did not hold: the test is flaky
	130  interrupted; resume goes on where it stopped
`

// helpWidth is the width help is wrapped to: a terminal's 80 columns.
const helpWidth = 80

func printCommandHelp(w io.Writer, c *Command) {
	fmt.Fprintf(w, "%s\n\n%s\n", wrapUsage("usage: sxbisect "+c.UsageLine), strings.TrimSpace(c.Long))
	fs := commandFlags(c)
	if fs.HasFlags() {
		fmt.Fprintf(w, "\nFlags:\n%s", fs.FlagUsagesWrapped(helpWidth-1))
	}
}

// usageWords are the words of a usage line; an optional part in brackets
// is one word, never broken.
var usageWords = regexp.MustCompile(`\[[^\]]*\]|\S+`)

// wrapUsage wraps usage lines to helpWidth at spaces, continuation lines
// indented under the command's first argument.
func wrapUsage(usage string) string {
	var out []string
	for _, line := range strings.Split(usage, "\n") {
		words := usageWords.FindAllString(line, -1)
		indent := strings.Repeat(" ", len("usage: sxbisect ")+len(words[min(2, len(words)-1)])+1)
		cur := line[:len(line)-len(strings.TrimLeft(line, " "))]
		for i, w := range words {
			switch {
			case i == 0 || strings.TrimSpace(cur) == "":
				cur += w
			case len(cur)+1+len(w) > helpWidth:
				out = append(out, cur)
				cur = indent + w
			default:
				cur += " " + w
			}
		}
		out = append(out, cur)
	}
	return strings.Join(out, "\n")
}

// commandFlags is a command's flag set, as declared by its Flags.
func commandFlags(c *Command) *pflag.FlagSet {
	fs := pflag.NewFlagSet(c.Name, pflag.ContinueOnError)
	fs.SortFlags = false
	c.Flags(fs, &Env{Stdout: io.Discard, Stderr: io.Discard})
	return fs
}

// fail prints err as one line and returns the matching exit status.
func fail(env *Env, cmd string, err error) int {
	var usage *bisect.UsageError
	msg := text.Escape(strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", "; "))
	fmt.Fprintf(env.Stderr, "sxbisect %s: %s\n", cmd, msg)
	if errors.As(err, &usage) {
		return exitUsage
	}
	return exitError
}

// wantColor says whether progress is coloured: on a terminal, unless
// NO_COLOR is set to anything (https://no-color.org).
func wantColor(terminal bool, getenv func(string) string) bool {
	return terminal && getenv("NO_COLOR") == ""
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0 && os.Getenv("TERM") != "dumb"
}
