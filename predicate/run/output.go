package run

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
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
// and stderr so that their order is kept, into the log file and the tail.
//
// A pipe rather than handing the child the log file itself: the tail then
// comes from memory without a temporary file when there is no log, and
// when Run returns the log is complete and closed, and nothing is still
// writing into it. exec.Cmd.WaitDelay is not used because exec waits for
// the pipe before Run can kill the group, so every run that leaves a
// background job would last the whole delay; with our own pipe the order
// is exit, kill the group, then drain.
type outputCapture struct {
	read  *os.File // ours
	write *os.File // the child's stdout and stderr; closed here once started
	log   *os.File // nil without LogPath
	tail  *tailBuffer

	lines *lineSplitter // nil without Spec.OnOutput

	// logErr is the first failure to write the log; set by the copying
	// goroutine, read after copied is closed.
	logErr error
	copied chan struct{}
}

func newOutputCapture(logPath string, tailBytes int, onLine func(string)) (*outputCapture, error) {
	o := &outputCapture{tail: newTailBuffer(tailBytes), copied: make(chan struct{})}
	if onLine != nil {
		o.lines = &lineSplitter{onLine: onLine}
	}
	if logPath != "" {
		log, err := os.Create(logPath)
		if err != nil {
			return nil, fmt.Errorf("run: log file: %w", err)
		}
		o.log = log
	}
	var err error
	o.read, o.write, err = os.Pipe()
	if err != nil {
		if o.log != nil {
			o.log.Close()
		}
		return nil, fmt.Errorf("run: output pipe: %w", err)
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

func (o *outputCapture) copy() {
	defer close(o.copied)
	if o.lines != nil {
		defer o.lines.flush()
	}
	buf := make([]byte, 32*1024)
	for {
		n, err := o.read.Read(buf)
		if n > 0 {
			o.tail.Write(buf[:n])
			if o.lines != nil {
				o.lines.write(buf[:n])
			}
			if o.log != nil && o.logErr == nil {
				if _, werr := o.log.Write(buf[:n]); werr != nil {
					o.logErr = werr
				}
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

// finish drains what is left in the pipe, within drainTimeout, and closes
// everything. Call it after the process group has been killed.
func (o *outputCapture) finish() {
	// A read deadline needs a pollable pipe, which os.Pipe gives on Linux.
	// Were it refused, the drain would still end at end of file.
	_ = o.read.SetReadDeadline(time.Now().Add(drainTimeout))
	<-o.copied
	o.read.Close()
	if o.log != nil {
		if err := o.log.Close(); err != nil && o.logErr == nil {
			o.logErr = err
		}
	}
}

// abandon closes everything when the process was never started.
func (o *outputCapture) abandon() {
	o.read.Close()
	o.write.Close()
	if o.log != nil {
		o.log.Close()
	}
}

// maxLineBytes bounds the part of a line kept while waiting for its end:
// output without newlines (a progress bar, binary data) must not grow
// without bound. A longer line reaches Spec.OnOutput in pieces.
const maxLineBytes = 64 * 1024

// lineSplitter cuts output into lines for Spec.OnOutput. It is used by the
// copying goroutine alone.
type lineSplitter struct {
	onLine  func(string)
	partial []byte // the start of a line whose end has not come yet
}

func (l *lineSplitter) write(p []byte) {
	for len(p) > 0 {
		end := bytes.IndexByte(p, '\n')
		if end < 0 {
			end = len(p)
		}
		text := p[:end]
		if len(l.partial) == 0 && end < len(p) && end <= maxLineBytes {
			l.onLine(string(text)) // the common case: a whole line at once
		} else {
			for len(l.partial)+len(text) > maxLineBytes {
				n := maxLineBytes - len(l.partial)
				l.partial = append(l.partial, text[:n]...)
				l.onLine(string(l.partial))
				l.partial, text = l.partial[:0], text[n:]
			}
			l.partial = append(l.partial, text...)
			if end == len(p) {
				return
			}
			l.onLine(string(l.partial))
			l.partial = l.partial[:0]
		}
		p = p[end+1:]
	}
}

// flush delivers a last line that did not end with a newline.
func (l *lineSplitter) flush() {
	if len(l.partial) > 0 {
		l.onLine(string(l.partial))
		l.partial = nil
	}
}

// tailBuffer keeps the last len(buf) bytes written to it.
type tailBuffer struct {
	buf   []byte
	next  int  // where the next byte goes
	full  bool // buf has wrapped at least once
	total int64
}

func newTailBuffer(size int) *tailBuffer { return &tailBuffer{buf: make([]byte, size)} }

func (t *tailBuffer) Write(p []byte) (int, error) {
	n := len(p)
	t.total += int64(n)
	if len(p) >= len(t.buf) {
		copy(t.buf, p[len(p)-len(t.buf):])
		t.next, t.full = 0, true
		return n, nil
	}
	copied := copy(t.buf[t.next:], p)
	if copied < len(p) {
		copy(t.buf, p[copied:])
		t.full = true
	}
	t.next = (t.next + len(p)) % len(t.buf)
	if t.next == 0 && len(p) > 0 {
		t.full = true
	}
	return n, nil
}

// String returns the kept bytes in order. When earlier output was dropped,
// a UTF-8 sequence cut at the start is dropped too, so that the tail shows
// no broken character.
func (t *tailBuffer) String() string {
	if !t.full {
		return string(t.buf[:t.next])
	}
	kept := make([]byte, 0, len(t.buf))
	kept = append(kept, t.buf[t.next:]...)
	kept = append(kept, t.buf[:t.next]...)
	if t.total > int64(len(t.buf)) {
		for i := 0; i < utf8.UTFMax-1 && len(kept) > 0 && !utf8.RuneStart(kept[0]); i++ {
			kept = kept[1:]
		}
	}
	return string(kept)
}
