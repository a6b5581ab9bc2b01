package cli

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/sxbisect/sxbisect/bisect"
	"github.com/sxbisect/sxbisect/bisect/batch"
	"github.com/sxbisect/sxbisect/internal/text"
)

// batchScreen is a batch's progress on a terminal: the log lines scroll
// by above a live block of one line per running job (its step, commit,
// phase and the time in the step) and a total line (jobs done, elapsed,
// time left), redrawn every second.
type batchScreen struct {
	mu      sync.Mutex
	w       io.Writer
	started time.Time
	now     func() time.Time
	width   func() int
	jobs    map[string]*jobView
	total   batch.Totals
	// totalAt is when total was told, to count its estimate down.
	totalAt time.Time
	// drawn is the number of lines of the live block on the screen.
	drawn   int
	partial []byte
	// stopTicking stops the redrawing (nil: none).
	stopTicking func()
}

// jobView is what the live block shows of a running job.
type jobView struct {
	step       bisect.Event
	phase      bisect.Event
	stepStart  time.Time
	phaseStart time.Time
}

func newBatchScreen(w io.Writer, jobs int, now func() time.Time, width func() int) *batchScreen {
	s := &batchScreen{w: w, now: now, width: width, jobs: map[string]*jobView{}}
	s.started = now()
	s.total = batch.Totals{Total: jobs, Left: -1}
	s.totalAt = s.started
	return s
}

// tick redraws the block at every tick until close.
func (s *batchScreen) tick(ticks <-chan time.Time) {
	s.stopTicking = everyTick(ticks, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.redrawLocked()
	})
}

// Write takes the batch's log lines: they go above the live block.
func (s *batchScreen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.partial = append(s.partial, p...)
	i := bytes.LastIndexByte(s.partial, '\n')
	if i < 0 {
		return len(p), nil
	}
	s.eraseLocked()
	_, _ = s.w.Write(s.partial[:i+1])
	s.partial = append([]byte(nil), s.partial[i+1:]...)
	s.drawLocked()
	return len(p), nil
}

// Event follows a job's session (Event.Session is the job's name).
func (s *batchScreen) Event(e bisect.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	j := s.jobs[e.Session]
	if j == nil {
		j = &jobView{stepStart: now, phaseStart: now}
		s.jobs[e.Session] = j
	}
	switch e.Type {
	case bisect.EventTest:
		j.step, j.stepStart = e, now
		j.phase, j.phaseStart = bisect.Event{}, now
	case bisect.EventPhase:
		j.phase, j.phaseStart = e, now
	default:
		return
	}
	s.redrawLocked()
}

// Totals follows the batch: the job that ended leaves the block.
func (s *batchScreen) Totals(t batch.Totals) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total, s.totalAt = t, s.now()
	delete(s.jobs, t.Ended)
	s.redrawLocked()
}

// close takes the block off the screen for good.
func (s *batchScreen) close() {
	if s.stopTicking != nil {
		s.stopTicking()
		s.stopTicking = nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.eraseLocked()
	if len(s.partial) > 0 {
		_, _ = s.w.Write(append(s.partial, '\n'))
		s.partial = nil
	}
}

func (s *batchScreen) redrawLocked() {
	s.eraseLocked()
	s.drawLocked()
}

// eraseLocked removes the block: the cursor goes to its first line,
// which is cleared to the end of the screen.
func (s *batchScreen) eraseLocked() {
	if s.drawn == 0 {
		return
	}
	up := ""
	if s.drawn > 1 {
		up = fmt.Sprintf("\033[%dA", s.drawn-1)
	}
	fmt.Fprintf(s.w, "\r%s\033[J", up)
	s.drawn = 0
}

func (s *batchScreen) drawLocked() {
	lines := s.lines(s.now(), s.width())
	fmt.Fprint(s.w, strings.Join(lines, "\n"))
	s.drawn = len(lines)
}

// lines are the block at now: a line per running job, by name, then the
// total, each fitted to width (0: unknown).
func (s *batchScreen) lines(now time.Time, width int) []string {
	names := make([]string, 0, len(s.jobs))
	nameWidth := 0
	for n := range s.jobs {
		names = append(names, n)
		nameWidth = max(nameWidth, utf8.RuneCountInString(n))
	}
	sort.Strings(names)
	var out []string
	for _, n := range names {
		j := s.jobs[n]
		line := fmt.Sprintf("%-*s  starting", nameWidth, n)
		if j.step.Type == bisect.EventTest {
			inStep := now.Sub(j.stepStart)
			head := fmt.Sprintf("%-*s  %s | ", nameWidth, n, stepLabel(j.step))
			tail := fmt.Sprintf(" | %s %s", phaseLabel(j.phase), clock(inStep))
			commit := strings.TrimSpace(text.ShortID(j.step.Commit) + " " + j.step.Subject)
			if width > 10 {
				room := width - 1 - utf8.RuneCountInString(head+tail)
				commit = cut(commit, max(room, 12))
			}
			line = head + commit + tail
		}
		out = append(out, fit(line, width))
	}
	t := s.total
	total := fmt.Sprintf("batch: %d of %d jobs done | elapsed %s", t.Done, t.Total, clock(now.Sub(s.started)))
	switch {
	case t.Left > 0:
		total += ", ~" + clock(max(t.Left-now.Sub(s.totalAt), 0)) + " left"
	case t.Left < 0:
		total += ", time left not known yet"
	}
	return append(out, fit(total, width))
}

// fit cuts a line to a terminal's width, if it is known.
func fit(line string, width int) string {
	if width > 10 && utf8.RuneCountInString(line) > width-1 {
		return string([]rune(line)[:width-2]) + "…"
	}
	return line
}
