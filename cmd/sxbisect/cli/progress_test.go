package cli

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sxbisect/sxbisect/bisect"
	"github.com/sxbisect/sxbisect/predicate"
)

// syncBuffer is a buffer the ticking goroutine and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// lastStatus is the status line as the terminal shows it last.
func lastStatus(out string) string {
	i := strings.LastIndex(out, "\r\033[K")
	return strings.TrimRight(out[i+len("\r\033[K"):], "\n")
}

var stepEvent = bisect.Event{Type: bisect.EventTest, Step: 3, StepsEstimate: 9, Remaining: 40, Kind: bisect.KindBisect,
	Commit: "3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a", Subject: "server: a define in a function body shadows the global of its name",
	Elapsed: 2 * time.Minute, ETA: 7 * time.Minute}

// The status line ticks while a step runs: the step's time, its phase
// and the total go on, and the estimate counts down.
func TestStatusLineTicksDuringAStep(t *testing.T) {
	var out syncBuffer
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var mu sync.Mutex
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
	p := &progressPrinter{w: &out, terminal: true, now: now, width: func() int { return 200 }}
	ticks := make(chan time.Time)
	p.startTicking(ticks)
	defer p.clear()

	p.Event(stepEvent)
	assert.Contains(t, lastStatus(out.String()), "starting 0s | total 2m00s, ~7m00s left")
	advance(2 * time.Second)
	build := stepEvent
	build.Type, build.Phase = bisect.EventPhase, bisect.PhaseBuild
	p.Event(build)
	advance(12 * time.Second)
	ticks <- clock
	run := stepEvent
	run.Type, run.Phase, run.Run, run.Runs, run.RunsMax = bisect.EventPhase, bisect.PhaseTest, 2, 3, 15
	require.Eventually(t, func() bool {
		return strings.Contains(lastStatus(out.String()), "build 14s | total 2m14s, ~6m46s left")
	}, 5*time.Second, time.Millisecond, out.String())
	p.Event(run)
	advance(25 * time.Second)
	ticks <- clock
	require.Eventually(t, func() bool {
		return strings.Contains(lastStatus(out.String()), "run 2 of 3 39s | total 2m39s, ~6m21s left")
	}, 5*time.Second, time.Millisecond, out.String())
	run.Run = 4
	p.Event(run)
	assert.Contains(t, lastStatus(out.String()), "run 4 of up to 15 39s")
	// Past the estimate for this step, the time left is what the steps
	// after it need.
	advance(10 * time.Minute)
	ticks <- clock
	require.Eventually(t, func() bool {
		return strings.Contains(lastStatus(out.String()), "run 4 of up to 15 10m39s | total 12m39s, ~6m00s left")
	}, 5*time.Second, time.Millisecond, out.String())
}

// At 80 columns the subject is cut, not the times.
func TestStatusLineCutsTheSubjectNotTheETA(t *testing.T) {
	var out bytes.Buffer
	start := time.Now()
	p := &progressPrinter{w: &out, terminal: true, now: func() time.Time { return start }, width: func() int { return 80 }}
	p.last, p.lastID = predicate.Bad, "09def05b09f4"
	p.Event(stepEvent)
	line := lastStatus(out.String())
	assert.LessOrEqual(t, utf8.RuneCountInString(line), 79, line)
	assert.True(t, strings.HasSuffix(line, "starting 0s | total 2m00s, ~7m00s left"), line)
	assert.Contains(t, line, "step 3 of ~9 | 3f2a1b0c9d8e server: a")
	assert.Contains(t, line, "…")
	// With room, nothing is cut and nothing left out.
	p.width = func() int { return 200 }
	p.Event(stepEvent)
	assert.Equal(t, "step 3 of ~9 | 40 commits left | 3f2a1b0c9d8e "+stepEvent.Subject+" | starting 0s | total 2m00s, ~7m00s left | last: bad 09def05b09f4", lastStatus(out.String()))
}

// Verdicts are coloured on a terminal, and nowhere else.
func TestVerdictColours(t *testing.T) {
	verdict := stepEvent
	verdict.Type, verdict.Verdict, verdict.Reason = bisect.EventVerdict, predicate.Bad, "exit 1"
	for _, c := range []struct {
		terminal, color bool
		want            string
	}{
		{true, true, ": \033[31mbad\033[0m (exit 1)"},
		{true, false, ": bad (exit 1)"},
		{false, true, ": bad (exit 1)"},
	} {
		var out bytes.Buffer
		p := newProgressPrinter(&out, c.terminal, c.color)
		p.Event(verdict)
		p.clear()
		assert.Contains(t, out.String(), c.want, "terminal %v, colour %v", c.terminal, c.color)
		if !c.terminal || !c.color {
			assert.NotContains(t, out.String(), "\033[3")
		}
	}
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	assert.True(t, wantColor(true, getenv))
	assert.False(t, wantColor(false, getenv), "off a terminal")
	env["NO_COLOR"] = "1"
	assert.False(t, wantColor(true, getenv), "NO_COLOR")
}

// With several steps at once (--parallel) the status line shows each of
// them, with its commit, phase and time, within the width; a step
// stopped or judged leaves it, and the total is the wall time, not the
// steps' times added up.
func TestStatusLineOfStepsAtOnce(t *testing.T) {
	var out bytes.Buffer
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	p := &progressPrinter{w: &out, terminal: true, now: func() time.Time { return clock }, width: func() int { return 200 }}
	commits := []string{"28981110f9f62921008cc89469ab6dd240f166fe", "044d6300988b0a4c1e2bfa3c4b49d1e8c2a8e4b1", "a97f2d5e4c450ed7108172014cf8f7c9030d51d7"}
	for i, c := range commits {
		e := stepEvent
		e.Step, e.Commit, e.Elapsed = 5+i, c, time.Minute
		p.Event(e)
		clock = clock.Add(2 * time.Second)
	}
	build := stepEvent
	build.Type, build.Step, build.Commit, build.Phase = bisect.EventPhase, 6, commits[1], bisect.PhaseBuild
	p.Event(build)
	line := lastStatus(out.String())
	assert.Equal(t, "steps 5-7 of ~9 | 40 commits left | 28981110 starting 6s, 044d6300 build 4s, a97f2d5e starting 2s | total 1m02s, ~6m58s left", line)

	p.width = func() int { return 80 }
	p.Event(build)
	line = lastStatus(out.String())
	assert.LessOrEqual(t, utf8.RuneCountInString(line), 79, line)
	assert.Equal(t, "steps 5-7 of ~9 | 28981110 starting 6s, +2 | total 1m02s, ~6m58s left", line)

	drop := stepEvent
	drop.Type, drop.Step, drop.Commit, drop.Reason = bisect.EventDrop, 7, commits[2], "another verdict made it useless"
	p.Event(drop)
	assert.Contains(t, out.String(), "step 7 of ~9: stopped testing a97f2d5e4c45: another verdict made it useless\n")
	assert.True(t, strings.HasPrefix(lastStatus(out.String()), "steps 5-6 of ~9 | "), lastStatus(out.String()))

	verdict := stepEvent
	verdict.Type, verdict.Step, verdict.Commit, verdict.Verdict, verdict.Elapsed = bisect.EventVerdict, 5, commits[0], predicate.Good, time.Minute+6*time.Second
	p.Event(verdict)
	clock = clock.Add(3 * time.Second)
	p.Event(build)
	line = lastStatus(out.String())
	assert.True(t, strings.HasPrefix(line, "step 6 of ~9 | 044d6300988b "), line)
	assert.Contains(t, line, "build 7s | total 1m09s")
}
