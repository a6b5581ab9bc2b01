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
	"strings"
	"syscall"

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
}

// Env is what commands write to; tests replace it.
type Env struct {
	Stdout, Stderr io.Writer
	// StderrIsTerminal selects the updating status line for progress.
	StderrIsTerminal bool
}

func commands() []*Command {
	return []*Command{cmdStart, cmdResume, cmdMark, cmdStatus, cmdLog, cmdReset, cmdBatch, cmdReport, cmdCompare, cmdCheck, cmdPredicates, cmdDemo}
}

// StdEnv writes to the process's standard output and error.
func StdEnv() *Env {
	return &Env{Stdout: os.Stdout, Stderr: os.Stderr, StderrIsTerminal: isTerminal(os.Stderr)}
}

// Run is the whole program: Main on the process's standard streams.
func Run(args []string) int {
	return Main(context.Background(), StdEnv(), args)
}

// Main runs sxbisect with args and returns the exit status. Ctrl-C and
// SIGTERM cancel ctx while it runs, whoever calls it: a program built on
// Main that left them to their default would die at once and leave the
// test's process tree running, with no record of where it stopped.
func Main(ctx context.Context, env *Env, args []string) int {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(args) == 0 {
		printUsage(env.Stderr)
		return exitUsage
	}
	name := args[0]
	if name == "help" || name == "-h" || name == "--help" {
		if len(args) > 1 {
			if c := lookup(args[1]); c != nil {
				printCommandHelp(env.Stdout, c)
				return 0
			}
			fmt.Fprintf(env.Stderr, "sxbisect: unknown help topic %q: run 'sxbisect help'\n", args[1])
			return exitUsage
		}
		printUsage(env.Stdout)
		return 0
	}
	c := lookup(name)
	if c == nil {
		fmt.Fprintf(env.Stderr, "sxbisect: unknown command %q: run 'sxbisect help'\n", name)
		return exitUsage
	}
	fs := pflag.NewFlagSet(c.Name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	run := c.Flags(fs, env)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			printCommandHelp(env.Stdout, c)
			return 0
		}
		fmt.Fprintf(env.Stderr, "sxbisect %s: %v: run 'sxbisect help %s'\n", c.Name, err, c.Name)
		return exitUsage
	}
	return run(ctx, fs.Args())
}

func lookup(name string) *Command {
	for _, c := range commands() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func printUsage(w io.Writer) {
	fmt.Fprintf(w, "sxbisect finds the first bad commit, unattended, in scratch worktrees.\n\nUsage:\n\n\tsxbisect <command> [arguments]\n\nThe commands are:\n\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "\t%-8s %s\n", c.Name, c.Short)
	}
	fmt.Fprintf(w, "\nUse 'sxbisect help <command>' for more about a command.\n\n%s", exitStatusHelp)
}

const exitStatusHelp = `Exit status of start, resume and demo:
	0    the first bad commit was found
	1    an error that is not about the input (I/O, git)
	2    bad usage or bad input; the message says how to fix it
	3    only skipped commits are left; the candidates are listed
	4    no regression in range (the good end tests bad, or the bad end good)
	5    aborted by the test or the build; fix the cause (or mark the commit), then resume
	6    found, but --confirm's re-tests did not hold: the test is flaky
	130  interrupted; resume goes on where it stopped
`

func printCommandHelp(w io.Writer, c *Command) {
	fmt.Fprintf(w, "usage: sxbisect %s\n\n%s\n", c.UsageLine, strings.TrimSpace(c.Long))
	fs := pflag.NewFlagSet(c.Name, pflag.ContinueOnError)
	fs.SortFlags = false
	c.Flags(fs, &Env{Stdout: io.Discard, Stderr: io.Discard})
	if fs.HasFlags() {
		fmt.Fprintf(w, "\nFlags:\n%s", fs.FlagUsages())
	}
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

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0 && os.Getenv("TERM") != "dumb"
}
