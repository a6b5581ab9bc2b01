package bisect

import (
	"fmt"
	"os"
	"strings"

	"github.com/hashicorp/go-multierror"

	"github.com/sxbisect/sxbisect/predicate/run"
	"github.com/sxbisect/sxbisect/worktree"
)

// Reset removes the named session's state and the scratch worktree it used
// (when no other session holds that worktree). With all, it removes every
// session and the whole worktree pool. A running session is not touched:
// its lock is tried first. Nothing outside sxbisect's state directory and
// its pool is removed; the user's checkout is never touched.
func Reset(repoPath, name string, all bool) ([]string, error) {
	repo, err := openRepo(repoPath)
	if err != nil {
		return nil, err
	}
	var names []string
	if all {
		if names, err = Sessions(repoPath); err != nil {
			return nil, err
		}
	} else {
		_, dir, n, err := locate(repoPath, name)
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(dir); err != nil {
			return nil, noSession(n)
		}
		names = []string{n}
	}
	var removed []string
	var errs *multierror.Error
	var poolDirs = map[string][]string{}
	for _, n := range names {
		dir := SessionDir(repo.CommonDir(), n)
		lock, err := lockSession(dir, n)
		if err != nil {
			errs = multierror.Append(errs, err)
			continue
		}
		killLeftovers(dir)
		spec, used := sessionWorktrees(dir)
		poolDirs[spec.PoolDir] = append(poolDirs[spec.PoolDir], used...)
		err = os.RemoveAll(dir)
		_ = lock.Unlock()
		if err != nil {
			errs = multierror.Append(errs, fmt.Errorf("removing session %s: %w", n, err))
			continue
		}
		removed = append(removed, "session "+n)
	}
	if all && errs.ErrorOrNil() == nil {
		poolDirs[""] = nil
	}
	for poolDir, used := range poolDirs {
		pool, err := worktree.Open(repo.CommonDir(), worktree.Options{Dir: poolDir})
		if err != nil {
			errs = multierror.Append(errs, err)
			continue
		}
		if all {
			if err := pool.RemoveAll(); err != nil {
				errs = multierror.Append(errs, err)
			} else {
				removed = append(removed, "worktree pool "+pool.Dir())
			}
			continue
		}
		for _, wt := range used {
			if err := pool.Remove(wt); err != nil {
				errs = multierror.Append(errs, err)
			} else {
				removed = append(removed, "worktree "+wt)
			}
		}
	}
	if errs != nil {
		// One line, as every error of the command line is.
		errs.ErrorFormat = func(es []error) string {
			msgs := make([]string, len(es))
			for i, e := range es {
				msgs[i] = e.Error()
			}
			return strings.Join(msgs, "; ")
		}
	}
	return removed, errs.ErrorOrNil()
}

// sessionWorktrees reads which pool worktrees a session used.
func sessionWorktrees(dir string) (Spec, []string) {
	// A damaged journal still names the worktrees of the records before
	// the damage.
	h, _ := readHistory(dir)
	if h == nil {
		return Spec{}, nil
	}
	seen := map[string]bool{}
	var used []string
	for _, v := range h.verdicts {
		if v.Worktree != "" && !seen[v.Worktree] {
			seen[v.Worktree] = true
			used = append(used, v.Worktree)
		}
	}
	if f := h.inFlight; f != nil && f.Worktree != "" && !seen[f.Worktree] {
		used = append(used, f.Worktree)
	}
	return h.start.Spec, used
}

// killLeftovers kills what a session's last run left running, if it died
// without a word, before its worktrees are removed or reused.
func killLeftovers(dir string) {
	// A damaged journal still names what its records before the damage
	// started.
	if h, _ := readHistory(dir); h != nil {
		_, _ = killRunning(h.running)
	}
}

// killRunning kills what is left of the process trees.
func killRunning(running []ProcessRecord) (killed int, errs []error) {
	for _, p := range running {
		n, err := run.KillLeftovers(p.Process)
		killed += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	return killed, errs
}
