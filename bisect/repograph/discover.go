package repograph

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/format/config"
)

// location is where a repository's parts are.
type location struct {
	gitDir    string
	commonDir string
	workTree  string
}

// discover finds the repository for path the way git does: in each
// directory from path up to the root, a .git directory or .git file (which
// names the git directory of a linked worktree or submodule) comes first,
// then the directory itself being a git directory (a bare repository).
func discover(path string) (location, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return location{}, err
	}
	st, err := os.Stat(abs)
	if err != nil {
		return location{}, fmt.Errorf("%w: %s does not exist", ErrNotRepository, abs)
	}
	dir := abs
	if !st.IsDir() {
		dir = filepath.Dir(abs)
	}
	for d := dir; ; {
		loc, found, err := dotGitIn(d)
		if err != nil || found {
			return loc, err
		}
		if isGitDir(d) {
			return gitDirLocation(d), nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			break
		}
		d = parent
	}
	return location{}, fmt.Errorf("%w (nor is any parent directory): %s; run sxbisect inside a git work tree or pass the repository's path", ErrNotRepository, dir)
}

// dotGitIn looks for a .git directory or .git file in dir.
func dotGitIn(dir string) (location, bool, error) {
	dotGit := filepath.Join(dir, ".git")
	st, err := os.Stat(dotGit)
	if err != nil {
		return location{}, false, nil
	}
	if st.IsDir() {
		if !isGitDir(dotGit) {
			return location{}, false, nil
		}
		return location{gitDir: dotGit, commonDir: commonDirOf(dotGit), workTree: dir}, true, nil
	}
	data, err := os.ReadFile(dotGit)
	if err != nil {
		return location{}, false, err
	}
	target, ok := strings.CutPrefix(strings.TrimSpace(string(data)), "gitdir:")
	if !ok {
		return location{}, false, fmt.Errorf("%w: %s is not a gitdir file (it lacks the gitdir: line)", ErrNotRepository, dotGit)
	}
	gitDir := absFrom(dir, strings.TrimSpace(target))
	if !isGitDir(gitDir) {
		return location{}, false, fmt.Errorf("%w: %s names %s, which is not a git directory (a removed worktree? see git worktree prune)", ErrNotRepository, dotGit, gitDir)
	}
	return location{gitDir: gitDir, commonDir: commonDirOf(gitDir), workTree: dir}, true, nil
}

// isGitDir applies git's test (is_git_directory): a HEAD file, and objects
// and refs directories, in the common directory when there is one.
func isGitDir(dir string) bool {
	if st, err := os.Stat(filepath.Join(dir, "HEAD")); err != nil || st.IsDir() {
		return false
	}
	common := commonDirOf(dir)
	for _, sub := range []string{"objects", "refs"} {
		if st, err := os.Stat(filepath.Join(common, sub)); err != nil || !st.IsDir() {
			return false
		}
	}
	return true
}

// commonDirOf reads the commondir file that a linked worktree's git
// directory has; without one, the git directory is its own common directory.
func commonDirOf(gitDir string) string {
	data, err := os.ReadFile(filepath.Join(gitDir, "commondir"))
	if err != nil {
		return gitDir
	}
	return absFrom(gitDir, strings.TrimSpace(string(data)))
}

// gitDirLocation describes a repository found by its git directory rather
// than through a .git entry: a bare repository, or a git directory named
// directly, whose work tree is then found as git would.
func gitDirLocation(gitDir string) location {
	loc := location{gitDir: gitDir, commonDir: commonDirOf(gitDir)}
	if data, err := os.ReadFile(filepath.Join(gitDir, "gitdir")); err == nil {
		// A linked worktree's git directory records the path of the
		// worktree's .git file.
		loc.workTree = filepath.Dir(absFrom(gitDir, strings.TrimSpace(string(data))))
	} else if filepath.Base(gitDir) == ".git" && !configIsBare(loc.commonDir) {
		loc.workTree = filepath.Dir(gitDir)
	}
	return loc
}

func configIsBare(commonDir string) bool {
	f, err := os.Open(filepath.Join(commonDir, "config"))
	if err != nil {
		return false
	}
	defer f.Close()
	cfg := config.New()
	if err := config.NewDecoder(f).Decode(cfg); err != nil {
		return false
	}
	return strings.EqualFold(cfg.Section("core").Option("bare"), "true")
}

func absFrom(base, p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(base, p)
}
