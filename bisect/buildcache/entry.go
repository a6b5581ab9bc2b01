package buildcache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Cache is what a bench needs of a build cache: to find the build of a key,
// to keep one, and to put a kept build's outputs into a worktree. Its
// methods may be called from several goroutines and processes at once.
type Cache interface {
	// Lookup returns the entry of key, or nil when there is none.
	Lookup(ctx context.Context, key Key) (*Entry, error)
	// Store keeps b as the build of key and returns its entry; for a
	// build that succeeded, it reads b.Outputs from b.Dir. A declared
	// output that the build did not make is a *MissingOutputError, and
	// nothing is kept.
	Store(ctx context.Context, key Key, b Build) (*Entry, error)
	// Restore replaces e's outputs in the worktree dir with e's. It fails
	// with an error that wraps ErrDamaged, and forgets e, when a content
	// is missing or does not match its hash.
	Restore(ctx context.Context, e *Entry, dir string) error
}

// ErrDamaged says that a kept build could not be restored as it was made.
var ErrDamaged = errors.New("the build cache's copy is damaged or gone")

// MissingOutputError says that a build that succeeded did not make an
// output it was declared to make.
type MissingOutputError struct{ Path string }

func (e *MissingOutputError) Error() string {
	return fmt.Sprintf("the build made no %s", e.Path)
}

// Build is one build's outcome, to be kept.
type Build struct {
	// Commit is the commit that was built.
	Commit string
	// Failed says the build failed, Reason how, and Tail is the end of
	// its output.
	Failed bool
	Reason string
	Tail   string
	// Seconds is how long the build took.
	Seconds float64
	// Dir is the worktree the build ran in, and Outputs the paths in it
	// that it makes (see OutputPaths); both unused for a failed build.
	Dir     string
	Outputs []string
}

// FileKind is the kind of a file of an output.
type FileKind string

const (
	KindFile    FileKind = "file"
	KindDir     FileKind = "dir"
	KindSymlink FileKind = "symlink"
)

// File is a file, a directory or a symbolic link of an output.
type File struct {
	// Path is relative to the worktree, with forward slashes.
	Path string   `json:"path"`
	Kind FileKind `json:"kind"`
	// Mode holds the permission bits.
	Mode uint32 `json:"mode,omitempty"`
	// Hash is a file's content SHA-256, Size its length.
	Hash string `json:"hash,omitempty"`
	Size int64  `json:"size,omitempty"`
	// Target is a symbolic link's.
	Target string `json:"target,omitempty"`
}

// Entry is a kept build: the manifest of a key, written as JSON.
type Entry struct {
	Version int `json:"version"`
	Key     Key `json:"key"`
	// Commit is the commit whose build this is (of those with this key,
	// the one built last).
	Commit  string    `json:"commit"`
	Failed  bool      `json:"failed,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	Tail    string    `json:"tail,omitempty"`
	Seconds float64   `json:"build_s"`
	Time    time.Time `json:"time"`
	// Outputs are the declared outputs, and Files what they held after
	// the build: each output and everything below it, parents first.
	Outputs []string `json:"outputs,omitempty"`
	Files   []File   `json:"files,omitempty"`
	// Tier is where a Lookup found the entry; it is not kept.
	Tier Tier `json:"-"`
}

// entryVersion is Entry.Version; entries of another version are misses.
const entryVersion = 1

// Digest sums the outputs, their paths, kinds, modes and contents, for
// telling whether two builds made the same thing; "" for a failed build
// or one without outputs.
func (e *Entry) Digest() string {
	if e.Failed || len(e.Outputs) == 0 {
		return ""
	}
	files := slices.Clone(e.Files)
	slices.SortFunc(files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	h := sha256.New()
	for _, o := range e.Outputs {
		fmt.Fprintf(h, "output %q\n", o)
	}
	for _, f := range files {
		fmt.Fprintf(h, "%q %s %o %s %q\n", f.Path, f.Kind, f.Mode, f.Hash, f.Target)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Bytes is the size of the contents the entry names, each counted once.
func (e *Entry) Bytes() int64 {
	seen := map[string]bool{}
	var n int64
	for _, f := range e.Files {
		if f.Kind == KindFile && !seen[f.Hash] {
			seen[f.Hash] = true
			n += f.Size
		}
	}
	return n
}
