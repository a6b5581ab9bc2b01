package plugin

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/sxbisect/sxbisect/predicate"
)

// Prefix starts the file name of every plugin: the predicate NAME is the
// program sxbisect-predicate-NAME.
const Prefix = "sxbisect-predicate-"

// NotFoundError says that a predicate is neither compiled in nor a plugin
// on PATH.
type NotFoundError struct{ Name string }

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("no predicate %s: not built in, and no %s%s on PATH", e.Name, Prefix, e.Name)
}

// Find returns the absolute path of the program sxbisect-predicate-NAME in
// the first directory of path (a PATH value, directories separated by
// colons) that holds one as an executable regular file, symbolic links
// followed. Relative directories in path, "." and the empty entry among
// them, are not searched: a plugin found through them would depend on the
// directory sxbisect happens to run in, and could come from a repository
// under test. When there is none, the error is a *NotFoundError, worded
// for a name the registry does not know either.
func Find(name, path string) (string, error) {
	if err := checkName(name); err != nil {
		return "", err
	}
	for _, dir := range filepath.SplitList(path) {
		if !filepath.IsAbs(dir) {
			continue
		}
		exe := filepath.Join(dir, Prefix+name)
		if checkExecutable(exe) == nil {
			return exe, nil
		}
	}
	return "", &NotFoundError{Name: name}
}

// checkName refuses names that are no file name: Prefix+name must stay in
// the directory it is looked up in.
func checkName(name string) error {
	switch {
	case name == "":
		return errors.New("predicate name is empty")
	case strings.ContainsAny(name, "/\x00"):
		return fmt.Errorf("predicate name %q: a name cannot contain a slash", name)
	}
	return nil
}

// checkExecutable reports why path is not a program that can be run.
func checkExecutable(path string) error {
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", path)
	}
	if info.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not executable (chmod +x)", path)
	}
	return nil
}

// Found is a plugin on PATH.
type Found struct {
	// Name is the predicate's name: the file name without Prefix.
	Name string
	// Path is the program.
	Path string
}

// List returns every plugin on path, sorted by name. When two directories
// hold a plugin of the same name, the earlier one in path is listed, the
// one Find would return. Relative directories, directories that cannot be
// read, and files that are not executable are passed over, as Find does.
func List(path string) []Found {
	seen := map[string]bool{}
	var found []Found
	for _, dir := range filepath.SplitList(path) {
		if !filepath.IsAbs(dir) {
			continue
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, entry := range entries {
			name, ok := strings.CutPrefix(entry.Name(), Prefix)
			if !ok || name == "" || seen[name] {
				continue
			}
			exe := filepath.Join(dir, entry.Name())
			if checkExecutable(exe) != nil {
				continue
			}
			seen[name] = true
			found = append(found, Found{Name: name, Path: exe})
		}
	}
	sort.Slice(found, func(i, j int) bool { return found[i].Name < found[j].Name })
	return found
}

// Listing describes, one entry each, every predicate compiled in and every
// plugin on path, sorted by name, for 'sxbisect predicates'. A plugin with
// the name of a predicate compiled in is described as not used, since
// Open prefers the one compiled in.
func Listing(path string) []Entry {
	var entries []Entry
	builtin := map[string]bool{}
	for _, name := range predicate.Names() {
		builtin[name] = true
		what := "built in"
		if d := predicate.Description(name); d != "" {
			what += ": " + d
		}
		entries = append(entries, Entry{name, what})
	}
	for _, f := range List(path) {
		what := f.Path
		if builtin[f.Name] {
			what += " (not used: the predicate built in comes first)"
		}
		entries = append(entries, Entry{f.Name, what})
	}
	// Stable: a built-in stays before the plugin of its name.
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].Name < entries[j].Name })
	return entries
}

// Entry is one line of Listing.
type Entry struct{ Name, What string }
