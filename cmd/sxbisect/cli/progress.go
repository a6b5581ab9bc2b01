package cli

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/sxbisect/sxbisect/bisect"
	"github.com/sxbisect/sxbisect/internal/text"
	"github.com/sxbisect/sxbisect/predicate"
)

// progressPrinter shows a session's progress: on a terminal, one status
// line that is rewritten in place, and again every second while a step
// runs, so that a ten-minute test does not look hung; elsewhere (cron, a
// log file), one plain line per event, so that the log reads top to
// bottom.
type progressPrinter struct {
	mu        sync.Mutex
	w         io.Writer
	terminal  bool
	color     bool
	shown     bool
	last      predicate.Verdict
	lastID    string
	lastTerms bisect.Terms

	// running are the steps under test, by their number: one, or with
	// --parallel several at once.
	running map[int]*stepView
	// elapsed is the steps' time when the last step started or ended,
	// at elapsedAt; plan is the last step that started (its estimates),
	// at planAt.
	elapsed   time.Duration
	elapsedAt time.Time
	plan      bisect.Event
	planAt    time.Time

	// held keeps the status line off the screen while a question waits.
	held bool

	now   func() time.Time
	width func() int
	// stopTicking stops the redrawing (nil: none).
	stopTicking func()
}

// stepView is a step under test: its EventTest, when it began, and its
// phase.
type stepView struct {
	step      bisect.Event
	stepStart time.Time
	phase     bisect.Event
}

// tickEvery is how often the status line is redrawn while a step runs.
const tickEvery = time.Second

func newProgressPrinter(w io.Writer, terminal, color bool) *progressPrinter {
	p := &progressPrinter{w: w, terminal: terminal, color: color && terminal, now: time.Now, width: terminalWidth}
	if terminal {
		p.startTicking(time.NewTicker(tickEvery).C)
	}
	return p
}

// startTicking redraws the status line at every tick until clear.
func (p *progressPrinter) startTicking(ticks <-chan time.Time) {
	p.stopTicking = everyTick(ticks, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if len(p.running) > 0 {
			p.drawLocked()
		}
	})
}

// everyTick calls f at every tick, until the returned function is
// called; that one returns once f is no longer running.
func everyTick(ticks <-chan time.Time, f func()) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-quit:
				return
			case <-ticks:
				f()
			}
		}
	}()
	return func() {
		close(quit)
		<-done
	}
}

func (p *progressPrinter) Event(e bisect.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	// Subjects, reasons and notes come from the repository and the tests:
	// their escape codes are shown, not played.
	e.Subject, e.Reason, e.Message = text.Escape(e.Subject), text.Escape(e.Reason), text.Escape(e.Message)
	switch e.Type {
	case bisect.EventNote:
		p.clearLocked()
		fmt.Fprintf(p.w, "%s\n", e.Message)
		p.redrawLocked()
		return
	case bisect.EventTest:
		if p.running == nil {
			p.running = map[int]*stepView{}
		}
		p.running[e.Step] = &stepView{step: e, stepStart: p.now()}
		p.plan, p.planAt = e, p.now()
		p.elapsed, p.elapsedAt = e.Elapsed, p.planAt
	case bisect.EventPhase:
		if v := p.running[e.Step]; v != nil {
			v.phase = e
		}
	case bisect.EventVerdict, bisect.EventDrop:
		delete(p.running, e.Step)
		if e.Type == bisect.EventVerdict {
			p.elapsed, p.elapsedAt = e.Elapsed, p.now()
		}
	}
	if !p.terminal {
		if e.Type != bisect.EventPhase {
			fmt.Fprintln(p.w, plainLine(e, p.colorize))
		}
		return
	}
	if e.Type == bisect.EventDrop {
		p.clearLocked()
		fmt.Fprintln(p.w, plainLine(e, p.colorize))
		p.redrawLocked()
		return
	}
	if e.Type == bisect.EventVerdict {
		p.last, p.lastID, p.lastTerms = e.Verdict, text.ShortID(e.Commit), e.Terms
		// A verdict stays on the screen as a line of its own: the
		// journey is worth seeing, and the status line follows it.
		p.clearLocked()
		fmt.Fprintln(p.w, plainLine(e, p.colorize))
		p.redrawLocked()
		return
	}
	p.drawLocked()
}

// redrawLocked puts the status line back after a note, while a step runs.
func (p *progressPrinter) redrawLocked() {
	if p.terminal && len(p.running) > 0 {
		p.drawLocked()
	}
}

func (p *progressPrinter) drawLocked() {
	if p.held {
		return
	}
	now := p.now()
	line := p.statusLine(now, p.width())
	fmt.Fprintf(p.w, "\r\033[K%s", line)
	p.shown = true
}

// hold takes the status line off the screen, and keeps it off until the
// returned function is called: a question is being asked below it.
func (p *progressPrinter) hold() func() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clearLocked()
	p.held = true
	return func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.held = false
		p.redrawLocked()
	}
}

// clear removes the status line before the result is printed, and stops
// redrawing it.
func (p *progressPrinter) clear() {
	p.mu.Lock()
	p.clearLocked()
	p.running = nil
	stop := p.stopTicking
	p.stopTicking = nil
	p.mu.Unlock()
	if stop != nil {
		stop()
	}
}

func (p *progressPrinter) clearLocked() {
	if p.shown {
		fmt.Fprint(p.w, "\r\033[K")
		p.shown = false
	}
}

// ANSI colours of the verdicts.
var verdictColors = map[predicate.Verdict]string{
	predicate.Good: "\033[32m", predicate.Bad: "\033[31m", predicate.Skip: "\033[33m",
}

// colorize paints a verdict's word, in the session's terms, in its
// colour, when colours are on.
func (p *progressPrinter) colorize(v predicate.Verdict, terms bisect.Terms) string {
	word := string(v)
	if terms != (bisect.Terms{}) {
		word = terms.Of(v)
	}
	c, ok := verdictColors[v]
	if !p.color || !ok {
		return word
	}
	return c + word + "\033[0m"
}

func stepLabel(e bisect.Event) string {
	if e.Kind == bisect.KindVerify {
		return fmt.Sprintf("step %d (verify)", e.Step)
	}
	if e.Kind == bisect.KindConfirm && e.Confirmations > 0 {
		return fmt.Sprintf("step %d of ~%d (confirmation run %d of %d)", e.Step, e.StepsEstimate, e.Confirmation, e.Confirmations)
	}
	if e.StepsEstimate > 0 {
		return fmt.Sprintf("step %d of ~%d", e.Step, e.StepsEstimate)
	}
	return fmt.Sprintf("step %d", e.Step)
}

// phaseLabel says what the step is doing: "checkout", "build", "run 2 of
// 3", "baseline run 1 of 5".
func phaseLabel(e bisect.Event) string {
	switch e.Phase {
	case "":
		return "starting"
	case bisect.PhaseTest, bisect.PhaseBaseline:
		label := "run"
		if e.Phase == bisect.PhaseBaseline {
			label = "baseline run"
		}
		switch {
		case e.Run == 0:
			if e.Phase == bisect.PhaseTest {
				return "test"
			}
			return "baseline"
		case e.Runs > 0 && e.Run <= e.Runs:
			return fmt.Sprintf("%s %d of %d", label, e.Run, e.Runs)
		case e.RunsMax > 0:
			return fmt.Sprintf("%s %d of up to %d", label, e.Run, e.RunsMax)
		}
		return fmt.Sprintf("%s %d", label, e.Run)
	}
	return string(e.Phase)
}

// clock shows a duration to the second, compactly: 7s, 1m03s, 2h05m.
func clock(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// statusLine is the step under test at now, fitted to width columns (0:
// unknown): "step 3 of ~9 | 40 commits left | 3f2a1b0c9d8e subject |
// build 14s | total 2m14s, ~6m46s left | last: bad 09def05b09f4", where
// 14s is the time in this step. What must stay is the step, the commit,
// the phase and the times: the subject is cut first, then the commits
// left and the last verdict are left out.
func (p *progressPrinter) statusLine(now time.Time, width int) string {
	// The steps' time goes on from the last step that started or ended,
	// as long as one runs; the estimates are the last step's that
	// started.
	timing := "total " + clock(p.elapsed+now.Sub(p.elapsedAt))
	if left := etaLeft(p.plan, now.Sub(p.planAt)); left > 0 {
		timing += ", ~" + clock(left) + " left"
	}
	remaining, last := "", ""
	if p.plan.Remaining > 0 {
		remaining = fmt.Sprintf("%d commits left", p.plan.Remaining)
	}
	lastWord := p.colorize(p.last, p.lastTerms)
	if p.last != "" {
		last = "last: " + stripColor(lastWord) + " " + p.lastID
	}
	var line string
	if len(p.running) > 1 {
		line = p.severalLine(now, width, timing, remaining, last)
	} else {
		line = p.oneLine(now, width, timing, remaining, last)
	}
	if p.last != "" {
		line = strings.Replace(line, "last: "+stripColor(lastWord), "last: "+lastWord, 1)
	}
	return line
}

// oneLine is the status line of the one step under test.
func (p *progressPrinter) oneLine(now time.Time, width int, timing, remaining, last string) string {
	var v *stepView
	for _, one := range p.running {
		v = one
	}
	e := v.step
	phase := phaseLabel(v.phase) + " " + clock(now.Sub(v.stepStart))
	compose := func(subject string, optional ...string) string {
		parts := []string{stepLabel(e)}
		if len(optional) > 0 && optional[0] != "" {
			parts = append(parts, optional[0])
		}
		parts = append(parts, strings.TrimSpace(text.ShortID(e.Commit)+" "+subject), phase, timing)
		if len(optional) > 1 && optional[1] != "" {
			parts = append(parts, optional[1])
		}
		return strings.Join(parts, " | ")
	}
	// The subject's room with the optional parts, then without them.
	const enough = 20
	line := compose(e.Subject, remaining, last)
	if width > 10 {
		for _, optional := range [][]string{{remaining, last}, {remaining}, {}} {
			room := width - 1 - utf8.RuneCountInString(compose("", optional...)) - 1
			if room >= min(enough, utf8.RuneCountInString(e.Subject)) || len(optional) == 0 {
				line = compose(cut(e.Subject, room), optional...)
				break
			}
		}
		if utf8.RuneCountInString(line) > width-1 {
			line = string([]rune(line)[:width-2]) + "…"
		}
	}
	return line
}

// severalLine is the status line of steps under test at once
// (--parallel): "steps 5-7 of ~9 | 16 commits left | 28981110 build 3s,
// 044d6300 run 1 of 3 12s, +1 | total 2m14s, ~3m left | last: bad
// 09def05b09f4", the steps in the order they started, with the commit,
// the phase and the time in the step of each. What must stay is the
// steps' count and the times: the last verdict, then the commits left,
// then steps from the end of the list are left out.
func (p *progressPrinter) severalLine(now time.Time, width int, timing, remaining, last string) string {
	views := slices.SortedFunc(maps.Values(p.running), func(a, b *stepView) int { return cmp.Compare(a.step.Step, b.step.Step) })
	first, final := views[0].step, views[len(views)-1].step
	head := fmt.Sprintf("steps %d-%d", first.Step, final.Step)
	if est := p.plan.StepsEstimate; est > 0 {
		head += fmt.Sprintf(" of ~%d", max(est, final.Step))
	}
	benches := make([]string, len(views))
	for i, v := range views {
		benches[i] = fmt.Sprintf("%.8s %s %s", v.step.Commit, phaseLabel(v.phase), clock(now.Sub(v.stepStart)))
	}
	compose := func(shown int, optional ...string) string {
		list := strings.Join(benches[:shown], ", ")
		if shown < len(benches) {
			list += fmt.Sprintf(", +%d", len(benches)-shown)
		}
		parts := []string{head}
		if len(optional) > 0 && optional[0] != "" {
			parts = append(parts, optional[0])
		}
		parts = append(parts, list, timing)
		if len(optional) > 1 && optional[1] != "" {
			parts = append(parts, optional[1])
		}
		return strings.Join(parts, " | ")
	}
	if width <= 10 {
		return compose(len(benches), remaining, last)
	}
	fits := func(l string) bool { return utf8.RuneCountInString(l) <= width-1 }
	for _, optional := range [][]string{{remaining, last}, {remaining}, {}} {
		if l := compose(len(benches), optional...); fits(l) {
			return l
		}
	}
	for shown := len(benches) - 1; shown >= 1; shown-- {
		if l := compose(shown); fits(l) {
			return l
		}
	}
	line := compose(1)
	return string([]rune(line)[:width-2]) + "…"
}

// stripColor removes the colour codes colorize adds.
func stripColor(s string) string {
	for _, c := range verdictColors {
		s = strings.ReplaceAll(s, c, "")
	}
	return strings.ReplaceAll(s, "\033[0m", "")
}

// cut shortens s to n runes, marking the cut with an ellipsis.
func cut(s string, n int) string {
	switch {
	case n <= 0:
		return ""
	case utf8.RuneCountInString(s) <= n:
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// etaLeft is the time the session has left, inStep into a step: the
// estimate made when the step began, less the time since, but never less
// than the steps after this one need.
func etaLeft(e bisect.Event, inStep time.Duration) time.Duration {
	if e.ETA <= 0 {
		return 0
	}
	after := 0
	if e.StepsEstimate > e.Step {
		after = e.StepsEstimate - e.Step
	}
	floor := e.ETA * time.Duration(after) / time.Duration(after+1)
	return max(e.ETA-inStep, floor)
}

func plainLine(e bisect.Event, colorize func(predicate.Verdict, bisect.Terms) string) string {
	ts := time.Now().Format("15:04:05")
	switch e.Type {
	case bisect.EventVerdict:
		return fmt.Sprintf("%s %s: %s %s: %s (%s)", ts, stepLabel(e), text.ShortID(e.Commit), e.Subject, colorize(e.Verdict, e.Terms), e.Reason)
	case bisect.EventDrop:
		return fmt.Sprintf("%s %s: stopped testing %s: %s", ts, stepLabel(e), text.ShortID(e.Commit), e.Reason)
	default:
		left := ""
		if e.Remaining > 0 {
			left = fmt.Sprintf(", %d commits left", e.Remaining)
		}
		eta := ""
		if e.ETA > 0 {
			eta = fmt.Sprintf(", ~%s left", e.ETA.Round(time.Second))
		}
		return fmt.Sprintf("%s %s: testing %s %s%s%s", ts, stepLabel(e), text.ShortID(e.Commit), e.Subject, left, eta)
	}
}

func terminalWidth() int {
	ws, err := unix.IoctlGetWinsize(int(os.Stderr.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return 0
	}
	return int(ws.Col)
}
