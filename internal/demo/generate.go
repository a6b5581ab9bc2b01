package demo

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/sxbisect/sxbisect/internal/gitfixture"
)

// state is what one commit holds: the server features switched on, how many
// chunks of each file are present, and whether the build is broken. A
// commit's tree is rendered from its state alone, so a merge only has to
// unite its parents' states.
type state struct {
	features map[string]bool
	have     map[string]int
	broken   string // the server line that lost its semicolon, if any
}

func (s state) clone() state {
	c := state{features: map[string]bool{}, have: map[string]int{}, broken: s.broken}
	for k, v := range s.features {
		c.features[k] = v
	}
	for k, v := range s.have {
		c.have[k] = v
	}
	return c
}

// unite is the state of a merge: everything either side has.
func unite(a, b state) state {
	c := a.clone()
	for k := range b.features {
		c.features[k] = true
	}
	for k, v := range b.have {
		c.have[k] = max(c.have[k], v)
	}
	c.broken = ""
	return c
}

// generator turns a story into commits for gitfixture.Build.
type generator struct {
	src     *source
	commits []gitfixture.Commit
	states  []state
	trees   []map[string]string
	roles   map[role]int
	main    int            // head of the main line
	loops   map[string]int // head of each loop branch
	synced  map[string]int // the main-line commit each loop branch last contained
	merges  int
	clock   int64
	seed    uint64
	// branch is the topic branch of each planted regression, and landing
	// the merge that brought it to the main line; a regression committed
	// on the main line has neither.
	branch  map[role]string
	landing map[role]int
	renders map[string]string
}

func newGenerator(src *source) *generator {
	return &generator{
		src:     src,
		roles:   map[role]int{},
		main:    -1,
		loops:   map[string]int{},
		synced:  map[string]int{},
		clock:   time.Date(2026, 3, 2, 9, 12, 0, 0, time.UTC).Unix(),
		branch:  map[role]string{},
		landing: map[role]int{},
		renders: map[string]string{},
	}
}

// rand is a fixed-seed xorshift, so that every generated demo has the same
// history and the same object ids; wave reseeds it.
func (g *generator) rand(n int) int {
	g.seed ^= g.seed << 13
	g.seed ^= g.seed >> 7
	g.seed ^= g.seed << 17
	return int(g.seed % uint64(n))
}

// tick is the date of the next commit: 20 minutes to 3 hours after the last
// one (the loops commit day and night). Now and then a committer's clock is
// a little behind, and the commit is dated minutes before the one made just
// before it, as happens in real histories.
func (g *generator) tick(merge bool) int64 {
	last := g.clock
	g.clock += int64(20+g.rand(160)) * 60
	if !merge && g.rand(31) == 0 {
		return last - int64(5+g.rand(40))*60
	}
	return g.clock
}

// lane is a branch's part of a wave.
type lane struct {
	branch, about string
	steps         []step
	head          int // -1: not forked yet
	sync          bool
	planted       role // the planted regressions committed on the branch
}

// wave adds the commits of wave number n. The interleaving of its lanes is
// drawn from a seed of its own, so that editing one wave of the story leaves
// the others as they were.
func (g *generator) wave(n int, w wave) error {
	g.seed = 0x5eed5eed5eed ^ uint64(n+1)*0x9e3779b97f4a7c15
	lanes := []*lane{{steps: w.main}}
	var broken *lane // the lane whose last commit broke the build
	for _, t := range w.topics {
		if len(t.steps) == 0 {
			return fmt.Errorf("branch %s has no steps", t.branch)
		}
		l := &lane{branch: t.branch, about: t.about, steps: t.steps, head: -1}
		if h, ok := g.loops[t.branch]; ok && strings.HasPrefix(t.branch, "loops/") {
			l.head, l.sync = h, g.synced[t.branch] != g.main
		}
		lanes = append(lanes, l)
	}
	for {
		// Pick a lane with work left, weighted by how much it has left, so
		// that the branches run side by side and finish at different times.
		total := 0
		for _, l := range lanes {
			total += len(l.steps) + btoi(l.sync)
		}
		if total == 0 {
			return nil
		}
		// A broken build is fixed by the very next commit on its branch, before
		// any merge can spread it.
		l := broken
		if l == nil {
			r := g.rand(total)
			for _, l = range lanes {
				if r -= len(l.steps) + btoi(l.sync); r < 0 {
					break
				}
			}
		}
		broken = nil
		if l.sync {
			i, err := g.emit([]int{l.head, g.main}, unite(g.states[l.head], g.states[g.main]), "merge: architecture → "+l.branch, "")
			if err != nil {
				return err
			}
			l.head, l.sync, g.synced[l.branch] = i, false, g.main
			continue
		}
		s := l.steps[0]
		l.steps = l.steps[1:]
		parent := l.head
		if l.branch == "" || parent < 0 {
			parent = g.main
		}
		if parent < 0 && len(g.commits) > 0 {
			return fmt.Errorf("branch %s forks before the main line exists", l.branch)
		}
		st, err := g.apply(parent, s)
		if err != nil {
			return fmt.Errorf("%q: %w", s.subject, err)
		}
		var parents []int
		if parent >= 0 {
			parents = []int{parent}
		}
		i, err := g.emit(parents, st, s.subject, s.body)
		if err != nil {
			return err
		}
		if s.role&breaksBuild != 0 {
			if len(l.steps) == 0 || l.steps[0].role&fixesBuild == 0 {
				return fmt.Errorf("%q breaks the build and the next step does not fix it", s.subject)
			}
			broken = l
		}
		for _, r := range s.role.each() {
			if _, dup := g.roles[r]; dup {
				return fmt.Errorf("%q: role %#x given twice", s.subject, r)
			}
			g.roles[r] = i
		}
		if l.branch == "" {
			g.main = i
			continue
		}
		l.head = i
		for _, r := range (s.role & planted).each() {
			l.planted |= r
			g.branch[r] = l.branch
		}
		if len(l.steps) > 0 {
			continue
		}
		subject := "merge: " + l.branch + " → architecture"
		if l.about != "" {
			subject += " — " + l.about
		}
		m, err := g.emit([]int{g.main, l.head}, unite(g.states[g.main], g.states[l.head]), subject, "")
		if err != nil {
			return err
		}
		g.main = m
		for _, r := range l.planted.each() {
			g.landing[r] = m
		}
		if strings.HasPrefix(l.branch, "loops/") {
			g.loops[l.branch], g.synced[l.branch] = l.head, m
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// apply is the state after step s on top of commit parent (-1: none).
func (g *generator) apply(parent int, s step) (state, error) {
	st := state{features: map[string]bool{}, have: map[string]int{}}
	if parent >= 0 {
		st = g.states[parent].clone()
	}
	for _, o := range s.ops {
		switch {
		case o.feature != "":
			if !g.src.features[o.feature] {
				return st, fmt.Errorf("no feature %q in the server", o.feature)
			}
			if st.features[o.feature] {
				return st, fmt.Errorf("feature %q is on already", o.feature)
			}
			st.features[o.feature] = true
		case st.have[o.path] != o.from:
			// Each file grows on one branch at a time; this catches a story
			// that grows it on two.
			return st, fmt.Errorf("%s: adds chunks from %d, but the branch has %d", o.path, o.from, st.have[o.path])
		default:
			st.have[o.path] = o.to
		}
	}
	switch {
	case s.role&breaksBuild != 0:
		st.broken = s.breaks
	case s.role&fixesBuild != 0:
		if st.broken == "" {
			return st, fmt.Errorf("fixes a build that is not broken")
		}
		st.broken = ""
	default:
		if st.broken != "" {
			return st, fmt.Errorf("the build is still broken")
		}
	}
	return st, nil
}

// emit appends a commit whose tree is rendered from st.
func (g *generator) emit(parents []int, st state, subject, body string) (int, error) {
	tree, err := g.render(st)
	if err != nil {
		return 0, err
	}
	c := gitfixture.Commit{Parents: parents, Files: map[string]string{}, Exec: map[string]bool{}, Message: subject, Author: authorOf(subject)}
	if body != "" {
		c.Message += "\n\n" + body
	}
	var before map[string]string
	if len(parents) > 0 {
		before = g.trees[parents[0]]
	}
	for p, text := range tree {
		if before[p] != text || before == nil {
			c.Files[p] = text
			c.Exec[p] = strings.HasSuffix(p, ".sh")
		}
	}
	for p := range before {
		if _, ok := tree[p]; !ok {
			c.Delete = append(c.Delete, p)
		}
	}
	sort.Strings(c.Delete)
	if len(parents) < 2 && len(c.Files) == 0 && len(c.Delete) == 0 {
		return 0, fmt.Errorf("%q changes nothing", subject)
	}
	c.Time = g.tick(len(parents) > 1)
	if len(parents) > 1 {
		g.merges++
	}
	g.commits = append(g.commits, c)
	g.states = append(g.states, st)
	g.trees = append(g.trees, tree)
	return len(g.commits) - 1, nil
}

// render is the tree of a state: each present file cut to its chunks, with
// the server's code for features that are off left out.
func (g *generator) render(st state) (map[string]string, error) {
	on := make([]string, 0, len(st.features))
	for f := range st.features {
		on = append(on, f)
	}
	sort.Strings(on)
	tree := map[string]string{}
	for _, p := range g.src.paths {
		n := st.have[p]
		if n == 0 {
			continue
		}
		key := fmt.Sprintf("%s %d %v %q", p, n, on, st.broken)
		if text, ok := g.renders[key]; ok {
			tree[p] = text
			continue
		}
		text, err := strip(strings.Join(g.src.files[p].chunks[:n], ""), st.features)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if p == server && st.broken != "" {
			line := st.broken + "\n"
			if !strings.HasSuffix(st.broken, ";") || !strings.Contains(text, line) {
				return nil, fmt.Errorf("%s: no line %q to break", p, st.broken)
			}
			text = strings.Replace(text, line, strings.TrimSuffix(st.broken, ";")+"\n", 1)
		}
		g.renders[key] = text
		tree[p] = text
	}
	return tree, nil
}

// complete checks that the story told everything: the tip holds every
// chunk of every file and every feature of the server, so the tip's tree is
// the embedded miniature without its markers, and that the roles the Demo
// names were all given.
func (g *generator) complete() error {
	tip := g.states[g.main]
	for _, p := range g.src.paths {
		if n := len(g.src.files[p].chunks); tip.have[p] != n {
			return fmt.Errorf("the tip has %d of %d chunks of %s", tip.have[p], n, p)
		}
	}
	for f := range g.src.features {
		if !tip.features[f] {
			return fmt.Errorf("the tip lacks server feature %q", f)
		}
	}
	for _, r := range allRoles.each() {
		if _, ok := g.roles[r]; !ok {
			return fmt.Errorf("no commit has role %#x", r)
		}
	}
	return nil
}

// authorOf picks the author of a commit from the area its subject names,
// so that a bisection's answer points at a person as it would in the real
// history; merges and everything else are the maintainer's.
func authorOf(subject string) string {
	area, _, _ := strings.Cut(subject, ":")
	switch area {
	case "tcl":
		return "Tomasz Reyes <tomasz@sx.example>"
	case "prolog":
		return "Priya Nair <priya@sx.example>"
	case "erlang":
		return "Erik Lund <erik@sx.example>"
	case "jit":
		return "Mei Lin <mei@sx.example>"
	}
	return "Ada Okafor <ada@sx.example>"
}
