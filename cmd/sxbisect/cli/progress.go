package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/sxbisect/sxbisect/bisect"
	"github.com/sxbisect/sxbisect/internal/text"
)

// progressPrinter shows a session's progress: on a terminal, one status
// line that is rewritten in place; elsewhere (cron, a log file), one plain
// line per event, so that the log reads top to bottom.
type progressPrinter struct {
	mu       sync.Mutex
	w        io.Writer
	terminal bool
	shown    bool
	last     string
}

func newProgressPrinter(w io.Writer, terminal bool) *progressPrinter {
	return &progressPrinter{w: w, terminal: terminal}
}

func (p *progressPrinter) Event(e bisect.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	// Subjects, reasons and notes come from the repository and the tests:
	// their escape codes are shown, not played.
	e.Subject, e.Reason, e.Message = text.Escape(e.Subject), text.Escape(e.Reason), text.Escape(e.Message)
	if e.Type == bisect.EventNote {
		p.clearLocked()
		fmt.Fprintf(p.w, "%s\n", e.Message)
		return
	}
	if !p.terminal {
		fmt.Fprintln(p.w, plainLine(e))
		return
	}
	if e.Type == bisect.EventVerdict {
		p.last = fmt.Sprintf("%s %s", e.Verdict, text.ShortID(e.Commit))
		// A verdict stays on the screen as a line of its own: the
		// journey is worth seeing, and the status line follows it.
		p.clearLocked()
		fmt.Fprintln(p.w, plainLine(e))
		return
	}
	line := statusLine(e, p.last)
	if width := terminalWidth(); width > 10 && utf8.RuneCountInString(line) > width-1 {
		line = string([]rune(line)[:width-2]) + "…"
	}
	fmt.Fprintf(p.w, "\r\033[K%s", line)
	p.shown = true
}

// clear removes the status line before the result is printed.
func (p *progressPrinter) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clearLocked()
}

func (p *progressPrinter) clearLocked() {
	if p.shown {
		fmt.Fprint(p.w, "\r\033[K")
		p.shown = false
	}
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

func statusLine(e bisect.Event, last string) string {
	parts := []string{stepLabel(e)}
	if e.Remaining > 0 {
		parts = append(parts, fmt.Sprintf("%d commits left", e.Remaining))
	}
	parts = append(parts, text.ShortID(e.Commit)+" "+e.Subject)
	timing := "elapsed " + e.Elapsed.Round(time.Second).String()
	if e.ETA > 0 {
		timing += ", ~" + e.ETA.Round(time.Second).String() + " left"
	}
	parts = append(parts, timing)
	if last != "" {
		parts = append(parts, "last: "+last)
	}
	return strings.Join(parts, " | ")
}

func plainLine(e bisect.Event) string {
	ts := time.Now().Format("15:04:05")
	switch e.Type {
	case bisect.EventVerdict:
		return fmt.Sprintf("%s %s: %s %s: %s (%s)", ts, stepLabel(e), text.ShortID(e.Commit), e.Subject, e.Verdict, e.Reason)
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
