package worktree

import (
	"context"
	"os"

	"github.com/sxbisect/sxbisect/internal/gitcmd"
)

// GitError is a git command that failed, with what it wrote to stderr.
type GitError = gitcmd.Error

// gitRunner runs the pool's git commands through gitcmd, with
// advice.detachedHead=false and the pool's own settings. They have no
// timeout of their own: a first checkout takes as long as the tree is
// large, and the caller's context stops them.
type gitRunner struct{ gitcmd.Runner }

func newGitRunner(config []string) (*gitRunner, error) {
	r, err := gitcmd.New(append([]string{"advice.detachedHead=false"}, config...), 0)
	if err != nil {
		return nil, err
	}
	return &gitRunner{r}, nil
}

// run runs git with args in dir and returns its standard output with the
// trailing newline removed.
func (g *gitRunner) run(ctx context.Context, dir string, args ...string) (string, error) {
	return g.Run(ctx, dir, args...)
}

// runHolding is run with lock, an open lock file, inherited by git: the
// flock then lasts until git is gone too, even when this process dies
// first, so no other process gets the worktree while git still writes in
// it.
func (g *gitRunner) runHolding(ctx context.Context, dir string, lock *os.File, args ...string) (string, error) {
	return g.Exec(ctx, gitcmd.Options{Dir: dir, Hold: lock}, args...)
}
