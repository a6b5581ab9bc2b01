// Package gitcmd is the one way sxbisect runs the git command. The worktree
// pool (checkouts, submodules), the repository reader (writing a
// commit-graph) and the test fixtures all go through a Runner, so that every
// git sxbisect starts gets the same environment, the same handling of
// cancellation and the same errors. It is internal because both worktree
// and bisect/repograph need it and neither should depend on the other.
//
// The environment is the caller's without the variables that point git at
// another repository, index or work tree than the one it is started in
// (GIT_DIR, GIT_WORK_TREE, GIT_INDEX_FILE and the like, which a git hook or a
// `git bisect run` script inherits), with LC_ALL=C, so that git says the same
// thing in every locale, and GIT_TERMINAL_PROMPT=0, so that it never waits
// for a password that nobody is there to type. When its context ends or its
// timeout passes, git gets SIGTERM, on which it removes its lock files, and
// is killed if it is still there gracePeriod later. A failed command is an
// *Error, with what git wrote to stderr.
package gitcmd

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Runner runs git commands with the same settings. The zero value runs git
// with no -c settings and no timeout beyond the context's.
type Runner struct {
	// Config holds name=value settings, each given to git with -c.
	Config []string
	// Timeout bounds each command; zero means no bound but the context's.
	Timeout time.Duration
}

// New returns a Runner after checking that each setting has the form
// name=value.
func New(config []string, timeout time.Duration) (Runner, error) {
	for _, kv := range config {
		name, _, ok := strings.Cut(kv, "=")
		if !ok || name == "" || strings.HasPrefix(kv, "-") {
			return Runner{}, fmt.Errorf("git config setting %q is not of the form name=value", kv)
		}
	}
	return Runner{Config: slices.Clone(config), Timeout: timeout}, nil
}

// Options are what varies from one command to the next.
type Options struct {
	// Dir is the directory git starts in, which names the repository
	// unless the arguments say otherwise (--git-dir=).
	Dir string
	// Stdin is git's standard input; nil means none.
	Stdin io.Reader
	// Hold is an open file git inherits, so that a lock taken on it
	// (flock) lasts as long as git does, even when this process dies
	// first.
	Hold *os.File
}

// gracePeriod is how long git gets after SIGTERM to remove its lock files
// before it is killed.
const gracePeriod = 5 * time.Second

// Run runs git with args in dir and returns its standard output without
// the trailing newline.
func (r Runner) Run(ctx context.Context, dir string, args ...string) (string, error) {
	return r.Exec(ctx, Options{Dir: dir}, args...)
}

// Exec runs git with args and opts and returns its standard output without
// the trailing newline.
func (r Runner) Exec(ctx context.Context, opts Options, args ...string) (string, error) {
	if r.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.Timeout)
		defer cancel()
	}
	full := make([]string, 0, 2*len(r.Config)+len(args))
	for _, kv := range r.Config {
		full = append(full, "-c", kv)
	}
	full = append(full, args...)
	cmd := exec.CommandContext(ctx, "git", full...)
	cmd.Dir = opts.Dir
	cmd.Env = environment()
	cmd.Stdin = opts.Stdin
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = gracePeriod
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if opts.Hold != nil {
		cmd.ExtraFiles = []*os.File{opts.Hold}
	}
	if err := cmd.Run(); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			if ctxErr == context.DeadlineExceeded && r.Timeout > 0 {
				err = fmt.Errorf("%w after %v (%v)", ctxErr, r.Timeout, err)
			} else {
				err = fmt.Errorf("%w (%v)", ctxErr, err)
			}
		}
		return "", &Error{Args: args, Dir: opts.Dir, Err: err, Stderr: strings.TrimSpace(stderr.String())}
	}
	return strings.TrimSuffix(stdout.String(), "\n"), nil
}

// Error is a git command that failed, with what it wrote to stderr.
type Error struct {
	Args   []string
	Dir    string
	Err    error
	Stderr string
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("git %s (in %s): %v", strings.Join(e.Args, " "), e.Dir, e.Err)
	if e.Stderr != "" {
		msg += ": " + e.Stderr
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// locatesRepository tells the variables that point git at another
// repository, index or work tree than the one its working directory
// belongs to.
func locatesRepository(name string) bool {
	switch name {
	case "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR",
		"GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES",
		"GIT_NAMESPACE", "GIT_PREFIX", "GIT_QUARANTINE_PATH",
		"GIT_INTERNAL_SUPER_PREFIX":
		return true
	}
	return false
}

// environment is the environment every git command gets: the calling
// process's without the repository-locating variables, with LC_ALL=C and
// GIT_TERMINAL_PROMPT=0.
func environment() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if locatesRepository(name) || name == "LC_ALL" || name == "GIT_TERMINAL_PROMPT" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "LC_ALL=C", "GIT_TERMINAL_PROMPT=0")
}
