package worktree

import (
	"fmt"
	"os"
	"path/filepath"
)

// LostError says that a worktree is no longer what its Worktree promised:
// removed, unlinked from the repository, moved to another commit, or no
// longer locked by this process, typically because someone deleted the
// pool by hand while a test ran there.
type LostError struct {
	Path   string
	Commit string
	Why    string
}

func (e *LostError) Error() string {
	return fmt.Sprintf("worktree %s no longer holds %s: %s", e.Path, e.Commit, e.Why)
}

// Holds checks that the worktree is still whole and at commit: its
// directory and its link to the repository are there, its HEAD names the
// commit, and the lock this Worktree holds is still the pool's lock of it.
// A verdict counts only if this holds after the test: a test that ran in a
// worktree that vanished or moved under it says nothing about the commit.
// It reads a few small files and starts no process.
func (w *Worktree) Holds(commit string) error {
	lost := func(why string) error { return &LostError{Path: w.path, Commit: commit, Why: why} }
	if w.lock == nil {
		return lost("it was released")
	}
	if fi, err := os.Stat(w.path); err != nil || !fi.IsDir() {
		return lost("its directory is gone")
	}
	held, err := w.lock.Stat()
	if err != nil {
		return lost("its lock cannot be read: " + err.Error())
	}
	if now, err := os.Stat(w.pool.lockPath(w.name)); err != nil || !os.SameFile(held, now) {
		return lost("the pool's lock of it was removed or replaced")
	}
	admin, ok := w.linkedAdminDir()
	if !ok {
		return lost("it is no longer linked to the repository")
	}
	if head := w.checkedOutCommit(admin); head != commit {
		return lost("its HEAD is " + head + " (" + filepath.Join(admin, "HEAD") + ")")
	}
	return nil
}
