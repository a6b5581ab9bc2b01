package repograph

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/sxbisect/sxbisect/bisect/search"
)

// ShallowError reports a commit that a shallow clone lacks, as when the
// walk reaches a parent of one of the clone's shallow commits: history
// beyond the boundary was needed. It unwraps to a
// *search.MissingCommitError.
type ShallowError struct{ Hash search.Hash }

func (e *ShallowError) Error() string {
	return "shallow clone lacks history (commit " + e.Hash.String() + " is beyond it): run git fetch --unshallow"
}

// Unwrap lets errors.As find the search's own error for a missing commit.
func (e *ShallowError) Unwrap() error { return &search.MissingCommitError{Hash: e.Hash} }

// NotCommitError reports an object id that names something other than a
// commit where a commit is needed.
type NotCommitError struct {
	Hash search.Hash
	Type plumbing.ObjectType
}

func (e *NotCommitError) Error() string {
	return "object " + e.Hash.String() + " is a " + e.Type.String() + ", not a commit"
}

// commit returns what the graph needs of commit h, from the commit-graph
// when it covers h and from the commit object otherwise. Commits read from
// objects are kept, as decoding them is what costs; those of the
// commit-graph are read again from the mapped file, which is about as fast
// as a map lookup and keeps nothing on the heap. The caller holds r.mu.
func (r *Repo) commit(h search.Hash) (commitRecord, error) {
	if r.graph != nil {
		if pos, ok := r.graph.find(h); ok {
			c, err := r.graph.record(pos)
			if err != nil {
				return commitRecord{}, fmt.Errorf("commit-graph entry for %s: %w", h, err)
			}
			return c, nil
		}
	}
	if c, ok := r.commits[h]; ok {
		return c, nil
	}
	c, err := r.readCommit(h)
	if err != nil {
		return commitRecord{}, err
	}
	r.commits[h] = c
	return c, nil
}

// readCommit decodes a commit object.
func (r *Repo) readCommit(h search.Hash) (commitRecord, error) {
	t, data, err := r.readObject(h)
	if err != nil {
		return commitRecord{}, err
	}
	if t != plumbing.CommitObject {
		return commitRecord{}, &NotCommitError{Hash: h, Type: t}
	}
	c, err := parseCommitHeader(data)
	if err != nil {
		return commitRecord{}, fmt.Errorf("commit %s: %w", h, err)
	}
	return c, nil
}

// readObject returns an object's type and content, which must not be
// modified (it may be shared with a cache). An absent object gives
// a *ShallowError in a shallow clone, where absence is expected beyond the
// boundary, and a *search.MissingCommitError otherwise. The caller holds
// r.mu.
func (r *Repo) readObject(h search.Hash) (plumbing.ObjectType, []byte, error) {
	if r.packs != nil {
		t, data, found, err := r.packs.read(h)
		if err != nil || found {
			return t, data, err
		}
	}
	// Loose objects, alternates, packs made after Open, and everything
	// where packs could not be mapped.
	obj, err := r.storage.EncodedObject(plumbing.AnyObject, h)
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		if r.IsShallow() {
			return plumbing.InvalidObject, nil, &ShallowError{Hash: h}
		}
		return plumbing.InvalidObject, nil, &search.MissingCommitError{Hash: h}
	}
	if err != nil {
		return plumbing.InvalidObject, nil, fmt.Errorf("reading object %s: %w", h, err)
	}
	rd, err := obj.Reader()
	if err != nil {
		return plumbing.InvalidObject, nil, fmt.Errorf("reading object %s: %w", h, err)
	}
	defer rd.Close()
	data := make([]byte, obj.Size())
	if _, err := io.ReadFull(rd, data); err != nil {
		return plumbing.InvalidObject, nil, fmt.Errorf("reading object %s: %w", h, err)
	}
	return obj.Type(), data, nil
}

// parseCommitHeader reads the tree, parents and committer date of a raw
// commit; go-git's full decoder would also copy out the message and
// signature, which the graph never needs.
func parseCommitHeader(data []byte) (commitRecord, error) {
	var c commitRecord
	haveTree, haveCommitter := false, false
	for len(data) > 0 {
		line := data
		if nl := bytes.IndexByte(data, '\n'); nl >= 0 {
			line, data = data[:nl], data[nl+1:]
		} else {
			data = nil
		}
		if len(line) == 0 {
			break // end of the header
		}
		key, value, _ := bytes.Cut(line, []byte(" "))
		switch string(key) {
		case "tree":
			h, ok := parseFullHash(string(value))
			if !ok {
				return commitRecord{}, fmt.Errorf("malformed tree line %q", line)
			}
			c.tree, haveTree = h, true
		case "parent":
			h, ok := parseFullHash(string(value))
			if !ok {
				return commitRecord{}, fmt.Errorf("malformed parent line %q", line)
			}
			c.parents = append(c.parents, h)
		case "committer":
			t, err := signatureTime(value)
			if err != nil {
				return commitRecord{}, fmt.Errorf("committer line %q: %w", line, err)
			}
			c.commitTime, haveCommitter = t, true
		}
	}
	if !haveTree || !haveCommitter {
		return commitRecord{}, errors.New("malformed commit: no tree or committer")
	}
	return c, nil
}

// signatureTime reads the seconds from "Name <email> 1234567890 +0000".
func signatureTime(sig []byte) (int64, error) {
	gt := bytes.LastIndexByte(sig, '>')
	if gt < 0 {
		return 0, errors.New("no email")
	}
	fields := bytes.Fields(sig[gt+1:])
	if len(fields) == 0 {
		return 0, errors.New("no date")
	}
	return strconv.ParseInt(string(fields[0]), 10, 64)
}

func parseFullHash(s string) (search.Hash, bool) {
	var h search.Hash
	if len(s) != 2*len(h) {
		return h, false
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, false
	}
	return h, true
}

// treeEntry is one entry of a tree object.
type treeEntry struct {
	name string
	mode uint32
	hash search.Hash
}

const (
	modeTypeMask  = 0o170000
	modeDir       = 0o040000
	modeRegular   = 0o100000
	modeSubmodule = 0o160000
)

func (e treeEntry) isDir() bool { return e.mode&modeTypeMask == modeDir }

// readTree decodes a tree object. The caller holds r.mu.
func (r *Repo) readTree(h search.Hash) ([]treeEntry, error) {
	t, data, err := r.readObject(h)
	if err != nil {
		return nil, err
	}
	if t != plumbing.TreeObject {
		return nil, fmt.Errorf("object %s is a %s, not a tree", h, t)
	}
	return parseTree(h, data)
}

// findTreeEntry looks for name in tree h without decoding the other
// entries, which is most of the cost for large trees read once each.
func (r *Repo) findTreeEntry(h search.Hash, name string) (treeEntry, bool, error) {
	t, data, err := r.readObject(h)
	if err != nil {
		return treeEntry{}, false, err
	}
	if t != plumbing.TreeObject {
		return treeEntry{}, false, fmt.Errorf("object %s is a %s, not a tree", h, t)
	}
	for len(data) > 0 {
		sp := bytes.IndexByte(data, ' ')
		if sp < 0 {
			break
		}
		nul := bytes.IndexByte(data[sp:], 0) + sp
		if nul < sp || len(data) < nul+1+hashSize {
			break
		}
		if string(data[sp+1:nul]) == name {
			mode, err := strconv.ParseUint(string(data[:sp]), 8, 32)
			if err != nil {
				break
			}
			e := treeEntry{name: name, mode: canonicalMode(uint32(mode))}
			copy(e.hash[:], data[nul+1:])
			return e, true, nil
		}
		data = data[nul+1+hashSize:]
	}
	if len(data) > 0 {
		return treeEntry{}, false, fmt.Errorf("malformed tree %s", h)
	}
	return treeEntry{}, false, nil
}

// parseTree decodes the entries of a raw tree: "<octal mode> <name>\0" and
// the entry's 20-byte object id, repeated. Modes are canonicalised as git
// compares them, so that a file's 100664 equals 100644.
func parseTree(h search.Hash, data []byte) ([]treeEntry, error) {
	var entries []treeEntry
	for len(data) > 0 {
		sp := bytes.IndexByte(data, ' ')
		nul := bytes.IndexByte(data, 0)
		if sp < 0 || nul < sp || len(data) < nul+1+len(search.Hash{}) {
			return nil, fmt.Errorf("malformed tree %s", h)
		}
		mode, err := strconv.ParseUint(string(data[:sp]), 8, 32)
		if err != nil {
			return nil, fmt.Errorf("malformed tree %s: mode %q", h, data[:sp])
		}
		e := treeEntry{name: string(data[sp+1 : nul]), mode: canonicalMode(uint32(mode))}
		copy(e.hash[:], data[nul+1:])
		entries = append(entries, e)
		data = data[nul+1+len(e.hash):]
	}
	return entries, nil
}

func canonicalMode(mode uint32) uint32 {
	if mode&modeTypeMask == modeRegular {
		if mode&0o111 != 0 {
			return 0o100755
		}
		return 0o100644
	}
	return mode
}
