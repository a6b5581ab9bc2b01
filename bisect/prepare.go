package bisect

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/sxbisect/sxbisect/bisect/repograph"
	"github.com/sxbisect/sxbisect/bisect/search"
	"github.com/sxbisect/sxbisect/internal/text"
)

// openRange opens the spec's repository, resolves its ends into the spec
// and refuses ranges that cannot be bisected, reading only the commits
// between the ends: with the commit-graph file (see ensureCommitGraph,
// which comes after every check of the input) and the search's first
// answer, all that a new session does before its first test.
func openRange(spec *Spec) (*repograph.Repo, search.Graph, error) {
	repo, err := openRepo(spec.Repo)
	if err != nil {
		return nil, nil, err
	}
	spec.Repo = absOr(spec.Repo)
	if err := resolveEnds(repo, spec); err != nil {
		repo.Close()
		return nil, nil, err
	}
	graph, err := searchGraph(repo, spec.Paths)
	if err != nil {
		repo.Close()
		return nil, nil, &UsageError{Msg: err.Error()}
	}
	if err := checkEnds(graph, *spec); err != nil {
		repo.Close()
		return nil, nil, err
	}
	if repo.IsShallow() {
		if err := checkShallowRange(repo, graph, *spec); err != nil {
			repo.Close()
			return nil, nil, err
		}
	}
	return repo, graph, nil
}

// ensureCommitGraph gives a repository without a commit-graph file one,
// as git's own maintenance would, and says so, unless the spec says not to:
// git reads history through that file, and so does sxbisect, in a fraction
// of the time that decoding commits takes (a few seconds once for 80k
// commits; then every range starts at once). It is only an optimisation: a
// repository that cannot take the file is read from its objects, and the
// session says why. Start calls it once the input has been checked, so
// that bad input changes nothing.
func ensureCommitGraph(ctx context.Context, repo *repograph.Repo, spec Spec, opts Options) {
	say := func(msg string) {
		if opts.Progress != nil {
			opts.Progress.Event(Event{Session: spec.Name, Type: EventNote, Message: msg})
		}
	}
	if spec.NoCommitGraph || repo.HasCommitGraph() {
		return
	}
	info := filepath.Join(repo.CommonDir(), "objects", "info")
	_, err := repo.EnsureCommitGraph(ctx, func() {
		say(fmt.Sprintf("writing a commit-graph file in %s (git commit-graph write --reachable), once, so that history is read fast; "+
			"--no-commit-graph or 'git config gc.writeCommitGraph false' prevents it", info))
	})
	if err != nil && ctx.Err() == nil {
		say(fmt.Sprintf("no commit-graph file could be written (%s): history is read from objects, which is slower", text.OneLine(err.Error())))
	}
}
