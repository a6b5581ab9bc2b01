//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package worktree

import (
	"errors"
	"os"
)

var errLockHeld = errors.New("lock is held")

var errNoFlock = errors.New("worktree pools need flock, which this system does not have")

func tryLock(path string) (*os.File, error) { return nil, errNoFlock }

func lockHeld(path string) (bool, error) { return false, errNoFlock }

func unlock(f *os.File) error { return f.Close() }
