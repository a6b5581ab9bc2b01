package repograph

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/storer"

	"github.com/sxbisect/sxbisect/bisect/search"
)

// UnknownRevisionError reports a revision that names no commit of the
// repository. Err says why; in a shallow clone it may be a *ShallowError.
type UnknownRevisionError struct {
	Rev string
	Err error
}

func (e *UnknownRevisionError) Error() string {
	return "unknown revision " + e.Rev + ": " + e.Err.Error()
}

func (e *UnknownRevisionError) Unwrap() error { return e.Err }

// Resolve turns a revision into a commit id, as git rev-parse --verify
// REV^{commit} does (which is what git bisect runs on its arguments): a
// full or abbreviated commit id, git describe output, HEAD or @, a branch,
// tag (peeled to its commit) or any ref by full or short name, each
// optionally followed by ~N, ^N and ^{commit} or ^{} suffixes. Names are
// looked up as git does, refs first: refs/NAME, refs/tags/NAME,
// refs/heads/NAME, refs/remotes/NAME, refs/remotes/NAME/HEAD. Ranges,
// reflog (@{...}) and message-search forms are not single commits or are
// not supported. Errors are *UnknownRevisionError.
func (r *Repo) Resolve(rev string) (search.Hash, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h, err := r.resolve(rev)
	if err != nil {
		return search.Hash{}, &UnknownRevisionError{Rev: rev, Err: err}
	}
	return h, nil
}

func (r *Repo) resolve(rev string) (search.Hash, error) {
	switch {
	case rev == "":
		return search.Hash{}, errors.New("empty revision")
	case strings.Contains(rev, ".."):
		return search.Hash{}, errors.New("a range is not a single commit")
	case strings.HasPrefix(rev, "^") || strings.HasPrefix(rev, "~"):
		return search.Hash{}, errors.New("a negated revision is not a single commit")
	case strings.ContainsAny(rev, " \t\n:") || strings.Contains(rev, "@{") || strings.Contains(rev, "^{/"):
		return search.Hash{}, errors.New("this revision syntax is not supported: give a commit id, branch, tag or HEAD, optionally followed by ~N or ^N")
	}
	base, suffix := rev, ""
	if i := strings.IndexAny(rev, "~^"); i >= 0 {
		base, suffix = rev[:i], rev[i:]
	}
	if base == "@" {
		base = "HEAD"
	}
	h, err := r.resolveBase(base)
	if err != nil {
		return search.Hash{}, err
	}
	if h, err = r.peelToCommit(h); err != nil {
		var missing *search.MissingCommitError
		if errors.As(err, &missing) && !r.IsShallow() {
			// The search's message for this guesses at a shallow clone,
			// which this repository is not.
			return search.Hash{}, errors.New("no commit with that id in the repository")
		}
		return search.Hash{}, err
	}
	return r.applySuffix(h, suffix)
}

// resolveBase resolves a revision without suffixes to an object id, in
// git's order (get_oid_basic, then describe output, then abbreviations): a
// full id, a ref, describe output, an abbreviated id.
func (r *Repo) resolveBase(name string) (search.Hash, error) {
	if h, ok := parseFullHash(strings.ToLower(name)); ok {
		return h, nil
	}
	if h, ok, err := r.resolveRef(name); err != nil || ok {
		return h, err
	}
	if abbrev, ok := describedCommit(name); ok {
		if h, err := r.resolveAbbrev(abbrev); err == nil {
			return h, nil
		}
	}
	if isHex(name) && len(name) >= 4 {
		return r.resolveAbbrev(name)
	}
	return search.Hash{}, errors.New("no branch, tag or commit by that name")
}

// describedCommit takes the abbreviated commit id from git describe output
// such as v2.39.0-12-g0123abcd.
func describedCommit(name string) (string, bool) {
	i := strings.LastIndex(name, "-g")
	if i < 0 {
		return "", false
	}
	abbrev := name[i+2:]
	return abbrev, len(abbrev) >= 4 && len(abbrev) <= 40 && isHex(abbrev)
}

func (r *Repo) resolveRef(name string) (search.Hash, bool, error) {
	if strings.ContainsAny(name, "?*[\\") || strings.HasSuffix(name, "/") || strings.HasSuffix(name, ".lock") {
		return search.Hash{}, false, nil
	}
	for _, rule := range plumbing.RefRevParseRules {
		// A bare name is a ref only in git's pseudo-ref shape (HEAD,
		// ORIG_HEAD) or under refs/; anything else would have git
		// directory files such as "config" read as refs.
		if rule == "%s" && !strings.HasPrefix(name, "refs/") && !isPseudoRefName(name) {
			continue
		}
		// Any failure means no ref by this spelling: besides absence,
		// the name may be a directory of refs (heads, remotes/origin).
		ref, err := storer.ResolveReference(r.storage, plumbing.ReferenceName(fmt.Sprintf(rule, name)))
		if err == nil {
			return ref.Hash(), true, nil
		}
	}
	if name == "HEAD" {
		return search.Hash{}, false, errors.New("HEAD names no commit (a new repository without commits?)")
	}
	return search.Hash{}, false, nil
}

func isPseudoRefName(name string) bool {
	for _, c := range name {
		if (c < 'A' || c > 'Z') && c != '_' {
			return false
		}
	}
	return name != ""
}

func isHex(s string) bool {
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return true
}

// resolveAbbrev expands an abbreviated object id. Like git for a commit
// argument, it ignores objects that are not commits or tags of commits, and
// fails only when the abbreviation still names more than one commit.
func (r *Repo) resolveAbbrev(abbrev string) (search.Hash, error) {
	abbrev = strings.ToLower(abbrev)
	candidates, err := r.objectsWithPrefix(abbrev)
	if err != nil {
		return search.Hash{}, err
	}
	var commits []search.Hash
	for _, c := range candidates {
		if !strings.HasPrefix(c.String(), abbrev) {
			continue // the odd last digit differs
		}
		h, err := r.peelToCommit(c)
		if err != nil {
			continue
		}
		if !containsHash(commits, h) {
			commits = append(commits, h)
		}
	}
	switch len(commits) {
	case 0:
		return search.Hash{}, errors.New("no branch, tag or commit by that name")
	case 1:
		return commits[0], nil
	}
	return search.Hash{}, fmt.Errorf("abbreviated commit id is ambiguous (%d commits start with it): give more digits", len(commits))
}

// objectsWithPrefix lists the objects whose ids start with the hex digits
// abbrev (lower case, at least four), packed or loose.
func (r *Repo) objectsWithPrefix(abbrev string) ([]search.Hash, error) {
	if r.packs == nil {
		prefix, err := hex.DecodeString(abbrev[:len(abbrev)&^1])
		if err != nil {
			return nil, err
		}
		return r.storage.HashesWithPrefix(prefix)
	}
	var found []search.Hash
	for _, p := range r.packs.packs {
		found = p.withPrefix(abbrev, found)
	}
	loose, err := os.ReadDir(filepath.Join(r.commonDir, "objects", abbrev[:2]))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	for _, e := range loose {
		if h, ok := parseFullHash(abbrev[:2] + e.Name()); ok && strings.HasPrefix(h.String(), abbrev) {
			found = append(found, h)
		}
	}
	return found, nil
}

func containsHash(hs []search.Hash, h search.Hash) bool {
	for _, x := range hs {
		if x == h {
			return true
		}
	}
	return false
}

// peelToCommit follows annotated tags to the commit they name.
func (r *Repo) peelToCommit(h search.Hash) (search.Hash, error) {
	const maxTagDepth = 32 // tags of tags; git has no limit, loops are impossible by construction
	for range maxTagDepth {
		_, err := r.commit(h)
		var notCommit *NotCommitError
		if !errors.As(err, &notCommit) || notCommit.Type != plumbing.TagObject {
			return h, err
		}
		target, err := r.tagTarget(h)
		if err != nil {
			return search.Hash{}, err
		}
		h = target
	}
	return search.Hash{}, fmt.Errorf("tag %s: more than %d tags of tags", h, maxTagDepth)
}

// tagTarget reads the object an annotated tag names, from its first
// header line, "object <id>".
func (r *Repo) tagTarget(h search.Hash) (search.Hash, error) {
	_, data, err := r.readObject(h)
	if err != nil {
		return search.Hash{}, err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	id, ok := strings.CutPrefix(line, "object ")
	target, valid := parseFullHash(id)
	if !ok || !valid {
		return search.Hash{}, fmt.Errorf("malformed tag %s", h)
	}
	return target, nil
}

// applySuffix applies the ~N, ^N and ^{...} operators after the base name.
func (r *Repo) applySuffix(h search.Hash, suffix string) (search.Hash, error) {
	for suffix != "" {
		op := suffix[0]
		suffix = suffix[1:]
		if op == '^' && strings.HasPrefix(suffix, "{") {
			end := strings.IndexByte(suffix, '}')
			if end < 0 {
				return search.Hash{}, errors.New("unterminated ^{")
			}
			switch peel := suffix[1:end]; peel {
			case "", "commit":
				// Already peeled to a commit.
			default:
				return search.Hash{}, fmt.Errorf("^{%s} does not name a commit", peel)
			}
			suffix = suffix[end+1:]
			continue
		}
		digits := len(suffix) - len(strings.TrimLeft(suffix, "0123456789"))
		n := 1
		if digits > 0 {
			var err error
			if n, err = strconv.Atoi(suffix[:digits]); err != nil {
				return search.Hash{}, fmt.Errorf("bad number %q", suffix[:digits])
			}
			suffix = suffix[digits:]
		}
		var err error
		switch op {
		case '~':
			for range n {
				if h, err = r.parent(h, 1); err != nil {
					return search.Hash{}, err
				}
			}
		case '^':
			if n > 0 {
				if h, err = r.parent(h, n); err != nil {
					return search.Hash{}, err
				}
			}
		}
	}
	// The last step named a parent by id; it must be present too.
	_, err := r.commit(h)
	return h, err
}

// parent is the nth (from 1) parent of commit h.
func (r *Repo) parent(h search.Hash, n int) (search.Hash, error) {
	c, err := r.commit(h)
	if err != nil {
		return search.Hash{}, err
	}
	if n > len(c.parents) {
		if len(c.parents) == 0 {
			return search.Hash{}, fmt.Errorf("commit %s has no parent", h)
		}
		return search.Hash{}, fmt.Errorf("commit %s has no parent %d, only %d", h, n, len(c.parents))
	}
	return c.parents[n-1], nil
}
