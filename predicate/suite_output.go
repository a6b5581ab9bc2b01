package predicate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"sync"

	"github.com/sxbisect/sxbisect/predicate/run"
)

// outputWatch follows a run's output for Expect and Scoreboard, in the
// blocks of whole lines the runner hands it (run.Spec.OnOutput). It must
// keep up with a test that prints hundreds of megabytes, or the runner
// drops output for it: so it looks at lines only where the literal text
// every match must contain occurs (see lineMatcher), and for the
// scoreboard, whose last line counts, only at a block's last match.
type outputWatch struct {
	expect, score *lineMatcher

	mu sync.Mutex
	watchState
}

// watchState is what an outputWatch has seen.
type watchState struct {
	blocks  int
	matched bool
	scored  bool
	pass    float64
	total   float64
	// skipped counts the bytes of output the watch did not see (the
	// runner dropped them, as the watch fell behind); staleScore is set
	// when some came after the last scoreboard line seen, which is then
	// perhaps not the last.
	skipped    int64
	staleScore bool
}

func newOutputWatch(expect, score *regexp.Regexp) *outputWatch {
	w := &outputWatch{}
	if expect != nil {
		w.expect = newLineMatcher(expect)
	}
	if score != nil {
		w.score = newLineMatcher(score)
	}
	return w
}

func (w *outputWatch) needed() bool { return w.expect != nil || w.score != nil }

// block is run.Spec.OnOutput.
func (w *outputWatch) block(lines []byte, skipped int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.blocks++
	if skipped > 0 {
		w.skipped += skipped
		w.staleScore = w.score != nil
	}
	if w.expect != nil && !w.matched && w.expect.first(lines) {
		w.matched = true
	}
	if w.score != nil {
		w.score.last(lines, func(line []byte) bool {
			p, t, ok := scoreOf(w.score.re, string(line))
			if ok {
				w.pass, w.total, w.scored, w.staleScore = p, t, true, false
			}
			return ok
		})
	}
}

// finish completes the watch after the run. When the runner delivered no
// output as it went (a runner that cannot watch output; a test that
// printed nothing costs nothing here), the log is read, or else the tail.
// When it dropped output the watch could not keep up with, the log is
// read again if it holds the whole output; else a scoreboard line in the
// tail, the output's very end, is the last one.
func (w *outputWatch) finish(logPath string, m run.Measurement) {
	if !w.needed() {
		return
	}
	w.mu.Lock()
	delivered, skipped := w.blocks > 0, w.skipped > 0
	w.mu.Unlock()
	if delivered && !skipped {
		return
	}
	if logPath != "" && m.LogDropped == 0 && m.LogError == "" {
		if f, err := os.Open(logPath); err == nil {
			defer f.Close()
			saved := w.reset()
			if readBlocks(f, w.block) == nil {
				return
			}
			w.restore(saved)
		}
	}
	if !delivered {
		_ = readBlocks(strings.NewReader(m.Tail), w.block)
		return
	}
	if w.score != nil {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.staleScore {
			w.score.last([]byte(m.Tail), func(line []byte) bool {
				p, t, ok := scoreOf(w.score.re, string(line))
				if ok {
					w.pass, w.total, w.scored, w.staleScore = p, t, true, false
				}
				return ok
			})
		}
	}
}

// reset forgets what was seen, for a new reading; it returns the old
// state for restore.
func (w *outputWatch) reset() watchState {
	w.mu.Lock()
	defer w.mu.Unlock()
	saved := w.watchState
	w.watchState = watchState{}
	return saved
}

func (w *outputWatch) restore(st watchState) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.watchState = st
}

// unseen says why the watch cannot tell Expect or the scoreboard, or ""
// when it can: output it did not see may hold the expected line, or a
// later scoreboard line.
func (w *outputWatch) unseen() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.skipped == 0 {
		return ""
	}
	what := ""
	switch {
	case w.expect != nil && !w.matched:
		what = "no line matched in the output watched"
	case w.staleScore:
		what = "the last scoreboard line is not known"
	default:
		return ""
	}
	return fmt.Sprintf("%s: %s of output went by faster than it could be matched, and the log does not hold it all (raise --log-cap)",
		what, formatSize(w.skipped))
}

// lineMatcher finds the lines of a block of output that a regular
// expression matches. Where every match must contain some literal text
// (" passed" in `(?P<pass>\d+)/(?P<total>\d+) passed`), it looks for that
// text in the whole block first, at memory speed, and runs the expression
// only on the lines that have it.
type lineMatcher struct {
	re  *regexp.Regexp
	lit []byte
}

func newLineMatcher(re *regexp.Regexp) *lineMatcher {
	m := &lineMatcher{re: re}
	if tree, err := syntax.Parse(re.String(), syntax.Perl); err == nil {
		// Any part of the literal is in every match too. Without the
		// spaces around it the search is several times faster: it looks
		// for the first byte, and a space is the commonest of all.
		if lit := strings.Trim(requiredLiteral(tree), " \t"); lit != "" {
			m.lit = []byte(lit)
		}
	}
	return m
}

// first reports whether a line of block matches.
func (m *lineMatcher) first(block []byte) bool {
	for len(block) > 0 {
		start := 0
		if m.lit != nil {
			i := bytes.Index(block, m.lit)
			if i < 0 {
				return false
			}
			start = bytes.LastIndexByte(block[:i], '\n') + 1
		}
		line, rest := cutLine(block[start:])
		if m.re.Match(line) {
			return true
		}
		block = rest
	}
	return false
}

// last offers the lines of block that match to accept, from the last one
// back, until accept takes one.
func (m *lineMatcher) last(block []byte, accept func(line []byte) bool) {
	if m.lit == nil {
		for rest := bytes.TrimSuffix(block, []byte{'\n'}); len(rest) > 0; {
			start := bytes.LastIndexByte(rest, '\n') + 1
			if line := rest[start:]; m.re.Match(line) && accept(line) {
				return
			}
			if start == 0 {
				return
			}
			rest = rest[:start-1]
		}
		return
	}
	// The lines with the literal, found forwards (bytes.Index is much
	// faster than bytes.LastIndex), then tried from the last.
	var starts []int
	for pos := 0; pos < len(block); {
		i := bytes.Index(block[pos:], m.lit)
		if i < 0 {
			break
		}
		start := bytes.LastIndexByte(block[:pos+i], '\n') + 1
		starts = append(starts, start)
		end := bytes.IndexByte(block[pos+i:], '\n')
		if end < 0 {
			break
		}
		pos += i + end + 1
	}
	for k := len(starts) - 1; k >= 0; k-- {
		if line, _ := cutLine(block[starts[k]:]); m.re.Match(line) && accept(line) {
			return
		}
	}
}

// cutLine splits b after its first line, which it returns without the
// newline.
func cutLine(b []byte) (line, rest []byte) {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[:i], b[i+1:]
	}
	return b, nil
}

// requiredLiteral returns a literal text that every match of re contains,
// the longest it finds, or "" when it finds none (an alternation, a
// case-insensitive literal, an optional part).
func requiredLiteral(re *syntax.Regexp) string {
	switch re.Op {
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return ""
		}
		return string(re.Rune)
	case syntax.OpCapture, syntax.OpPlus:
		return requiredLiteral(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return requiredLiteral(re.Sub[0])
		}
	case syntax.OpConcat:
		best := ""
		for _, sub := range re.Sub {
			if l := requiredLiteral(sub); len(l) > len(best) {
				best = l
			}
		}
		return best
	}
	return ""
}

// maxLine is how much of a line is matched when the output is read back
// from a log; the rest of a longer line is dropped.
const maxLine = 64 << 10

// firstReadBlock is what readBlocks reads into at first: a short log or a
// tail should not cost the 4*maxLine a long one gets.
const firstReadBlock = 16 << 10

// readBlocks reads r and calls f with blocks of whole lines, as the runner
// hands them to run.Spec.OnOutput.
func readBlocks(r io.Reader, f func(lines []byte, skipped int64)) error {
	buf := make([]byte, 0, firstReadBlock)
	long := false // in a line longer than maxLine: drop to its end
	for {
		if len(buf) == cap(buf) {
			// Never at 4*maxLine: below, what is left is at most maxLine.
			buf = append(make([]byte, 0, min(2*cap(buf), 4*maxLine)), buf...)
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if long {
			if i := bytes.IndexByte(buf, '\n'); i >= 0 {
				buf, long = buf[:copy(buf, buf[i+1:])], false
			} else {
				buf = buf[:0]
			}
		}
		if i := bytes.LastIndexByte(buf, '\n'); i >= 0 {
			f(cutLongLines(buf[:i+1]), 0)
			buf = buf[:copy(buf, buf[i+1:])]
		}
		if len(buf) > maxLine {
			f(append(buf[:maxLine:maxLine], '\n'), 0)
			buf, long = buf[:0], true
		}
		if errors.Is(err, io.EOF) {
			if len(buf) > 0 {
				f(buf, 0)
			}
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// cutLongLines returns block with every line cut to maxLine bytes.
func cutLongLines(block []byte) []byte {
	var out []byte // nil while no line was cut
	for rest := block; len(rest) > 0; {
		line, next := cutLine(rest)
		if len(line) > maxLine && out == nil {
			// Not nil even when the first line is the one cut.
			out = append(make([]byte, 0, len(block)), block[:len(block)-len(rest)]...)
		}
		if out != nil {
			out = append(append(out, line[:min(len(line), maxLine)]...), '\n')
		}
		rest = next
	}
	if out == nil {
		return block
	}
	return out
}

// scoreOf reads the pass and total groups of a scoreboard line.
func scoreOf(re *regexp.Regexp, line string) (pass, total float64, ok bool) {
	m := re.FindStringSubmatch(line)
	if m == nil {
		return 0, 0, false
	}
	pass, err1 := strconv.ParseFloat(m[re.SubexpIndex("pass")], 64)
	total, err2 := strconv.ParseFloat(m[re.SubexpIndex("total")], 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return pass, total, true
}
