// Package journal keeps what a bisection must not lose: an append-only file
// of JSON lines, each made durable with fsync before Append returns, so that
// a kill -9 or a power cut at any moment loses at most the record being
// written. It also writes whole files atomically (temp file, fsync, rename,
// fsync of the directory) and guards a session directory with a lock that
// says who holds it.
//
// A record torn by a crash can only be the last line, and it has no
// newline: Open drops it (and truncates the file back to the last whole
// record) rather than refusing the journal. A line that cannot be parsed
// anywhere else means the file was damaged by something other than a crash,
// and Open reports it with its line number instead of guessing.
package journal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Entry is one record read back from a journal.
type Entry struct {
	// Line is the 1-based line number in the file.
	Line int
	// Type is the record's "type" field.
	Type string
	// Raw is the whole record, to be decoded into the type's struct.
	Raw json.RawMessage
}

// Decode unmarshals the record into v.
func (e Entry) Decode(v any) error {
	if err := json.Unmarshal(e.Raw, v); err != nil {
		return fmt.Errorf("journal line %d (%s): %w", e.Line, e.Type, err)
	}
	return nil
}

// DamagedError reports a journal that holds something other than whole
// records followed by at most one torn last line.
type DamagedError struct {
	Path string
	Line int
	Err  error
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("journal %s is damaged at line %d: %v", e.Path, e.Line, e.Err)
}

func (e *DamagedError) Unwrap() error { return e.Err }

// Journal is an open journal file, positioned for appending.
type Journal struct {
	f    *os.File
	path string
	size int64
}

// Read returns the records of the journal at path without opening it for
// writing; a missing file has no records. A torn last line is ignored. A
// damaged file gives a *DamagedError together with the records before the
// damage, for whoever can make use of them.
func Read(path string) ([]Entry, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	entries, _, err := parse(path, data)
	return entries, err
}

// Open opens or creates the journal at path and returns the records it
// already holds. A torn last line, left by a crash in the middle of an
// Append, is cut off so that the next record starts on a line of its own.
func Open(path string) (*Journal, []Entry, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, nil, err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	entries, whole, err := parse(path, data)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if whole < int64(len(data)) {
		if err := f.Truncate(whole); err != nil {
			f.Close()
			return nil, nil, err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, nil, err
		}
	}
	if _, err := f.Seek(whole, io.SeekStart); err != nil {
		f.Close()
		return nil, nil, err
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		f.Close()
		return nil, nil, err
	}
	return &Journal{f: f, path: path, size: whole}, entries, nil
}

// parse splits data into records and returns the length of the prefix made
// of whole lines.
func parse(path string, data []byte) ([]Entry, int64, error) {
	var entries []Entry
	var offset int64
	line := 0
	for len(data) > 0 {
		nl := bytes.IndexByte(data, '\n')
		if nl < 0 {
			// A torn last record: the crash came before its newline.
			break
		}
		line++
		text := data[:nl]
		data = data[nl+1:]
		offset += int64(nl + 1)
		if len(bytes.TrimSpace(text)) == 0 {
			continue
		}
		var head struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(text, &head); err != nil {
			return entries, 0, &DamagedError{Path: path, Line: line, Err: err}
		}
		if head.Type == "" {
			return entries, 0, &DamagedError{Path: path, Line: line, Err: errors.New(`record has no "type"`)}
		}
		entries = append(entries, Entry{Line: line, Type: head.Type, Raw: append(json.RawMessage(nil), text...)})
	}
	return entries, offset, nil
}

// Append writes v (which must marshal to a JSON object with a "type" field)
// as one line and returns once it is on disk. When the write or the fsync
// fails (a full disk, say), the file is cut back to where it was, so that
// the journal never keeps half a record that a later Append would bury.
func (j *Journal) Append(v any) error { return j.append(v, true) }

// AppendUnsynced writes v as Append does, but returns once the kernel has
// it, without waiting for the disk: for records that matter only until
// the machine restarts (the processes a run started, which a kill -9 of
// sxbisect leaves running and a reboot does not). A kill -9 cannot lose
// it; the next Append's fsync puts it on disk with its own record.
func (j *Journal) AppendUnsynced(v any) error { return j.append(v, false) }

func (j *Journal) append(v any, sync bool) error {
	line, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if bytes.IndexByte(line, '\n') >= 0 {
		return errors.New("journal record contains a newline")
	}
	line = append(line, '\n')
	if _, err := j.f.Write(line); err != nil {
		j.rollback()
		return fmt.Errorf("writing journal %s: %w", j.path, err)
	}
	if sync {
		if err := j.f.Sync(); err != nil {
			j.rollback()
			return fmt.Errorf("syncing journal %s: %w", j.path, err)
		}
	}
	j.size += int64(len(line))
	return nil
}

func (j *Journal) rollback() {
	_ = j.f.Truncate(j.size)
	_, _ = j.f.Seek(j.size, io.SeekStart)
}

// Path is the journal's file name.
func (j *Journal) Path() string { return j.path }

// Close closes the file.
func (j *Journal) Close() error { return j.f.Close() }

// WriteFileAtomic replaces path with data so that a reader, or the file
// after a crash, sees either the old content or the new, never a mix.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	cleanup := func() { tmp.Close(); os.Remove(tmp.Name()) }
	if _, err := tmp.Write(data); err != nil {
		cleanup()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Chmod(perm); err != nil {
		cleanup()
		return err
	}
	if err := tmp.Sync(); err != nil {
		cleanup()
		return fmt.Errorf("syncing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return syncDir(dir)
}

// syncDir makes a directory's entries (a new or renamed file) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
