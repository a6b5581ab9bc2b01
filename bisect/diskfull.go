package bisect

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/sxbisect/sxbisect/internal/text"
	"github.com/sxbisect/sxbisect/predicate"
)

// isDiskFull reports whether err says that a file system is full, or that
// the user's quota on it is.
func isDiskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// writeFailed words a failure to write the session's own files (the
// journal, a step's logs, the result) with the way out at its end: the
// journal keeps every whole record written before, so resume goes on.
func (s *session) writeFailed(err error) error {
	if isDiskFull(err) {
		return fmt.Errorf("%w; the journal keeps everything up to its last whole record: free space, then 'sxbisect resume --name %s'", err, s.spec.Name)
	}
	return fmt.Errorf("%w; the journal keeps everything up to its last whole record: fix that, then 'sxbisect resume --name %s'", err, s.spec.Name)
}

// checkRoom refuses the verdict of commit when the file system of the
// session's directory or of the worktree is full after its step: the
// step's logs were cut short, and the build or the test may have failed
// for want of space rather than because of the commit. A verdict is not
// worth a wrong answer; the step is tested again after resume.
func (s *session) checkRoom(commit string) error {
	dirs := []string{s.dir}
	if s.tester != nil && s.tester.Worktree() != "" {
		dirs = append(dirs, s.tester.Worktree())
	}
	for _, dir := range dirs {
		if fileSystemFull(dir) {
			return &predicate.AbortError{Reason: fmt.Sprintf(
				"the file system of %s is full, so the verdict of %s is not recorded (its logs are cut short, and its build or test may have failed for want of space); free space, then 'sxbisect resume --name %s'",
				dir, text.ShortID(commit), s.spec.Name)}
		}
	}
	return nil
}

// fileSystemFull reports whether no block is left for this process on
// the file system of dir (root may use the blocks reserved for it).
func fileSystemFull(dir string) bool {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return false
	}
	if os.Geteuid() == 0 {
		return st.Bfree == 0
	}
	return st.Bavail == 0
}
