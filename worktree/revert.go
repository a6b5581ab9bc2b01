package worktree

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// RevertError says that a commit's revert does not apply cleanly where it
// was asked for; nothing was committed and the worktree is left at onto.
type RevertError struct {
	Commit, Onto string
	// Conflicts are the files that did not merge.
	Conflicts []string
}

func (e *RevertError) Error() string {
	return fmt.Sprintf("the revert of %s does not apply cleanly on %s (conflicts in %s)", short(e.Commit), short(e.Onto), strings.Join(e.Conflicts, ", "))
}

func short(id string) string { return id[:min(len(id), 12)] }

// Revert makes a commit that reverts commit on top of onto, in this
// worktree, and leaves the worktree at it: a detached HEAD, so that no ref
// changes, and the commit lives only in the object store until git's
// garbage collection takes it. mainline is the parent a merge is reverted
// against (1 for the first); 0 for a commit that is no merge. It returns
// the new commit's id, or a *RevertError when the revert does not apply.
func (w *Worktree) Revert(ctx context.Context, onto, commit string, mainline int) (string, error) {
	if err := w.Checkout(ctx, onto); err != nil {
		return "", err
	}
	// An identity of its own, whatever the user's configuration holds:
	// this commit is sxbisect's, and git refuses to commit without one.
	args := []string{"-c", "user.name=sxbisect", "-c", "user.email=sxbisect@localhost", "-c", "commit.gpgSign=false",
		"revert", "--no-edit", "--no-rerere-autoupdate"}
	if mainline > 0 {
		args = append(args, "-m", strconv.Itoa(mainline))
	}
	if _, err := w.pool.git.runHolding(ctx, w.path, w.lock, append(args, commit)...); err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		out, _ := w.pool.git.runHolding(ctx, w.path, w.lock, "diff", "--name-only", "--diff-filter=U")
		_, _ = w.pool.git.runHolding(ctx, w.path, w.lock, "revert", "--abort")
		conflicts := strings.Fields(out)
		if len(conflicts) == 0 {
			return "", fmt.Errorf("reverting %s on %s: %w", short(commit), short(onto), err)
		}
		return "", &RevertError{Commit: commit, Onto: onto, Conflicts: conflicts}
	}
	head, err := w.pool.git.runHolding(ctx, w.path, w.lock, "rev-parse", "HEAD")
	if err != nil {
		return "", err
	}
	// The worktree now holds a commit that Checkout did not write: what
	// was known of its submodules is not known of it.
	w.synced = ""
	return strings.TrimSpace(head), nil
}
