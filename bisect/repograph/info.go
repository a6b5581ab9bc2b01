package repograph

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/sxbisect/sxbisect/bisect/search"
)

// CommitInfo describes a commit for people, as git log shows it.
type CommitInfo struct {
	Hash    search.Hash
	Parents []search.Hash
	// Subject is the first paragraph of the message joined into one line,
	// as git's %s.
	Subject string
	// Author is "Name <email>", as git's "%an <%ae>".
	Author         string
	AuthorName     string
	AuthorEmail    string
	AuthorDate     time.Time
	CommitterName  string
	CommitterEmail string
	CommitDate     time.Time
}

// Info reads the commit h in full.
func (r *Repo) Info(h search.Hash) (CommitInfo, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, data, err := r.readObject(h)
	if err != nil {
		return CommitInfo{}, err
	}
	if t != plumbing.CommitObject {
		return CommitInfo{}, &NotCommitError{Hash: h, Type: t}
	}
	obj := &plumbing.MemoryObject{}
	obj.SetType(t)
	if _, err := obj.Write(data); err != nil {
		return CommitInfo{}, err
	}
	c, err := object.DecodeCommit(r.storage, obj)
	if err != nil {
		return CommitInfo{}, fmt.Errorf("commit %s: %w", h, err)
	}
	return CommitInfo{
		Hash:           h,
		Parents:        c.ParentHashes,
		Subject:        subject(c.Message),
		Author:         c.Author.Name + " <" + c.Author.Email + ">",
		AuthorName:     c.Author.Name,
		AuthorEmail:    c.Author.Email,
		AuthorDate:     c.Author.When,
		CommitterName:  c.Committer.Name,
		CommitterEmail: c.Committer.Email,
		CommitDate:     c.Committer.When,
	}, nil
}

// subject is the message's first paragraph with its lines joined by
// spaces, which is how git turns a message into a subject line.
func subject(message string) string {
	message = strings.TrimLeft(message, "\n")
	paragraph, _, _ := strings.Cut(message, "\n\n")
	return strings.Join(strings.Fields(strings.ReplaceAll(paragraph, "\n", " ")), " ")
}

// ChangedFiles lists, sorted, the paths of the files (and submodules) that
// commit h adds, deletes or modifies (content or mode) relative to its
// first parent, or all of its files for a root commit. Renames are not
// detected: a rename lists both the old and the new path.
func (r *Repo) ChangedFiles(h search.Hash) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.commit(h)
	if err != nil {
		return nil, err
	}
	var parentTree search.Hash
	if len(c.parents) > 0 {
		p, err := r.commit(c.parents[0])
		if err != nil {
			return nil, err
		}
		parentTree = p.tree
	}
	var changed []string
	if err := r.diffTrees("", parentTree, c.tree, &changed); err != nil {
		return nil, fmt.Errorf("commit %s: %w", h, err)
	}
	slices.Sort(changed)
	return changed, nil
}

// diffTrees appends to out the paths of non-tree entries that differ
// between trees a and b; the zero hash stands for an empty tree. Subtrees
// with equal ids are skipped without being read.
func (r *Repo) diffTrees(prefix string, a, b search.Hash, out *[]string) error {
	if a == b {
		return nil
	}
	byName := make(map[string]*[2]treeEntry)
	var names []string
	for side, tree := range [2]search.Hash{a, b} {
		if tree.IsZero() {
			continue
		}
		entries, err := r.readTree(tree)
		if err != nil {
			return err
		}
		for _, e := range entries {
			pair := byName[e.name]
			if pair == nil {
				pair = &[2]treeEntry{}
				byName[e.name] = pair
				names = append(names, e.name)
			}
			pair[side] = e
		}
	}
	for _, name := range names {
		x, y := byName[name][0], byName[name][1]
		if x == y {
			continue
		}
		p := prefix + name
		var subA, subB search.Hash
		if x.isDir() {
			subA = x.hash
		}
		if y.isDir() {
			subB = y.hash
		}
		if !subA.IsZero() || !subB.IsZero() {
			if err := r.diffTrees(p+"/", subA, subB, out); err != nil {
				return err
			}
		}
		// A side holding a file (or submodule) at this path changes it.
		if (x.mode != 0 && !x.isDir()) || (y.mode != 0 && !y.isDir()) {
			*out = append(*out, p)
		}
	}
	return nil
}
