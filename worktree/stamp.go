package worktree

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// stampsDir holds one build stamp per worktree name.
const stampsDir = ".stamps"

// BuildKey is the build stamp of a build of commit (a full object id) with
// the shell command command: the two together decide what a build leaves
// in a worktree.
func BuildKey(commit, command string) string {
	sum := sha256.Sum256([]byte(commit + "\x00" + command))
	return hex.EncodeToString(sum[:])
}

func (p *Pool) stampPath(name string) string { return filepath.Join(p.dir, stampsDir, name) }

// readStamp returns the build stamp of the worktree called name, or ""
// when it has none or the stamp no longer holds: the file records the
// commit that was checked out when the build succeeded, and a HEAD moved
// since (by a git command run in the worktree by hand, or by a test)
// voids it.
func (p *Pool) readStamp(name string) string {
	content, err := readSmallFile(p.stampPath(name))
	if err != nil {
		return ""
	}
	head, key, ok := strings.Cut(strings.TrimSpace(content), "\n")
	if !ok || head == "" || key == "" {
		return ""
	}
	w := &Worktree{pool: p, name: name, path: p.worktreePath(name)}
	admin, linked := w.linkedAdminDir()
	if !linked || w.checkedOutCommit(admin) != head {
		return ""
	}
	return key
}

// removeStamp deletes the build stamp of the worktree called name.
func (p *Pool) removeStamp(name string) error {
	err := os.Remove(p.stampPath(name))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// BuildStamp returns the key (see BuildKey) that SetBuildStamp recorded
// after the last successful build in this worktree, or "" when there is
// none: nothing was stamped, or a Checkout, a HEAD moved by hand, a Remove
// or a worktree made again since has voided it.
func (w *Worktree) BuildStamp() string {
	if w.lock == nil {
		return ""
	}
	return w.pool.readStamp(w.name)
}

// SetBuildStamp records key as the build stamp of the commit checked out
// now; an empty key removes the stamp. A caller sets it once a build has
// succeeded. Every Checkout removes it, even of the commit already there;
// a caller that found the stamp it wanted before checking out that same
// commit again (which puts back modified tracked files and leaves build
// outputs alone) sets it back instead of building. The file is replaced
// by a rename, so that a crash leaves the old stamp or the new one, never
// a torn one.
func (w *Worktree) SetBuildStamp(key string) error {
	if w.lock == nil {
		return fmt.Errorf("worktree %s was released", w.name)
	}
	p := w.pool
	if key == "" {
		return p.removeStamp(w.name)
	}
	if strings.ContainsAny(key, "\n\r") {
		return fmt.Errorf("invalid build stamp %q", key)
	}
	admin, ok := w.linkedAdminDir()
	if !ok {
		return fmt.Errorf("worktree %s is not checked out", w.name)
	}
	head := w.checkedOutCommit(admin)
	if head == "" {
		return fmt.Errorf("worktree %s has no commit checked out", w.name)
	}
	if err := p.ensureStampsDir(); err != nil {
		return err
	}
	// Only the holder of the worktree writes its stamp, so a fixed
	// temporary name does not race; one left by a crash is replaced.
	tmp := filepath.Join(p.dir, stampsDir, "."+w.name+".tmp")
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := writeNewFile(tmp, head+"\n"+key+"\n"); err != nil {
		return err
	}
	if err := os.Rename(tmp, p.stampPath(w.name)); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// ensureStampsDir makes the stamps directory, refusing anything at its
// path that is not a directory, such as a symlink out of the pool.
func (p *Pool) ensureStampsDir() error {
	dir := filepath.Join(p.dir, stampsDir)
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory; refusing to use the pool", dir)
	}
	return nil
}

// AcquireOptions say which worktree Acquire should rather hand out.
type AcquireOptions struct {
	// Prefer names the worktree wanted first, when it is free (a resumed
	// session wants its own warm worktree back).
	Prefer string
	// Stamp, when not empty, makes a free worktree whose build stamp
	// equals it (see BuildKey) come next, before any other free one: a
	// caller that is about to build that commit with that command can
	// then skip the build.
	Stamp string
}

// tryStamped tries the free worktrees among names whose stamp is stamp.
// The stamp is read without the lock, so it may have changed by the time
// the worktree is held; the caller checks BuildStamp before trusting it,
// and a worktree got this way is a free one all the same.
func (p *Pool) tryStamped(ctx context.Context, names []string, stamp string) (*Worktree, error) {
	for _, name := range names {
		if p.readStamp(name) != stamp {
			continue
		}
		if w, err := p.tryAcquire(ctx, name); w != nil || err != nil {
			return w, err
		}
	}
	return nil, nil
}
