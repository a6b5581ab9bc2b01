package worktree

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"
)

// locatesRepository tells the variables that point git at another
// repository, index or work tree than the one its working directory belongs
// to. Hooks and `git bisect run` scripts inherit some of them, and a git
// command started from there with them set would act on the user's
// checkout.
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

// gitEnvironment is the calling process's environment without the
// repository-locating variables, made predictable for parsing and for
// running unattended: messages in English, and no prompt for a password
// that nobody is there to type.
func gitEnvironment() []string {
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

// gitTermGrace is how long git gets after SIGTERM, when its context ends,
// to remove its lock files before it is killed.
const gitTermGrace = 5 * time.Second

// gitRunner runs git commands with the pool's settings.
type gitRunner struct {
	config []string // name=value pairs, each given as -c
	env    []string
}

func newGitRunner(config []string) (*gitRunner, error) {
	for _, kv := range config {
		name, _, ok := strings.Cut(kv, "=")
		if !ok || name == "" || strings.HasPrefix(kv, "-") {
			return nil, fmt.Errorf("git config setting %q is not of the form name=value", kv)
		}
	}
	return &gitRunner{config: slices.Clone(config), env: gitEnvironment()}, nil
}

// GitError is a git command that failed, with what it wrote to stderr.
type GitError struct {
	Args   []string
	Dir    string
	Err    error
	Stderr string
}

func (e *GitError) Error() string {
	msg := fmt.Sprintf("git %s (in %s): %v", strings.Join(e.Args, " "), e.Dir, e.Err)
	if e.Stderr != "" {
		msg += ": " + e.Stderr
	}
	return msg
}

func (e *GitError) Unwrap() error { return e.Err }

// run runs git with args in dir and returns its standard output with the
// trailing newline removed.
func (g *gitRunner) run(ctx context.Context, dir string, args ...string) (string, error) {
	return g.runHolding(ctx, dir, nil, args...)
}

// runHolding is run with lock, an open lock file, inherited by git: the
// flock then lasts until git is gone too, even when this process dies
// first, so no other process gets the worktree while git still writes in
// it.
func (g *gitRunner) runHolding(ctx context.Context, dir string, lock *os.File, args ...string) (string, error) {
	full := make([]string, 0, 2+2*len(g.config)+len(args))
	full = append(full, "-c", "advice.detachedHead=false")
	for _, kv := range g.config {
		full = append(full, "-c", kv)
	}
	full = append(full, args...)
	cmd := exec.CommandContext(ctx, "git", full...)
	cmd.Dir = dir
	cmd.Env = g.env
	// SIGTERM first: git removes its index.lock on it, and a killed git
	// would leave one behind that blocks the next checkout.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = gitTermGrace
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if lock != nil {
		cmd.ExtraFiles = []*os.File{lock}
	}
	if err := cmd.Run(); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			err = fmt.Errorf("%w (%v)", ctxErr, err)
		}
		return "", &GitError{Args: args, Dir: dir, Err: err, Stderr: strings.TrimSpace(stderr.String())}
	}
	return strings.TrimSuffix(stdout.String(), "\n"), nil
}
