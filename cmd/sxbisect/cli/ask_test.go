package cli

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sxbisect/sxbisect/internal/gitfixture"
)

// person answers sxbisect's questions as someone at the terminal would:
// by looking at the worktree the question names. The first answer is
// not one, to see the question asked again.
type person struct {
	mu       sync.Mutex
	screen   *syncBuffer
	firstBad int
	pending  string
	asked    int
}

var builtIn = regexp.MustCompile(`checked out and built in\n    (\S+)\n`)

func (p *person) Read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending == "" {
		all := builtIn.FindAllStringSubmatch(p.screen.String(), -1)
		if len(all) == 0 {
			return 0, os.ErrClosed
		}
		value, err := os.ReadFile(filepath.Join(all[len(all)-1][1], "value"))
		if err != nil {
			return 0, err
		}
		n, _ := strconv.Atoi(strings.TrimSpace(string(value)))
		p.asked++
		switch {
		case p.asked == 1:
			p.pending = "maybe\n"
		case n < p.firstBad:
			p.pending = "g\n"
		default:
			p.pending = "bad\n"
		}
	}
	n := copy(b, p.pending)
	p.pending = p.pending[n:]
	return n, nil
}

// Without --run, on a terminal, sxbisect checks each commit out, builds
// it, names the worktree and asks; the answers are journaled like any
// verdict, and the session finds the first bad commit.
func TestWithoutARunAPersonAnswersAtTheTerminal(t *testing.T) {
	repo, hashes := gitfixture.ValueRepo(t, 20)
	screen := &syncBuffer{}
	var stdout syncBuffer
	who := &person{screen: screen, firstBad: 13}
	env := &Env{Stdout: &stdout, Stderr: screen, StderrIsTerminal: true, Stdin: who, StdinIsTerminal: true}
	status := Main(context.Background(), env, []string{"start", "--repo", repo, "--build", "touch built", hashes[0], "main"})
	require.Equal(t, exitFound, status, "%s\n%s", stdout.String(), screen.String())
	assert.Contains(t, stdout.String(), hashes[13]+" is the first bad commit")
	assert.Contains(t, screen.String(), "Please answer good, bad or skip.")
	assert.Regexp(t, `Is [0-9a-f]{12} good, bad or skip\? \[g/b/s\]`, screen.String())
	for _, dir := range builtIn.FindAllStringSubmatch(screen.String(), -1) {
		assert.FileExists(t, filepath.Join(dir[1], "built"), "the commit is built before the question")
	}

	st, out, _ := sxbisect(t, "status", "--repo", repo, "--json")
	require.Equal(t, 0, st)
	assert.Contains(t, out, "answered at the terminal")

	// Off a terminal, no --run stays an error.
	status, _, stderr := sxbisect(t, "start", "--repo", repo, "--name", "cron", hashes[0], "main")
	assert.Equal(t, exitUsage, status)
	assert.Contains(t, stderr, "give --run CMD")
}
