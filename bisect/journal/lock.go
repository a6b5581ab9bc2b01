package journal

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Holder says who holds a lock.
type Holder struct {
	PID     int       `json:"pid"`
	Host    string    `json:"host"`
	Since   time.Time `json:"since"`
	Command string    `json:"command"`
}

func (h Holder) String() string {
	return fmt.Sprintf("pid %d on %s since %s (%s)", h.PID, h.Host, h.Since.Format(time.RFC3339), h.Command)
}

// HeldError is returned by Lock when another process holds the lock.
type HeldError struct {
	Path   string
	Holder Holder
}

func (e *HeldError) Error() string {
	return "locked by " + e.Holder.String()
}

// Lock is an exclusive lock on a directory, held through flock(2) on a file
// in it: the kernel releases it when the holder dies, even by kill -9, so a
// crashed run never leaves a stale lock behind. The file's content names
// the holder, for the message another process shows.
type Lock struct {
	f *os.File
}

// TryLock takes the lock file at path without waiting; it returns a
// *HeldError naming the holder when another process has it.
func TryLock(path string) (*Lock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder, _ := ReadHolder(path)
			return nil, &HeldError{Path: path, Holder: holder}
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	host, _ := os.Hostname()
	h := Holder{PID: os.Getpid(), Host: host, Since: time.Now().UTC().Truncate(time.Second), Command: strings.Join(os.Args, " ")}
	data, _ := json.Marshal(h)
	// The holder's identity is advisory; failing to write it must not
	// fail the lock, which the kernel already grants.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt(append(data, '\n'), 0)
	}
	return &Lock{f: f}, nil
}

// ReadHolder reads who holds (or last held) the lock file at path.
func ReadHolder(path string) (Holder, error) {
	var h Holder
	data, err := os.ReadFile(path)
	if err != nil {
		return h, err
	}
	err = json.Unmarshal(data, &h)
	return h, err
}

// IsLocked reports whether some process holds the lock file at path now.
func IsLocked(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		return errors.Is(err, syscall.EWOULDBLOCK)
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false
}

// Unlock releases the lock.
func (l *Lock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the descriptor releases the flock
	l.f = nil
	return err
}
