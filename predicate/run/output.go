package run

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"
	"unicode/utf8"
)

// drainTimeout bounds how long the output is read after the main process
// has exited and its group has been killed. Members of the group close
// their end of the pipe as they die, so the drain normally ends at once;
// only a process that left the group (setsid) while holding the pipe can
// make it wait this long, and its later output is dropped.
const drainTimeout = time.Second

// outputCapture carries a run's output from one pipe, shared by stdout
// and stderr so that their order is kept, into the log file, the tail and
// the output watcher.
//
// A pipe rather than handing the child the log file itself: the tail then
// comes from memory without a temporary file when there is no log, the
// log can be capped, and when Run returns the log is complete and closed,
// and nothing is still writing into it. exec.Cmd.WaitDelay is not used
// because exec waits for the pipe before Run can kill the group, so every
// run that leaves a background job would last the whole delay; with our
// own pipe the order is exit, kill the group, then drain.
//
// The copying goroutine never waits for anything but the log file's
// writes: the test's output must flow at the speed it is written, so the
// watcher (Spec.OnOutput) runs in a goroutine of its own (see
// outputWatcher).
type outputCapture struct {
	read  *os.File // ours
	write *os.File // the child's stdout and stderr; closed here once started
	log   *cappedLog
	tail  *tailBuffer

	watch *outputWatcher // nil without Spec.OnOutput

	// logErr is the first failure to write the log; set by the copying
	// goroutine, read after copied is closed.
	logErr error
	copied chan struct{}
}

func newOutputCapture(logPath string, logCap int64, tailBytes int, onOutput func([]byte, int64)) (*outputCapture, error) {
	o := &outputCapture{tail: newTailBuffer(tailBytes), copied: make(chan struct{})}
	if logPath != "" {
		log, err := os.Create(logPath)
		if err != nil {
			return nil, fmt.Errorf("run: log file: %w", err)
		}
		o.log = newCappedLog(log, logCap)
	}
	var err error
	o.read, o.write, err = os.Pipe()
	if err != nil {
		if o.log != nil {
			o.log.f.Close()
		}
		return nil, fmt.Errorf("run: output pipe: %w", err)
	}
	if onOutput != nil {
		o.watch = newOutputWatcher(onOutput)
	}
	return o, nil
}

// childEnd is the file to give the child as stdout and stderr.
func (o *outputCapture) childEnd() *os.File { return o.write }

// started closes our copy of the child's end, so that the pipe reports
// end of file once every process holding it has exited, and starts copying.
func (o *outputCapture) started() {
	o.write.Close()
	go o.copy()
}

// readSize is how much of the pipe one read takes.
const readSize = 64 * 1024

func (o *outputCapture) copy() {
	defer close(o.copied)
	buf := make([]byte, readSize)
	for {
		// Read straight into the watcher's buffer where it has room, to
		// spare a copy of everything the test prints.
		dst, watched := buf, false
		if o.watch != nil {
			if room := o.watch.room(); room != nil {
				dst, watched = room, true
			}
		}
		n, err := o.read.Read(dst)
		if n > 0 {
			p := dst[:n]
			o.tail.Write(p)
			if o.log != nil && o.logErr == nil {
				if werr := o.log.write(p); werr != nil {
					o.logErr = werr
				}
			}
			switch {
			case watched:
				o.watch.took(n)
			case o.watch != nil:
				o.watch.offer(p)
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, os.ErrDeadlineExceeded) && o.logErr == nil && o.log != nil {
				o.logErr = fmt.Errorf("reading output: %w", err)
			}
			return
		}
	}
}

// finish drains what is left in the pipe, within drainTimeout, waits for
// the watcher to have seen everything, and closes the log. Call it after
// the process group has been killed.
func (o *outputCapture) finish() {
	// A read deadline needs a pollable pipe, which os.Pipe gives on Linux.
	// Were it refused, the drain would still end at end of file.
	_ = o.read.SetReadDeadline(time.Now().Add(drainTimeout))
	<-o.copied
	o.read.Close()
	if o.watch != nil {
		o.watch.finish()
	}
	if o.log != nil {
		if err := o.log.close(); err != nil && o.logErr == nil {
			o.logErr = err
		}
	}
}

// abandon closes everything when the process was never started.
func (o *outputCapture) abandon() {
	o.read.Close()
	o.write.Close()
	if o.log != nil {
		o.log.f.Close()
	}
}

// DefaultLogCap is how much of a run's output its log keeps when
// Spec.LogCap is 0: the first and the last 8 MiB.
const DefaultLogCap = 16 << 20

// cappedLog writes a run's output into its log file, keeping at most cap
// bytes of it: the first half as it comes, and the last half, held in
// memory meanwhile, at the end, after a line that says how much was
// dropped between them. A test that prints gigabytes thus leaves a log of
// the cap's size, with its start and its end, where the answer usually is.
type cappedLog struct {
	f *os.File
	// headLeft is how much more goes straight into the file; tail keeps
	// the end of what comes after it (nil without a cap).
	headLeft int64
	head     int64
	tail     *tailBuffer
	total    int64
	// dropped is how many bytes the log left out, once closed.
	dropped int64
}

func newCappedLog(f *os.File, limit int64) *cappedLog {
	if limit == 0 {
		limit = DefaultLogCap
	}
	l := &cappedLog{f: f, headLeft: math.MaxInt64}
	if limit > 0 {
		l.headLeft = (limit + 1) / 2
		l.tail = newTailBuffer(int(limit / 2))
	}
	return l
}

func (l *cappedLog) write(p []byte) error {
	l.total += int64(len(p))
	if l.headLeft > 0 {
		n := int(min(int64(len(p)), l.headLeft))
		l.headLeft -= int64(n)
		l.head += int64(n)
		if _, err := l.f.Write(p[:n]); err != nil {
			return err
		}
		p = p[n:]
	}
	if len(p) > 0 && l.tail != nil {
		l.tail.Write(p)
	}
	return nil
}

// close writes the kept end, after the note of what was dropped, and
// closes the file.
func (l *cappedLog) close() error {
	var err error
	if l.tail != nil && l.tail.total > 0 {
		older, newer := l.tail.kept()
		end := len(older) + len(newer)
		if l.dropped = l.total - l.head - int64(end); l.dropped > 0 {
			_, err = fmt.Fprintf(l.f, "\n[sxbisect: %d bytes of output dropped here; the log keeps the first %d and the last %d bytes (--log-cap)]\n",
				l.dropped, l.head, end)
		}
		if err == nil {
			_, err = l.f.Write(older)
		}
		if err == nil {
			_, err = l.f.Write(newer)
		}
	}
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// maxLineBytes bounds the part of a line kept while waiting for its end:
// output without newlines (a progress bar, binary data) must not grow
// without bound. A longer line reaches Spec.OnOutput in pieces.
const maxLineBytes = 64 * 1024

// The output waits for the watcher in at most watchBuffers buffers, 8 MiB
// in all (less 16 KiB): beyond that the watcher is too slow for the test,
// and output is dropped for it instead of the test made to wait. Large
// buffers wake the watcher seldom, but a run that prints a few lines
// should not pay for one: the first is firstWatchBufferSize bytes, and
// each one made after it twice the one before, up to watchBufferSize.
const (
	watchBuffers         = 35
	watchBufferSize      = 256 << 10
	firstWatchBufferSize = 16 << 10
)

// watchBufferSizeOf is the size of the buffer made n-th, from 0.
func watchBufferSizeOf(n int) int { return min(watchBufferSize, firstWatchBufferSize<<min(n, 8)) }

// outputWatcher hands the output to Spec.OnOutput in a goroutine of its
// own, in blocks of whole lines. The copying goroutine reads into a buffer
// (or copies a read into one) and queues the buffer once it is full, so that the
// watcher is woken once per buffer (up to watchBufferSize bytes), not once per read: nothing
// acts on what it finds before the run ends, so the delay costs nothing.
// A read that finds no free buffer (the watcher is watchBuffers buffers
// behind) is dropped for the watcher and counted, and the next block says
// so (skipped), so that a watcher can tell what it has not seen.
type outputWatcher struct {
	onOutput func(lines []byte, skipped int64)
	queue    chan watchItem
	free     chan []byte
	// The copying goroutine's: the buffer being filled, the number of
	// buffers allocated so far, and the drop since the last item queued
	// (gapCut: it ended inside a line).
	fill   []byte
	made   int
	gap    int64
	gapCut bool
	done   chan struct{}
	// unwatched is the total of bytes OnOutput did not see; written by
	// the watching goroutine, read after done is closed.
	unwatched int64
}

type watchItem struct {
	data      []byte
	gapBefore int64
	// cut is set when the drop before data ended inside a line, whose
	// rest data starts with.
	cut bool
}

func newOutputWatcher(onOutput func([]byte, int64)) *outputWatcher {
	w := &outputWatcher{onOutput: onOutput, queue: make(chan watchItem, watchBuffers+1),
		free: make(chan []byte, watchBuffers), done: make(chan struct{})}
	go w.watch()
	return w
}

// offer copies p into the buffers for the watcher, or drops it when no
// buffer is free. It never waits.
func (w *outputWatcher) offer(p []byte) {
	for len(p) > 0 {
		if w.fill == nil && !w.take() {
			w.gap += int64(len(p))
			w.gapCut = p[len(p)-1] != '\n'
			return
		}
		n := copy(w.fill[len(w.fill):cap(w.fill)], p)
		w.fill, p = w.fill[:len(w.fill)+n], p[n:]
		if len(w.fill) == cap(w.fill) {
			w.send()
		}
	}
}

// room returns where the next read can go in the buffer being filled (up
// to readSize bytes), or nil when no buffer is free.
func (w *outputWatcher) room() []byte {
	if w.fill != nil && w.short() {
		w.send()
	}
	if w.fill == nil && !w.take() {
		return nil
	}
	return w.fill[len(w.fill):min(cap(w.fill), len(w.fill)+readSize)]
}

// took counts n bytes read into room.
func (w *outputWatcher) took(n int) {
	w.fill = w.fill[:len(w.fill)+n]
	if w.short() {
		w.send()
	}
}

// short says that the buffer being filled has too little room left for a
// read worth making: it goes to the watcher.
func (w *outputWatcher) short() bool {
	return cap(w.fill)-len(w.fill) < min(readSize, cap(w.fill)/4)
}

// take gets a buffer to fill, a free one or a new one while there are
// fewer than watchBuffers; false when none is to be had.
func (w *outputWatcher) take() bool {
	select {
	case w.fill = <-w.free:
	default:
		if w.made == watchBuffers {
			return false
		}
		w.fill = make([]byte, 0, watchBufferSizeOf(w.made))
		w.made++
	}
	w.fill = w.fill[:0]
	return true
}

// send queues the buffer being filled. The queue holds at most one item
// per buffer and the final gap, so this does not block.
func (w *outputWatcher) send() {
	w.queue <- watchItem{data: w.fill, gapBefore: w.gap, cut: w.gap > 0 && w.gapCut}
	w.fill, w.gap = nil, 0
}

// finish tells the watcher of output dropped at the end, and waits until
// it has seen everything.
func (w *outputWatcher) finish() {
	if w.fill != nil {
		w.send()
	}
	if w.gap > 0 {
		w.queue <- watchItem{gapBefore: w.gap}
		w.gap = 0
	}
	close(w.queue)
	<-w.done
}

// watch cuts the queued output into blocks of whole lines for OnOutput.
func (w *outputWatcher) watch() {
	defer close(w.done)
	var carry []byte // the start of a line whose end has not come yet
	var skipped int64
	resync := false // a drop cut a line: skip to its end
	deliver := func(lines []byte) {
		w.onOutput(lines, skipped)
		skipped = 0
	}
	for it := range w.queue {
		p := it.data
		if it.gapBefore > 0 {
			w.unwatched += it.gapBefore + int64(len(carry))
			skipped += it.gapBefore + int64(len(carry))
			carry, resync = carry[:0], it.cut
		}
		if resync {
			i := bytes.IndexByte(p, '\n')
			if i < 0 {
				w.unwatched += int64(len(p))
				skipped += int64(len(p))
				p = nil
			} else {
				w.unwatched += int64(i + 1)
				skipped += int64(i + 1)
				p, resync = p[i+1:], false
			}
		}
		if first := bytes.IndexByte(p, '\n'); first >= 0 && len(carry) > 0 {
			// The line begun in an earlier read ends here: it goes alone,
			// so that the rest is handed on without a copy.
			carry = append(carry, p[:first+1]...)
			deliver(carry)
			carry, p = carry[:0], p[first+1:]
		}
		if last := bytes.LastIndexByte(p, '\n'); last >= 0 {
			deliver(p[:last+1])
			p = p[last+1:]
		}
		carry = append(carry, p...)
		for len(carry) > maxLineBytes {
			piece := append(carry[:maxLineBytes:maxLineBytes], '\n')
			deliver(piece)
			carry = append(carry[:0], carry[maxLineBytes:]...)
		}
		if it.data != nil {
			w.free <- it.data
		}
	}
	if len(carry) > 0 || skipped > 0 {
		deliver(carry)
	}
}

// tailBuffer keeps the last limit bytes written to it. Its memory grows
// with what is written, doubling up to limit, so that a run that prints a
// line does not pay for the megabytes a loud one may keep; once limit
// bytes have come it is a ring of exactly limit bytes.
//
// It is not safe for concurrent use: one goroutine writes (the copying
// one), and String is called once that goroutine is known to be done.
type tailBuffer struct {
	limit int
	// buf holds the bytes in order while len(buf) < limit; once it has
	// limit of them it is a ring, whose oldest byte is at next.
	buf   []byte
	next  int
	total int64 // bytes written in all, kept or not
}

// minTailGrowth is the least a tailBuffer allocates: a few short lines
// should not cost a growth each.
const minTailGrowth = 512

func newTailBuffer(limit int) *tailBuffer { return &tailBuffer{limit: max(limit, 0)} }

func (t *tailBuffer) Write(p []byte) (int, error) {
	n := len(p)
	t.total += int64(n)
	if n >= t.limit {
		// Only p's end stays: the ring starts over with it.
		if cap(t.buf) < t.limit {
			t.buf = make([]byte, t.limit)
		}
		t.buf = t.buf[:t.limit]
		copy(t.buf, p[n-t.limit:])
		t.next = 0
		return n, nil
	}
	if len(t.buf) < t.limit {
		take := min(len(p), t.limit-len(t.buf))
		t.grow(len(t.buf) + take)
		t.buf = append(t.buf, p[:take]...)
		p = p[take:] // what does not fit goes round the ring, from its start
	}
	copied := copy(t.buf[t.next:], p)
	copy(t.buf, p[copied:])
	if t.limit > 0 {
		t.next = (t.next + len(p)) % t.limit
	}
	return n, nil
}

// grow makes room for need bytes, doubling at least, never past limit.
func (t *tailBuffer) grow(need int) {
	if need <= cap(t.buf) {
		return
	}
	size := min(max(need, 2*cap(t.buf), minTailGrowth), t.limit)
	grown := make([]byte, len(t.buf), size)
	copy(grown, t.buf)
	t.buf = grown
}

// dropped is how many bytes written are no longer kept.
func (t *tailBuffer) dropped() int64 { return t.total - int64(len(t.buf)) }

// String returns the kept bytes in order. When earlier output was dropped,
// a UTF-8 sequence cut at the start is dropped too, so that the tail shows
// no broken character.
func (t *tailBuffer) String() string {
	older, newer := t.kept()
	var kept strings.Builder
	kept.Grow(len(older) + len(newer))
	kept.Write(older)
	kept.Write(newer)
	return kept.String()
}

// kept returns what String does, in the ring's two parts, oldest first,
// without copying them.
func (t *tailBuffer) kept() (older, newer []byte) {
	older, newer = t.buf[t.next:], t.buf[:t.next]
	if t.dropped() > 0 {
		for i := 0; i < utf8.UTFMax-1; i++ {
			if len(older) == 0 {
				older, newer = newer, nil
			}
			if len(older) == 0 || utf8.RuneStart(older[0]) {
				break
			}
			older = older[1:]
		}
	}
	return older, newer
}
