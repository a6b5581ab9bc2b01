package worktree

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/sxbisect/sxbisect/internal/gitcmd"
)

// CommonDir is the repository's common git directory, where sxbisect
// keeps what its sessions share.
func (p *Pool) CommonDir() string { return p.commonDir }

// ObjectIDs returns, for each of commits in the order given, the git
// object ids of paths at that commit, in the order given: a directory's
// tree id, a file's blob id, a submodule's commit id, and "" where the
// commit has no such path. With no paths, it returns the id of each
// commit's whole tree.
//
// However many commits there are, it runs one git process (git cat-file),
// which reads only the commits and the trees that hold the paths, as git
// ls-tree would: never a file's content, which a partial clone may not
// have and would fetch, and never a submodule's commit, which is in
// another repository (so cat-file is asked for the directory above each
// path, and the path's entry is read from that tree). A commit the
// repository does not have is an error.
//
// The paths are relative to the top of the repository, clean, and without
// newlines.
func (w *Worktree) ObjectIDs(ctx context.Context, commits []string, paths []string) ([][]string, error) {
	return objectIDs(ctx, w.pool.git.Runner, w.pool.commonDir, commits, paths)
}

func objectIDs(ctx context.Context, git gitcmd.Runner, dir string, commits []string, paths []string) ([][]string, error) {
	if len(commits) == 0 {
		return nil, nil
	}
	// The trees to read at each commit: the whole tree first, which also
	// says whether the commit is there, then each distinct directory
	// that holds a path.
	parents := []string{"."}
	where := make([]int, len(paths)) // paths[i] is in parents[where[i]]
	for i, p := range paths {
		d := path.Dir(p)
		k := slices.Index(parents, d)
		if k < 0 {
			k = len(parents)
			parents = append(parents, d)
		}
		where[i] = k
	}
	var req strings.Builder
	for _, c := range commits {
		for _, d := range parents {
			req.WriteString(treeRev(c, d))
			req.WriteByte('\n')
		}
	}
	format := "--batch"
	if len(paths) == 0 {
		format = "--batch-check=%(objectname)"
	}
	out, err := git.Exec(ctx, gitcmd.Options{Dir: dir, Stdin: strings.NewReader(req.String())}, "cat-file", format)
	if err != nil {
		return nil, err
	}
	// Exec drops the last newline; every record ends with one.
	r := &batchReader{out: []byte(out + "\n"), contents: len(paths) > 0}
	ids := make([][]string, len(commits))
	for i, c := range commits {
		trees := make([]tree, len(parents))
		for k, d := range parents {
			rev := treeRev(c, d)
			if trees[k], err = r.next(rev); err != nil {
				return nil, err
			}
		}
		if trees[0].id == "" || trees[0].kind != "tree" {
			return nil, fmt.Errorf("git cat-file: %s is not a commit of the repository", c)
		}
		if len(paths) == 0 {
			ids[i] = []string{trees[0].id}
			continue
		}
		ids[i] = make([]string, len(paths))
		for j, p := range paths {
			if t := trees[where[j]]; t.kind == "tree" {
				if ids[i][j], err = t.entry(path.Base(p)); err != nil {
					return nil, fmt.Errorf("git cat-file %s: %w", treeRev(c, parents[where[j]]), err)
				}
			}
		}
	}
	if len(r.out) != 0 {
		return nil, fmt.Errorf("git cat-file: %d bytes more than asked for", len(r.out))
	}
	return ids, nil
}

// treeRev names the tree of directory d at commit c for git cat-file.
func treeRev(c, d string) string {
	if d == "." {
		return c + "^{tree}"
	}
	return c + ":" + d
}

// tree is one object git cat-file --batch gave: id "" when there is none
// of that name; contents only with --batch and a tree.
type tree struct {
	id, kind string
	contents []byte
}

// entry returns the object id of name in the tree, or "" when it has no
// such entry. An entry is <mode> SP <name> NUL <binary id>, the id as long
// as the tree's own.
func (t tree) entry(name string) (string, error) {
	size := len(t.id) / 2
	b := t.contents
	for len(b) > 0 {
		sp := bytes.IndexByte(b, ' ')
		nul := bytes.IndexByte(b, 0)
		if sp < 0 || nul < sp || len(b) < nul+1+size {
			return "", fmt.Errorf("tree %s cannot be read", t.id)
		}
		if string(b[sp+1:nul]) == name {
			return hex.EncodeToString(b[nul+1 : nul+1+size]), nil
		}
		b = b[nul+1+size:]
	}
	return "", nil
}

// batchReader reads git cat-file's answers, one per name asked: with
// --batch "<id> <type> <size>\n<contents>\n", with
// --batch-check=%(objectname) "<id>\n", and "<name> missing\n" for a name
// that names nothing.
type batchReader struct {
	out      []byte
	contents bool
}

func (r *batchReader) next(name string) (tree, error) {
	line, rest, ok := bytes.Cut(r.out, []byte("\n"))
	if !ok {
		return tree{}, fmt.Errorf("git cat-file: no answer for %s", name)
	}
	r.out = rest
	if string(line) == name+" missing" {
		return tree{}, nil
	}
	if !r.contents {
		return tree{id: string(line), kind: "tree"}, nil
	}
	fields := strings.Fields(string(line))
	if len(fields) != 3 {
		return tree{}, fmt.Errorf("git cat-file: unexpected answer %q for %s", line, name)
	}
	size, err := strconv.Atoi(fields[2])
	if err != nil || size < 0 || len(r.out) < size+1 || r.out[size] != '\n' {
		return tree{}, fmt.Errorf("git cat-file: answer %q for %s is cut short", line, name)
	}
	t := tree{id: fields[0], kind: fields[1], contents: r.out[:size]}
	r.out = r.out[size+1:]
	return t, nil
}
