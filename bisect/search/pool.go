package search

import (
	"encoding/binary"
	"unsafe"
)

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
	flags  commitFlags
	// listIndex is the position in the bisection list, or -1.
	listIndex int32
	// nParents and firstParent are the parents (see parents): a pointer
	// and a count rather than a slice, whose capacity the search never
	// needs, so that the struct fits 48 bytes instead of 64.
	nParents    uint32
	date        int64
	firstParent **commit
}

// parents returns the parents as git holds them: in commit order, but cut
// down to the one TREESAME parent when path limiting simplifies a merge
// (try_to_simplify_commit), which git keeps for the rest of the process.
// The list must not be appended to.
func (c *commit) parents() []*commit {
	return unsafe.Slice(c.firstParent, c.nParents)
}

// setParents makes list the commit's parents; it must stay unchanged
// while it is.
func (c *commit) setParents(list []*commit) {
	if len(list) == 0 {
		c.firstParent, c.nParents = nil, 0
		return
	}
	c.firstParent, c.nParents = unsafe.SliceData(list), uint32(len(list))
}

// A pool holds a commit for every commit the walk meets, which is the whole
// history in a bisection of all of it, so the fields above are ordered to
// fit 48 bytes, and commits and their parent lists are carved out of
// larger blocks rather than allocated one by one.
const (
	commitBlock = 1024
	parentBlock = 4096
)

// pool is the object store of one git process: every commit looked up so
// far, whether it has been parsed, and its (possibly simplified) parents.
// Flags are per walk and cleared between walks.
type pool struct {
	graph Graph
	// pathKeys is graph as a PathKeyer, or nil when it is not one.
	pathKeys PathKeyer
	commits  commitTable
	// keys holds the path keys read so far (see pathKey); only the
	// commits a path-limited walk compares have one.
	keys map[*commit]Hash
	// freeParents is what is left of the current block of parents.
	freeParents []*commit
}

func newPool(g Graph) *pool {
	pk, _ := g.(PathKeyer)
	return &pool{graph: g, pathKeys: pk, keys: make(map[*commit]Hash)}
}

// lookup returns the commit object for h without parsing it
// (lookup_commit).
func (p *pool) lookup(h Hash) *commit {
	c := p.commits.get(h)
	if c == nil {
		c = p.commits.add(h)
		c.listIndex = -1
	}
	return c
}

// commitTable holds a pool's commits, numbered in the order they were
// added and kept in blocks of commitBlock, and finds them by id as git's
// object hash table does: open addressing over a power-of-two array of
// slots, at most half full, probed from the id's first bytes (object ids
// are uniformly distributed). A slot holds a commit's number plus one, 0
// when it is empty: 4 bytes where a pointer takes 8, so that a million
// commits are found through 8 MB of slots (16 MB with pointers; a Go map
// of ids to pointers took about three times that, and as much again in
// the tables it outgrew).
type commitTable struct {
	blocks [][]commit
	n      int
	slots  []uint32
}

// at returns commit number k.
func (t *commitTable) at(k uint32) *commit {
	return &t.blocks[k/commitBlock][k%commitBlock]
}

func (t *commitTable) get(h Hash) *commit {
	if len(t.slots) == 0 {
		return nil
	}
	mask := uint64(len(t.slots) - 1)
	for i := binary.LittleEndian.Uint64(h[:8]) & mask; ; i = (i + 1) & mask {
		s := t.slots[i]
		if s == 0 {
			return nil
		}
		if c := t.at(s - 1); c.id == h {
			return c
		}
	}
}

// add makes a commit for h, which must not be in the table yet.
func (t *commitTable) add(h Hash) *commit {
	if 2*(t.n+1) > len(t.slots) {
		t.slots = make([]uint32, max(1024, 2*len(t.slots)))
		for k := 0; k < t.n; k++ {
			t.insert(uint32(k))
		}
	}
	if t.n%commitBlock == 0 {
		t.blocks = append(t.blocks, make([]commit, commitBlock))
	}
	k := uint32(t.n)
	t.n++
	c := t.at(k)
	c.id = h
	t.insert(k)
	return c
}

func (t *commitTable) insert(k uint32) {
	mask := uint64(len(t.slots) - 1)
	i := binary.LittleEndian.Uint64(t.at(k).id[:8]) & mask
	for t.slots[i] != 0 {
		i = (i + 1) & mask
	}
	t.slots[i] = k + 1
}

// each calls f for every commit of the table.
func (t *commitTable) each(f func(*commit)) {
	for k := 0; k < t.n; k++ {
		f(t.at(uint32(k)))
	}
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
	parents := p.parentList(len(n.Parents))
	for i, h := range n.Parents {
		parents[i] = p.lookup(h)
	}
	c.setParents(parents)
	return nil
}

// parentList returns room for n parents. The capacity is exactly n, so
// that nothing appended to one list could run into the next.
func (p *pool) parentList(n int) []*commit {
	if n > parentBlock/8 {
		return make([]*commit, n)
	}
	if len(p.freeParents) < n {
		p.freeParents = make([]*commit, parentBlock)
	}
	list := p.freeParents[:n:n]
	p.freeParents = p.freeParents[n:]
	return list
}

// pathKey returns the commit's path key, asking the graph once. The walk
// asks only for the commits it compares (try_to_simplify_commit), which is
// what keeps path limiting cheap on a large repository: git compares trees
// only there too.
func (p *pool) pathKey(c *commit) (Hash, error) {
	if k, ok := p.keys[c]; ok {
		return k, nil
	}
	if p.pathKeys == nil {
		return Hash{}, errNoPathKeys
	}
	k, err := p.pathKeys.PathKey(c.id)
	if err != nil {
		return Hash{}, err
	}
	p.keys[c] = k
	return k, nil
}

// clearFlags forgets every walk's marks (repo_clear_commit_marks), keeping
// what was parsed.
func (p *pool) clearFlags() {
	p.commits.each(func(c *commit) {
		c.flags = 0
		c.listIndex = -1
	})
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
