package bisect

import (
	"context"

	"github.com/sxbisect/sxbisect/bisect/repograph"
	"github.com/sxbisect/sxbisect/bisect/search"
)

// openRange opens the spec's repository, resolves its ends into the spec
// and refuses ranges that cannot be bisected: all that a new session does
// before it asks the search for a commit.
func openRange(ctx context.Context, spec *Spec) (*repograph.Repo, search.Graph, error) {
	repo, err := openRepo(spec.Repo)
	if err != nil {
		return nil, nil, err
	}
	spec.Repo = absOr(spec.Repo)
	if err := resolveEnds(repo, spec); err != nil {
		repo.Close()
		return nil, nil, err
	}
	// git reads the commit graph through the commit-graph file; a
	// repository without one gets it now, once (a few seconds for 80k
	// commits, then every range is read in a fraction of a second). It is
	// only an optimisation: a repository that cannot take it still works.
	if !repo.HasCommitGraph() {
		_ = repo.EnsureCommitGraph(ctx)
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
