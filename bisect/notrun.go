package bisect

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/sxbisect/sxbisect/internal/text"
)

// notRunWhy says why the test could not run at commit, where it exited
// with code (126 or 127): the end of its output and, for a command that
// was not found, that tests run in a scratch worktree checked out at each
// commit. A script that is only in the user's checkout, untracked, is not
// there; the commonest case, --run ./t.sh, is named precisely.
func (s *session) notRunWhy(commit string, code int, v VerdictRecord) string {
	why := lastLine(v.OutputTail)
	if code != 127 {
		return why
	}
	const where = "tests run in a scratch worktree checked out at each commit, where the untracked files of your checkout do not exist"
	if script := s.untrackedScript(commit); script != "" {
		return fmt.Sprintf("%s; %s is in your checkout but not in commit %s, and %s: give its absolute path (--run %s) or commit it",
			why, script, text.ShortID(commit), where, text.ShellQuote(filepath.Join(s.repo.WorkTree(), script)))
	}
	return why + "; " + where + ": give a script of yours by its absolute path, or commit it"
}

// untrackedScript returns the test's first word when it is a relative
// path to a file that is in the user's checkout but not in commit; ""
// otherwise.
func (s *session) untrackedScript(commit string) string {
	word := commandWord(s.spec.Run)
	top := s.repo.WorkTree()
	if top == "" || word == "" || filepath.IsAbs(word) || !strings.Contains(word, "/") {
		return ""
	}
	rel := path.Clean(word)
	if rel == ".." || strings.HasPrefix(rel, "../") {
		return ""
	}
	if _, err := os.Lstat(filepath.Join(top, rel)); err != nil {
		return ""
	}
	g, err := s.repo.Graph([]string{rel})
	if err != nil {
		return ""
	}
	// The path key is zero when none of the graph's paths is in the commit.
	if key, err := g.PathKey(hashOf(commit)); err != nil || !key.IsZero() {
		return ""
	}
	return word
}

// commandWord is the first word of a shell command, after any leading
// NAME=value assignments.
func commandWord(cmd string) string {
	for _, w := range strings.Fields(cmd) {
		if name, _, ok := strings.Cut(w, "="); ok && name != "" && !strings.ContainsAny(name, "/'\"$") {
			continue
		}
		return w
	}
	return ""
}
