package buildcache

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"runtime"
	"slices"
	"strings"
)

// Key names a build by its inputs: a SHA-256, in hex.
type Key string

// Inputs are what decides a build's outcome, as far as the cache knows.
type Inputs struct {
	// Command is the build command, compared as a string.
	Command string
	// Trees are the git object ids of the input paths at the commit.
	Trees []Tree
	// Env are the variables named by the user, as NAME=VALUE, or NAME
	// alone for one that is not set.
	Env []string
	// NoSubmodules says that submodules were not checked out.
	NoSubmodules bool
}

// Tree is one input path and its git object id at a commit; ID is empty
// where the commit has no such path. Path "." is the whole tree.
type Tree struct {
	Path string
	ID   string
}

// keyVersion changes whenever what a key covers changes, so that old
// entries are never taken for new ones.
const keyVersion = "sxbisect build cache 1"

// Key hashes the inputs; the order of Trees and Env does not matter.
func (in Inputs) Key() Key {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\nplatform %s/%s\ncommand %q\nsubmodules %t\n", keyVersion, runtime.GOOS, runtime.GOARCH, in.Command, !in.NoSubmodules)
	trees := slices.Clone(in.Trees)
	slices.SortFunc(trees, func(a, b Tree) int { return strings.Compare(a.Path, b.Path) })
	for _, t := range trees {
		id := t.ID
		if id == "" {
			id = "absent"
		}
		fmt.Fprintf(&b, "input %q %s\n", t.Path, id)
	}
	env := slices.Clone(in.Env)
	slices.Sort(env)
	for _, kv := range env {
		fmt.Fprintf(&b, "env %q\n", kv)
	}
	sum := sha256.Sum256([]byte(b.String()))
	return Key(hex.EncodeToString(sum[:]))
}

// valid reports whether k can name an entry: 64 lower-case hex digits, so
// that it is safe as a file name.
func (k Key) valid() bool { return isHash(string(k)) }

func isHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// CleanPath checks a path given as a build input or output, relative to
// the top of the worktree, and returns it in the form git and the cache
// use ("a/b", "." for the top). It refuses what could reach out of the
// worktree or into its .git.
func CleanPath(p string) (string, error) {
	if p == "" {
		return "", fmt.Errorf("an empty path")
	}
	if strings.ContainsAny(p, "\x00\n\r") {
		return "", fmt.Errorf("path %q has a control character", p)
	}
	if path.IsAbs(p) || strings.HasPrefix(p, `\`) {
		return "", fmt.Errorf("path %q is absolute: give it relative to the top of the repository", p)
	}
	c := path.Clean(p)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("path %q leads out of the repository", p)
	}
	if c == ".git" || strings.HasPrefix(c, ".git/") {
		return "", fmt.Errorf("path %q is inside .git", p)
	}
	return c, nil
}

// cleanPaths cleans paths (see CleanPath), sorted, each once: a
// directory comes before what is below it.
func cleanPaths(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		c, err := CleanPath(p)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// InputPaths cleans the input paths and drops those inside another
// (whose id the outer one's covers), in order; nil means the whole tree,
// which is also what "." among them means.
func InputPaths(paths []string) ([]string, error) {
	clean, err := cleanPaths(paths)
	if err != nil || slices.Contains(clean, ".") {
		return nil, err
	}
	var out []string
	for _, c := range clean {
		if inside(out, c) == "" {
			out = append(out, c)
		}
	}
	return out, nil
}

// inside returns the path of dirs that p is or is below, or "".
func inside(dirs []string, p string) string {
	for _, d := range dirs {
		if within(d, p) {
			return d
		}
	}
	return ""
}

// within reports whether p is dir or below it (both clean).
func within(dir, p string) bool {
	return p == dir || strings.HasPrefix(p, dir+"/")
}

// OutputPaths cleans the declared outputs, refusing the top of the
// worktree (a restore would replace the sources) and outputs inside one
// another (which would be restored twice), and sorts them.
func OutputPaths(paths []string) ([]string, error) {
	out, err := cleanPaths(paths)
	if err != nil {
		return nil, err
	}
	for i, c := range out {
		if c == "." {
			return nil, fmt.Errorf("an output is the whole worktree: name the files or directories the build makes")
		}
		if d := inside(out[:i], c); d != "" {
			return nil, fmt.Errorf("output %q is inside output %q: give only %q", c, d, d)
		}
	}
	return out, nil
}
