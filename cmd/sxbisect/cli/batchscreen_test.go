package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sxbisect/sxbisect/bisect"
	"github.com/sxbisect/sxbisect/bisect/batch"
	"github.com/sxbisect/sxbisect/internal/gitfixture"
)

// The live block: a line per running job, with its phase and the time in
// its step, and a total line whose estimate counts down; log lines go
// above it.
func TestBatchScreenShowsEachRunningJob(t *testing.T) {
	var out syncBuffer
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := newBatchScreen(&out, 3, func() time.Time { return clock }, func() int { return 100 })
	step := stepEvent
	step.Session = "tcl-cpu"
	s.Event(step)
	other := stepEvent
	other.Session, other.Step, other.Commit, other.Subject = "prolog-oom", 1, "09def05b09f4aaaa", "lib: prolog"
	s.Event(other)
	clock = clock.Add(14 * time.Second)
	phase := step
	phase.Type, phase.Phase, phase.Run, phase.Runs = bisect.EventPhase, bisect.PhaseTest, 2, 3
	s.Event(phase)
	lines := s.lines(clock, 100)
	require.Len(t, lines, 3)
	assert.Equal(t, "prolog-oom  step 1 of ~9 | 09def05b09f4 lib: prolog | starting 14s", lines[0])
	assert.True(t, strings.HasPrefix(lines[1], "tcl-cpu     step 3 of ~9 | 3f2a1b0c9d8e server: a define"), lines[1])
	assert.True(t, strings.HasSuffix(lines[1], "| run 2 of 3 14s"), lines[1])
	assert.Equal(t, "batch: 0 of 3 jobs done | elapsed 14s, time left not known yet", lines[2])
	for _, l := range lines {
		assert.LessOrEqual(t, len([]rune(l)), 99)
	}

	s.Totals(batch.Totals{Ended: "prolog-oom", Status: batch.Found, Done: 1, Total: 3, Left: 10 * time.Minute})
	clock = clock.Add(time.Minute)
	lines = s.lines(clock, 100)
	require.Len(t, lines, 2, "the job that ended left the block")
	assert.Equal(t, "batch: 1 of 3 jobs done | elapsed 1m14s, ~9m00s left", lines[1])

	fmt.Fprintf(s, "03:05:19 tcl-cpu: step 3 of ~9 (bisect) 3f2a1b0c9d8e bad: exit 1\n")
	s.close()
	screen := out.String()
	assert.Contains(t, screen, "\r\033[1A\033[J03:05:19 tcl-cpu: step 3", "a log line replaces the block and the block follows it")
	assert.True(t, strings.HasSuffix(screen, "\r\033[1A\033[J"), "the block is gone at the end: %q", screen[len(screen)-40:])
}

// On a terminal, batch draws the block on stderr; the log file keeps the
// plain lines.
func TestBatchOnATerminal(t *testing.T) {
	repo, hashes := gitfixture.ValueRepo(t, 12)
	dir := t.TempDir()
	plan := writePlan(t, dir, fmt.Sprintf(`repo = %q
good = %q
bad = "main"
[[job]]
name = "a"
run = 'test "$(cat value)" -lt 5'
[[job]]
name = "b"
run = 'test "$(cat value)" -lt 8'
`, repo, hashes[0]))
	var stdout, stderr syncBuffer
	status := Main(t.Context(), &Env{Stdout: &stdout, Stderr: &stderr, StderrIsTerminal: true}, []string{"batch", plan})
	require.Equal(t, exitFound, status, stderr.String())
	assert.Contains(t, stderr.String(), "batch: 0 of 2 jobs done | elapsed ")
	assert.Regexp(t, `\n?a +step \d+`, stderr.String())
	assert.Contains(t, stderr.String(), "\033[J")
	log, err := os.ReadFile(filepath.Join(dir, ".sxbisect-batch", "plan", "batch.log"))
	require.NoError(t, err)
	assert.NotContains(t, string(log), "\033[")
	assert.Contains(t, string(log), "batch: 2 of 2 jobs done")
}
