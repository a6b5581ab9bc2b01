// Package gitfixture builds real git repositories from a list of commits,
// through git fast-import, for tests and for the demo. It lives outside
// testdata/ because the go tool ignores packages there, and both tests and
// the demo command import it.
package gitfixture

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/sxbisect/sxbisect/internal/gitcmd"
)

// Commit is one commit to make. Parents name earlier commits by index into
// the slice given to Build; the first parent's tree is the starting point,
// and Files and Delete change it.
type Commit struct {
	Parents []int
	// Time is the author and committer date, in seconds since the epoch.
	Time int64
	// Files maps a path to its new content; Exec marks paths that get mode 755.
	Files   map[string]string
	Exec    map[string]bool
	Delete  []string
	Message string
	// Author is "Name <email>"; empty means the fixture's own identity.
	Author string
}

// Init makes an empty repository in dir with branch main and a fixed
// identity, so that commits made later in it are reproducible.
func Init(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if _, err := Git(dir, "init", "-q", "-b", "main"); err != nil {
		return err
	}
	for _, kv := range [][2]string{
		{"user.name", "Fixture"}, {"user.email", "fixture@example.com"},
		{"commit.gpgsign", "false"}, {"gc.auto", "0"},
	} {
		if _, err := Git(dir, "config", kv[0], kv[1]); err != nil {
			return err
		}
	}
	return nil
}

// Build writes commits into the repository at dir (made with Init if it is
// not one yet), points refs/heads/main at the last commit, checks it out,
// and returns the object id of each commit in order.
func Build(dir string, commits []Commit) ([]string, error) {
	if _, err := os.Stat(filepath.Join(dir, ".git")); err != nil {
		if err := Init(dir); err != nil {
			return nil, err
		}
	}
	var stream bytes.Buffer
	for i, c := range commits {
		writeCommit(&stream, i, c)
	}
	marks := filepath.Join(dir, ".git", "fixture-marks")
	if _, err := (gitcmd.Runner{}).Exec(context.Background(), gitcmd.Options{Dir: dir, Stdin: &stream},
		"fast-import", "--quiet", "--force", "--export-marks="+marks); err != nil {
		return nil, err
	}
	defer os.Remove(marks)
	hashes, err := readMarks(marks, len(commits))
	if err != nil {
		return nil, err
	}
	if len(commits) > 0 {
		if _, err := Git(dir, "update-ref", "refs/heads/main", hashes[len(hashes)-1]); err != nil {
			return nil, err
		}
		if _, err := Git(dir, "checkout", "-q", "-f", "main"); err != nil {
			return nil, err
		}
	}
	return hashes, nil
}

func writeCommit(w *bytes.Buffer, i int, c Commit) {
	if len(c.Parents) == 0 {
		fmt.Fprintf(w, "reset refs/fixture/build\n")
	}
	fmt.Fprintf(w, "commit refs/fixture/build\nmark :%d\n", i+1)
	author := c.Author
	if author == "" {
		author = "Fixture <fixture@example.com>"
	}
	fmt.Fprintf(w, "author %s %d +0000\n", author, c.Time)
	fmt.Fprintf(w, "committer Fixture <fixture@example.com> %d +0000\n", c.Time)
	msg := c.Message
	if msg == "" {
		msg = fmt.Sprintf("commit %d", i)
	}
	fmt.Fprintf(w, "data %d\n%s\n", len(msg), msg)
	for j, p := range c.Parents {
		if j == 0 {
			fmt.Fprintf(w, "from :%d\n", p+1)
		} else {
			fmt.Fprintf(w, "merge :%d\n", p+1)
		}
	}
	paths := make([]string, 0, len(c.Files))
	for p := range c.Files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		mode := "100644"
		if c.Exec[p] {
			mode = "100755"
		}
		fmt.Fprintf(w, "M %s inline %s\ndata %d\n%s\n", mode, p, len(c.Files[p]), c.Files[p])
	}
	for _, p := range c.Delete {
		fmt.Fprintf(w, "D %s\n", p)
	}
	w.WriteString("\n")
}

func readMarks(path string, n int) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	hashes := make([]string, n)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		mark, sha, ok := strings.Cut(sc.Text(), " ")
		if !ok || !strings.HasPrefix(mark, ":") {
			continue
		}
		k, err := strconv.Atoi(mark[1:])
		if err != nil || k < 1 || k > n {
			continue
		}
		hashes[k-1] = sha
	}
	for i, h := range hashes {
		if h == "" {
			return nil, fmt.Errorf("fast-import gave no object id for commit %d", i)
		}
	}
	return hashes, sc.Err()
}

// Git runs git in dir, as sxbisect runs it (internal/gitcmd), and returns
// its trimmed standard output.
func Git(dir string, args ...string) (string, error) {
	out, err := gitcmd.Runner{}.Run(context.Background(), dir, args...)
	return strings.TrimSpace(out), err
}

// Linear returns n commits in a line, a minute apart, commit i holding
// files(i) and the subject "change i".
func Linear(n int, files func(i int) map[string]string) []Commit {
	commits := make([]Commit, n)
	for i := range commits {
		commits[i] = Commit{Time: int64(1_700_000_000 + i*60), Files: files(i), Message: fmt.Sprintf("change %d", i)}
		if i > 0 {
			commits[i].Parents = []int{i - 1}
		}
	}
	return commits
}

// ValueRepo builds, in a new directory of tb, a line of n commits where
// commit i holds the number i in the file "value", so that a test can say
// `test "$(cat value)" -lt K` to make commit K the first bad one. It
// returns the repository and the commits, oldest first.
func ValueRepo(tb testing.TB, n int) (string, []string) {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), "repo")
	hashes, err := Build(dir, Linear(n, func(i int) map[string]string {
		return map[string]string{"value": strconv.Itoa(i)}
	}))
	if err != nil {
		tb.Fatal(err)
	}
	return dir, hashes
}

// RecordGitCommands puts first on PATH, for the rest of tb, a git that
// appends its arguments to a log, a line per command, and runs the real
// git. It returns a function that gives the commands logged since its
// previous call. A worktree pool sees the recording git only when opened
// afterwards. The gits that git itself starts run from its exec path and
// are not logged.
func RecordGitCommands(tb testing.TB) func() []string {
	tb.Helper()
	real, err := exec.LookPath("git")
	if err != nil {
		tb.Fatal(err)
	}
	bin := tb.TempDir()
	log := filepath.Join(bin, "commands.log")
	script := "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '" + log + "'\nexec '" + real + "' \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "git"), []byte(script), 0o755); err != nil {
		tb.Fatal(err)
	}
	tb.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	return func() []string {
		tb.Helper()
		data, err := os.ReadFile(log)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err == nil {
			err = os.Remove(log)
		}
		if err != nil {
			tb.Fatal(err)
		}
		return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	}
}
