package worktree

import (
	"context"
	"fmt"
	"strings"
)

// CommonDir is the repository's common git directory, where sxbisect
// keeps what its sessions share.
func (p *Pool) CommonDir() string { return p.commonDir }

// ObjectIDs returns the git object ids of paths at commit, in the order
// given: a directory's tree id, a file's blob id, a submodule's commit id,
// and "" where the commit has no such path. With no paths, it returns the
// id of the commit's whole tree. Either way it runs one git process,
// reading only the trees on the way to the paths.
//
// The paths are relative to the top of the repository, clean, and none may
// be inside another: git ls-tree, given "a" and "a/b", lists a/b alone.
func (w *Worktree) ObjectIDs(ctx context.Context, commit string, paths []string) ([]string, error) {
	p := w.pool
	if len(paths) == 0 {
		id, err := p.git.run(ctx, p.commonDir, "rev-parse", "--verify", "--end-of-options", commit+"^{tree}")
		if err != nil {
			return nil, err
		}
		return []string{id}, nil
	}
	args := append([]string{"ls-tree", "-z", "--full-tree", commit, "--"}, paths...)
	out, err := p.git.run(ctx, p.commonDir, args...)
	if err != nil {
		return nil, err
	}
	found := map[string]string{}
	for _, rec := range strings.Split(out, "\x00") {
		if rec == "" {
			continue
		}
		// <mode> SP <type> SP <object> TAB <path>
		meta, path, ok := strings.Cut(rec, "\t")
		fields := strings.Fields(meta)
		if !ok || len(fields) != 3 {
			return nil, fmt.Errorf("git ls-tree %s: unexpected line %q", commit, rec)
		}
		found[path] = fields[2]
	}
	ids := make([]string, len(paths))
	for i, path := range paths {
		ids[i] = found[path]
	}
	return ids, nil
}
