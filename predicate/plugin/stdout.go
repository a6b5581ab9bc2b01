package plugin

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// maxAnswer bounds the last line of a plugin's stdout: the answer is read
// from the end of the file, at most this much of it.
const maxAnswer = 1 << 20

// tailBytes is how much output Measurement.Tail keeps, as package run
// keeps by default.
const tailBytes = 4096

// stdoutEnd is what is read of a plugin's stdout.
type stdoutEnd struct {
	// line is the last line that is not blank, trimmed of white space.
	line string
	// tail is the last tailBytes bytes.
	tail string
	size int64
}

// readEnd reads the end of the stdout file at path. A file that is not
// there (the program never started) reads as empty.
func readEnd(path string) (stdoutEnd, error) {
	var end stdoutEnd
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return end, nil
	}
	if err != nil {
		return end, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return end, err
	}
	end.size = info.Size()
	// One byte more than the longest answer, to see the newline before it.
	window := min(end.size, maxAnswer+1)
	buf := make([]byte, window)
	if _, err := f.ReadAt(buf, end.size-window); err != nil && !errors.Is(err, io.EOF) {
		return end, err
	}
	end.tail = cutFront(buf, tailBytes, window < end.size)
	trimmed := bytes.TrimRight(buf, " \t\r\n")
	start := bytes.LastIndexByte(trimmed, '\n') + 1
	if start == 0 && window < end.size {
		return end, fmt.Errorf("its last line is longer than %d bytes", maxAnswer)
	}
	end.line = string(bytes.TrimSpace(trimmed[start:]))
	return end, nil
}

// cutFront keeps the last n bytes of b. When bytes are dropped (or were
// already, as cut says), a character cut at the start is dropped too.
func cutFront(b []byte, n int, cut bool) string {
	if len(b) > n {
		b, cut = b[len(b)-n:], true
	}
	for i := 0; cut && i < 3 && len(b) > 0 && !isRuneStart(b[0]); i++ {
		b = b[1:]
	}
	return string(b)
}

// joinTail is the tail of a run whose stderr ended with stderr and whose
// stdout ended with stdout: stderr first, so that the answer shows last.
func joinTail(stderr, stdout string) string {
	if stdout == "" {
		return stderr
	}
	if stderr != "" && stderr[len(stderr)-1] != '\n' {
		stderr += "\n"
	}
	joined := stderr + stdout
	return cutFront([]byte(joined), tailBytes, false)
}

// appendStdout adds the plugin's stdout, after a header line, to the log
// that run wrote its stderr to.
func appendStdout(logPath, name, stdoutPath string) error {
	src, err := os.Open(stdoutPath)
	if err != nil {
		return err
	}
	defer src.Close()
	log, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(log, "\n--- stdout of %s%s ---\n", Prefix, name)
	if err == nil {
		_, err = io.Copy(log, src)
	}
	if cerr := log.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("appending the plugin's stdout to the log: %w", err)
	}
	return nil
}
