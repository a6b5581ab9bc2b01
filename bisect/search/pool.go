package search

// commitFlags are the object flags of git's revision walk that the search
// needs (revision.h and bisect.c).
type commitFlags uint16

const (
	flagUninteresting commitFlags = 1 << iota // UNINTERESTING
	flagBottom                                // BOTTOM: a negative commit named on the command line
	flagSeen                                  // SEEN
	flagAdded                                 // ADDED: its parents have been processed
	flagTreesame                              // TREESAME
	flagQueued                                // in the walk's date-ordered list
)

// commit is git's struct commit as far as the search is concerned. Like
// git's, it is "parsed" only once somebody has needed its parents, and
// only parsed commits carry marks on to their parents. That matters: the
// revision walk stops early (see limit_list), and how far an
// UNINTERESTING mark has spread by then depends on what was parsed.
type commit struct {
	id     Hash
	parsed bool
	date   int64
	// pathKey is read from the graph the first time the walk compares the
	// commit (see pool.pathKey); hasPathKey says it has been.
	pathKey    Hash
	hasPathKey bool
	// parents as git holds them: in commit order, but cut down to the one
	// TREESAME parent when path limiting simplifies a merge
	// (try_to_simplify_commit), which git keeps for the rest of the process.
	parents []*commit

	flags commitFlags
	// listIndex is the position in the bisection list, or -1.
	listIndex int
}

// pool is the object store of one git process: every commit looked up so
// far, whether it has been parsed, and its (possibly simplified) parents.
// Flags are per walk and cleared between walks.
type pool struct {
	graph Graph
	// pathKeys is graph as a PathKeyer, or nil when it is not one.
	pathKeys PathKeyer
	commits  map[Hash]*commit
}

func newPool(g Graph) *pool {
	pk, _ := g.(PathKeyer)
	return &pool{graph: g, pathKeys: pk, commits: make(map[Hash]*commit)}
}

// lookup returns the commit object for h without parsing it
// (lookup_commit).
func (p *pool) lookup(h Hash) *commit {
	c := p.commits[h]
	if c == nil {
		c = &commit{id: h, listIndex: -1}
		p.commits[h] = c
	}
	return c
}

// parse reads the commit from the graph once (repo_parse_commit).
func (p *pool) parse(c *commit) error {
	if c.parsed {
		return nil
	}
	n, err := p.graph.Node(c.id)
	if err != nil {
		return err
	}
	c.parsed = true
	c.date = n.CommitTime
	c.parents = make([]*commit, len(n.Parents))
	for i, h := range n.Parents {
		c.parents[i] = p.lookup(h)
	}
	return nil
}

// pathKey returns the commit's path key, asking the graph once. The walk
// asks only for the commits it compares (try_to_simplify_commit), which is
// what keeps path limiting cheap on a large repository: git compares trees
// only there too.
func (p *pool) pathKey(c *commit) (Hash, error) {
	if c.hasPathKey {
		return c.pathKey, nil
	}
	if p.pathKeys == nil {
		return Hash{}, errNoPathKeys
	}
	k, err := p.pathKeys.PathKey(c.id)
	if err != nil {
		return Hash{}, err
	}
	c.pathKey, c.hasPathKey = k, true
	return k, nil
}

// clearFlags forgets every walk's marks (repo_clear_commit_marks), keeping
// what was parsed.
func (p *pool) clearFlags() {
	for _, c := range p.commits {
		c.flags = 0
		c.listIndex = -1
	}
}

// dateQueue is git's list of commits ordered by committer date, newest
// first, where a commit goes after all those with the same date
// (commit_list_insert_by_date, and prio_queue with its insertion counter).
// A binary heap keyed on (date descending, insertion order) pops in exactly
// that order.
type dateQueue struct {
	items []queued
	seq   uint64
}

type queued struct {
	c   *commit
	seq uint64
}

func (q *dateQueue) len() int { return len(q.items) }

func (q *dateQueue) before(i, j int) bool {
	a, b := q.items[i], q.items[j]
	if a.c.date != b.c.date {
		return a.c.date > b.c.date
	}
	return a.seq < b.seq
}

func (q *dateQueue) push(c *commit) {
	q.items = append(q.items, queued{c: c, seq: q.seq})
	q.seq++
	for i := len(q.items) - 1; i > 0; {
		parent := (i - 1) / 2
		if !q.before(i, parent) {
			break
		}
		q.items[i], q.items[parent] = q.items[parent], q.items[i]
		i = parent
	}
}

func (q *dateQueue) peek() *commit { return q.items[0].c }

func (q *dateQueue) pop() *commit {
	top := q.items[0].c
	last := len(q.items) - 1
	q.items[0] = q.items[last]
	q.items = q.items[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < last && q.before(l, m) {
			m = l
		}
		if r < last && q.before(r, m) {
			m = r
		}
		if m == i {
			break
		}
		q.items[i], q.items[m] = q.items[m], q.items[i]
		i = m
	}
	return top
}
