//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package worktree

import (
	"errors"
	"os"
	"syscall"
)

// errLockHeld says another open file, in this process or another, holds
// the lock.
var errLockHeld = errors.New("lock is held")

// tryLock takes an exclusive flock on the file at path, creating it, without
// waiting. The lock belongs to the returned open file: closing it, or the
// death of the process, releases it.
//
// Remove deletes lock files while holding them. Someone who opened the file
// just before that would then lock an inode that no longer has a name,
// while a later opener creates and locks a new one; so after locking, the
// path must still name the locked inode, or the whole thing is tried again.
func tryLock(path string) (*os.File, error) {
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, err
		}
		if err := flock(f, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, errLockHeld
			}
			return nil, &os.PathError{Op: "flock", Path: path, Err: err}
		}
		held, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, err
		}
		named, err := os.Lstat(path)
		if err == nil && os.SameFile(held, named) {
			return f, nil
		}
		f.Close()
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
}

// lockHeld tells whether some open file holds the lock at path, by trying
// to take it for an instant.
func lockHeld(path string) (bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	err = flock(f, syscall.LOCK_SH|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return true, nil
	}
	return false, err
}

// unlock releases the lock and closes the file.
func unlock(f *os.File) error {
	err := flock(f, syscall.LOCK_UN)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if err != syscall.EINTR {
			return err
		}
	}
}
